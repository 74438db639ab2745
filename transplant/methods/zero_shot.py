"""zero_shot: evaluate the model as it is. The reference every other method is compared with."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from transplant.methods.common import RunContext, evaluate, model_spec
from transplant.models.loading import load_model
from transplant.training.policies import count_parameters


def run(cfg: DictConfig, ctx: RunContext) -> dict[str, Any]:
    model, tokenizer = load_model(model_spec(cfg))
    model.requires_grad_(False)
    trainable, total = count_parameters(model)
    return {"params_trainable": trainable, "params_total": total, "train_tokens": 0,
            **evaluate(model, tokenizer, cfg)}
