"""Bottleneck adapters (Houlsby et al. 2019; Pfeiffer et al. 2021) as a peft method.

Each adapted module's output h gets a residual bottleneck: h + up(act(down(h))), down: d -> r,
up: r -> d. The up-projection starts at zero, so an adapted model computes exactly what its host
did until training moves it. Placed after the MLP's output projection (`down_proj`, GPT-2's
`mlp.c_proj`) this is Pfeiffer's configuration; adding the attention output projection gives
Houlsby's two adapters per layer. Registered with peft as `bottleneck`: adapters save as
`adapter_config.json` + `adapter_model.safetensors` and load with `PeftModel.from_pretrained`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from peft.config import PeftConfig
from peft.tuners.tuners_utils import BaseTuner, BaseTunerLayer
from torch import nn
from transformers.pytorch_utils import Conv1D

from transplant.surgery.peft_registry import peft_type, register

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "tanh": nn.Tanh}


@dataclass
class BottleneckConfig(PeftConfig):
    """`r`: the bottleneck width; `target_modules`: modules whose output is adapted."""

    r: int = 16
    non_linearity: str = "relu"
    target_modules: list[str] | str | None = field(default=None)
    exclude_modules: list[str] | str | None = field(default=None)
    modules_to_save: list[str] | None = field(default=None)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.peft_type = peft_type("bottleneck")
        if self.r <= 0:
            raise ValueError(f"bottleneck r={self.r}: expected an integer > 0")
        if self.non_linearity not in ACTIVATIONS:
            raise ValueError(f"bottleneck non_linearity={self.non_linearity!r}: expected one "
                             f"of {', '.join(ACTIVATIONS)}")


def output_width(base: nn.Module) -> int:
    if isinstance(base, nn.Linear):
        return base.out_features
    if isinstance(base, Conv1D):  # GPT-2 stores (in, out)
        return base.weight.shape[1]
    raise TypeError(f"an adapter wraps nn.Linear or Conv1D modules, not {type(base).__name__}")


class BottleneckLayer(nn.Module, BaseTunerLayer):
    """A module whose output passes through one residual bottleneck per active adapter."""

    adapter_layer_names = ("bottleneck_down", "bottleneck_up")

    def __init__(self, base_layer: nn.Module, adapter_name: str, config: BottleneckConfig,
                 **kwargs: Any) -> None:
        super().__init__()
        self.base_layer = base_layer
        self.width = output_width(base_layer)
        self.bottleneck_down = nn.ModuleDict()
        self.bottleneck_up = nn.ModuleDict()
        self.non_linearity: dict[str, str] = {}
        self._disable_adapters = False
        self.merged_adapters: list[str] = []
        self._active_adapter = adapter_name
        self.update_layer(adapter_name, config)

    def update_layer(self, adapter_name: str, config: BottleneckConfig) -> None:
        self.bottleneck_down[adapter_name] = nn.Linear(self.width, config.r)
        self.bottleneck_up[adapter_name] = nn.Linear(config.r, self.width)
        nn.init.zeros_(self.bottleneck_up[adapter_name].weight)  # identity at step 0
        nn.init.zeros_(self.bottleneck_up[adapter_name].bias)
        self.non_linearity[adapter_name] = config.non_linearity
        self._move_adapter_to_device_of_base_layer(adapter_name)
        self.set_adapter(self.active_adapters, inference_mode=config.inference_mode)

    def adapter(self, name: str, h: torch.Tensor) -> torch.Tensor:
        act = ACTIVATIONS[self.non_linearity[name]]()
        return self.bottleneck_up[name](act(self.bottleneck_down[name](h)))

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        h = self.base_layer(x, *args, **kwargs)
        if self.disable_adapters:
            return h
        for name in self.active_adapters:
            if name in self.bottleneck_down:
                dtype = self.bottleneck_up[name].bias.dtype
                h = h + self.adapter(name, h.to(dtype)).to(h.dtype)
        return h

    def merge(self, safe_merge: bool = False, adapter_names: list[str] | None = None) -> None:
        raise NotImplementedError("a bottleneck adapter is non-linear: it cannot be merged "
                                  "into its module's weights")


class BottleneckModel(BaseTuner):
    prefix: str = "bottleneck_"
    tuner_layer_cls = BottleneckLayer
    target_module_mapping: dict[str, list[str]] = {}  # transplant always names the targets

    def _create_and_replace(self, peft_config: BottleneckConfig, adapter_name: str,
                            target: nn.Module, target_name: str, parent: nn.Module,
                            current_key: str) -> None:
        if isinstance(target, self.tuner_layer_cls):
            target.update_layer(adapter_name, peft_config)
            return
        new = self.new_layer(target, adapter_name, peft_config)
        if adapter_name not in self.active_adapters:
            new.requires_grad_(False)
        self._replace_module(parent, target_name, new, target)

    def new_layer(self, target: nn.Module, adapter_name: str,
                  config: BottleneckConfig) -> BottleneckLayer:
        return BottleneckLayer(target, adapter_name, config)


register("bottleneck", BottleneckConfig, BottleneckModel)
