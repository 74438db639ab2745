"""grow: function-preserving growth, then train only what grew (Adila et al. 2026).

1. Evaluate the model on the new and the retention domain (before).
2. Grow: replicate MLP units `copies` times with the scaling correction (the model is
   unchanged), in all layers or a subset; or insert identity blocks (LLaMA-Pro depth growth).
3. Train on the new domain: G-Freeze (only the new copies), G-Train (the grown MLPs), or for
   depth growth only the new blocks.
4. Evaluate again (after): new-domain gain and retention-domain forgetting.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from transplant.methods.common import (
    RunContext,
    evaluate,
    model_spec,
    optim_spec,
    train_stream,
    trainer_spec,
)
from transplant.models.layers import decoder_layers
from transplant.models.loading import load_model
from transplant.surgery.grow import (
    depth_new_positions,
    grow_depth,
    grow_mlp,
    mlp_width,
    new_unit_masks,
    select_layers,
    train_grown_mlps,
    train_new_units_only,
)
from transplant.training.fit import fit
from transplant.training.policies import count_parameters


def grow_and_select(model, g: DictConfig) -> int:
    """Grow the model as configured and set what trains; returns the trainable entry count."""
    chosen = select_layers(len(decoder_layers(model)), g.layers)
    if g.kind == "depth":
        grow_depth(model, chosen)
        model.requires_grad_(False)
        for i in depth_new_positions(chosen):
            decoder_layers(model)[i].requires_grad_(True)
        return count_parameters(model)[0]
    width = mlp_width(model)
    grow_mlp(model, g.copies, chosen)
    if g.policy == "freeze":
        train_new_units_only(model, chosen, width)
        return int(sum(m.sum() for m in new_unit_masks(model, chosen, width).values()))
    train_grown_mlps(model, chosen)
    return count_parameters(model)[0]


def run(cfg: DictConfig, ctx: RunContext) -> dict[str, Any]:
    model, tokenizer = load_model(model_spec(cfg))
    params_before = count_parameters(model)[1]
    before = {f"before_{k}": v for k, v in evaluate(model, tokenizer, cfg).items()
              if k.endswith(("_ppl", "_bpb"))}
    trainable = grow_and_select(model, cfg.method.grow)

    stats = fit(model, train_stream(cfg, tokenizer), cfg.data.block_size, trainer_spec(cfg),
                optim_spec(cfg), cfg.seed, logger=ctx.logger or False, resume_dir=ctx.resume_dir())
    return {"params_trainable": trainable, "params_total": count_parameters(model)[1],
            "params_added": count_parameters(model)[1] - params_before, **before,
            **stats.as_metrics(), **evaluate(model, tokenizer, cfg)}
