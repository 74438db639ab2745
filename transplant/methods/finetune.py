"""full_ft and lora: fine-tune on the target domain's train split, then evaluate.

The two differ only in the trainable-parameter policy (`method.trainable`), so baselines get
the same data, token budget and evaluation by construction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from transplant.atomic import replacing
from transplant.config import (
    ConfigError,
    MethodConfig,
    Policy,
    TrainableConfig,
    as_object,
    check,
    check_trainable,
)
from transplant.methods.common import TRAINED_SPECS, evaluate, load
from transplant.methods.method import Method
from transplant.methods.selection import test_roles, train_at_chosen_rate
from transplant.metrics import Kind, spec
from transplant.models.arch import linear_module_names
from transplant.models.facts import ModelFacts
from transplant.models.families import FAMILIES
from transplant.models.layers import select_layers
from transplant.runs import RunContext
from transplant.training.policies import apply_policy, count_parameters


@dataclass
class FinetuneConfig(MethodConfig):
    trainable: TrainableConfig = field(default_factory=TrainableConfig)


def check_finetune(cfg: DictConfig, facts: ModelFacts | None) -> None:
    check_trainable(cfg)
    targets = list(cfg.method.trainable.lora.targets)
    if cfg.method.trainable.name == Policy.lora and targets and facts is not None:
        known = linear_module_names(FAMILIES[facts.family])
        unknown = [t for t in targets if t.rpartition(".")[2] not in known]
        check(not unknown, "method.trainable.lora.targets", targets,
              f"module names of the {facts.family} family: {', '.join(sorted(known))} "
              f"({', '.join(unknown)} match no module)")
    if cfg.method.trainable.name == Policy.mlp and facts is not None:
        try:
            select_layers(facts.layers, cfg.method.trainable.layers)
        except ValueError as e:
            raise ConfigError(f"method.trainable.layers={cfg.method.trainable.layers!r} is "
                              f"invalid: {e}") from e


def run(cfg: DictConfig, ctx: RunContext) -> dict[str, Any]:
    model, tokenizer = load(cfg, ctx)
    policy = as_object(cfg.method.trainable)
    trial, chosen = train_at_chosen_rate(lambda m: apply_policy(m, policy), model, tokenizer,
                                         cfg, ctx)
    model, stats = trial.model, trial.state
    trainable, total = count_parameters(model)
    extra = {}
    if cfg.method.trainable.name == "lora":
        from transplant.models.loading import model_source

        base = model_source(as_object(cfg.model), ctx.cache)
        extra["adapter"] = str(save_adapter(model, ctx.layout.adapter, base))
        ctx.add_artifact(ctx.layout.adapter, "adapter", f"adapter-{ctx.dir.name}")
    return {"params_trainable": trainable, "params_total": total, **stats.as_metrics(),
            **extra, **chosen, **evaluate(model, tokenizer, cfg, ctx, roles=test_roles(chosen))}


def save_adapter(model, out: Path, base: str | None) -> Path:
    """The adapter alone, in peft's format (adapter_config.json + adapter_model.safetensors),
    written whole or not at all. `base_model_name_or_path` is set to where the base model
    loads from (an absolute directory or a hub id), so `AutoPeftModelForCausalLM.
    from_pretrained(out)` works from anywhere."""
    with replacing(out, directory=True) as tmp:
        model.save_pretrained(tmp)
        config = json.loads((tmp / "adapter_config.json").read_text())
        config["base_model_name_or_path"] = base
        (tmp / "adapter_config.json").write_text(json.dumps(config, indent=2))
    return out


METRICS = (*TRAINED_SPECS, spec("adapter", Kind.text))
FULL_FT = Method("full_ft", FinetuneConfig, run, check_finetune, chooses_lr=True, metrics=METRICS)
LORA = Method("lora", FinetuneConfig, run, check_finetune, chooses_lr=True, metrics=METRICS)
