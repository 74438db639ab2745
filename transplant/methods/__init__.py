"""Method recipes: each composes models, data, training and evaluation into a metrics dict."""

from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig

from transplant.methods import finetune, graft, grow, organ, pretrain, zero_shot
from transplant.methods.common import RunContext

Method = Callable[[DictConfig, RunContext], dict[str, Any]]

METHODS: dict[str, Method] = {
    "zero_shot": zero_shot.run,
    "full_ft": finetune.run,
    "lora": finetune.run,
    "pretrain": pretrain.run,
    "organ": organ.run,
    "grow": grow.run,
    "graft": graft.run,
}

__all__ = ["METHODS", "Method", "RunContext"]
