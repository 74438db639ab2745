"""zero_shot: evaluate the model as it is. The reference every other method is compared with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig

from transplant.config import MethodConfig
from transplant.methods.common import PARAMS_SPECS, evaluate, evaluation_specs, load, train_specs
from transplant.methods.method import Method
from transplant.runs import RunContext
from transplant.training.policies import count_parameters


@dataclass
class ZeroShotConfig(MethodConfig):
    name: str = "zero_shot"


def run(cfg: DictConfig, ctx: RunContext) -> dict[str, Any]:
    model, tokenizer = load(cfg, ctx)
    model.requires_grad_(False)
    trainable, total = count_parameters(model)
    return {"params_trainable": trainable, "params_total": total, "train_tokens": 0,
            **evaluate(model, tokenizer, cfg, ctx)}


METHOD = Method("zero_shot", ZeroShotConfig, run, trains_on_target=False,
                metrics=(*evaluation_specs(), *train_specs(), *PARAMS_SPECS))
