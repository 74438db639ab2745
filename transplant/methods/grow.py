"""grow: function-preserving growth, then train only what grew (Adila et al. 2026).

1. Evaluate the model on the new and the retention domain (before; the same for every run
   from this model, so cached).
2. Grow: replicate MLP units `copies` times with the scaling correction (the model is
   unchanged), in all layers or a subset; or insert identity blocks (LLaMA-Pro depth growth).
3. Train on the new domain: G-Freeze (only the new copies), G-Train (the grown MLPs), or for
   depth growth only the new blocks.
4. Evaluate again (after): new-domain gain and retention-domain forgetting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any

from omegaconf import DictConfig

from transplant.choice import Choice
from transplant.config import ConfigError, MethodConfig, check
from transplant.methods.common import (
    TRAINED_SPECS,
    evaluate,
    evaluation_specs,
    load,
    reference_evaluation,
)
from transplant.methods.method import Method
from transplant.methods.selection import test_roles, train_at_chosen_rate
from transplant.metrics import Level
from transplant.models.facts import ModelFacts
from transplant.models.layers import decoder_layers, select_layers
from transplant.runs import RunContext
from transplant.training.policies import count_parameters, train_mlps


class GrowKind(Choice):
    mlp = "mlp"  # replicate MLP hidden units
    depth = "depth"  # insert identity blocks (LLaMA-Pro)


class GrowPolicy(Choice):
    freeze = "freeze"  # G-Freeze: only the new copies train
    train = "train"  # G-Train: the grown MLPs train


@dataclass
class GrowConfig:
    """What grows and what trains."""

    kind: GrowKind = GrowKind.mlp
    copies: int = 2
    layers: str = "all"  # all | first:N | last:N | even:N (N may be a fraction) | "0,5,9"
    policy: GrowPolicy = GrowPolicy.freeze
    # G-Train: copies carry shares [1 + a(k-1), -a, ...] of each unit, so that training moves
    # them apart (equal shares would keep them identical under Adam). 0: equal shares.
    asymmetry: float = 0.5


@dataclass
class GrowMethodConfig(MethodConfig):
    name: str = "grow"
    grow: GrowConfig = field(default_factory=GrowConfig)


def check_grow(cfg: DictConfig, facts: ModelFacts) -> None:
    growth = cfg.method.grow
    check(growth.copies >= 2, "method.grow.copies", growth.copies, "an integer >= 2")
    check(growth.asymmetry >= 0, "method.grow.asymmetry", growth.asymmetry, "a number >= 0")
    if growth.kind == GrowKind.mlp and growth.policy == GrowPolicy.freeze:
        # Decoupled weight decay would move the frozen original units.
        check(cfg.method.optim.weight_decay == 0, "method.optim.weight_decay",
              cfg.method.optim.weight_decay, "0 with method.grow.policy=freeze (weight decay "
              "would change the original units, which must stay bit-identical)")
    try:
        select_layers(facts.layers, growth.layers)
    except ValueError as e:
        raise ConfigError(f"method.grow.layers={growth.layers!r} is invalid: {e}") from e


def grow_and_select(model, growth: DictConfig):
    """Grow the model as configured and set what trains; returns it."""
    from transplant.surgery.grow import (
        asymmetric_shares,
        depth_new_positions,
        grow_depth,
        grow_mlp,
        mlp_width,
        train_new_units_only,
    )

    chosen = select_layers(len(decoder_layers(model)), growth.layers)
    if growth.kind == GrowKind.depth:
        grow_depth(model, chosen)
        model.requires_grad_(False)
        for i in depth_new_positions(chosen):
            decoder_layers(model)[i].requires_grad_(True)
        return model
    width = mlp_width(model)
    # G-Freeze trains one copy alone, so it needs no symmetry breaking.
    shares = (asymmetric_shares(growth.copies, growth.asymmetry)
              if growth.policy == GrowPolicy.train else None)
    grow_mlp(model, growth.copies, chosen, shares)
    if growth.policy == GrowPolicy.freeze:
        train_new_units_only(model, chosen, width)
    else:
        train_mlps(model, chosen)
    return model


def trainable_entries(grown, growth: DictConfig, width: int) -> int:
    """The weights that train in a grown model: G-Freeze's new copies (masked rows and
    columns of tensors that also hold the originals, which `width` units were), else whole
    tensors."""
    from transplant.surgery.grow import new_unit_masks

    if growth.kind == GrowKind.mlp and growth.policy == GrowPolicy.freeze:
        chosen = select_layers(len(decoder_layers(grown)), growth.layers)
        return int(sum(m.sum() for m in new_unit_masks(grown, chosen, width).values()))
    return count_parameters(grown)[0]


def run(cfg: DictConfig, ctx: RunContext) -> dict[str, Any]:
    from transplant.surgery.grow import mlp_width

    model, tokenizer = load(cfg, ctx)
    params_before, width = count_parameters(model)[1], mlp_width(model)
    before = {k: v for k, v in reference_evaluation(model, tokenizer, cfg, ctx).items()
              if k.endswith(("_ppl", "_bpb"))}
    trial, chosen = train_at_chosen_rate(partial(grow_and_select, growth=cfg.method.grow),
                                         model, tokenizer, cfg, ctx)
    grown, stats = trial.model, trial.state
    return {"params_trainable": trainable_entries(grown, cfg.method.grow, width),
            "params_total": count_parameters(grown)[1],
            "params_added": count_parameters(grown)[1] - params_before, **before,
            **stats.as_metrics(), **chosen,
            **evaluate(grown, tokenizer, cfg, ctx, roles=test_roles(chosen))}


METHOD = Method("grow", GrowMethodConfig, run, check_grow, chooses_lr=True,
                metrics=(*TRAINED_SPECS, *evaluation_specs("before_", Level.detail)))
