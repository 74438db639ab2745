"""Compacter (Karimi Mahabadi et al. 2021) as a peft method: a bottleneck adapter whose
projections are parameterised hypercomplex multiplication (PHM) layers.

Each projection's weight (out x in) is W = sum_i A_i (x) B_i, a sum of n Kronecker products of
"slow" rules A_i (n x n, shared by every adapter layer of the model) and "fast" per-layer
factors B_i = S_i T_i of rank k (S_i: out/n x k, T_i: k x in/n). With n=4 and k=1 an adapter of
width d and bottleneck r holds 2(d + r) + d + r parameters per layer, not 2dr + d + r. The
up-projection's S starts at zero, so the adapted model equals its host at step 0. The shared
rules live once on the tuner (`compacter_rules_down`, `_up`), and so once in the saved file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from transplant.surgery.bottleneck import BottleneckConfig, BottleneckLayer, BottleneckModel
from transplant.surgery.peft_registry import peft_type, register


@dataclass
class CompacterConfig(BottleneckConfig):
    """`phm_dim`: n, the number of Kronecker terms (divides the width and r); `phm_rank`: k."""

    phm_dim: int = 4
    phm_rank: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        self.peft_type = peft_type("compacter")
        if self.phm_dim <= 0 or self.r % self.phm_dim:
            raise ValueError(f"compacter phm_dim={self.phm_dim}: expected a divisor of r={self.r}")
        if self.phm_rank <= 0:
            raise ValueError(f"compacter phm_rank={self.phm_rank}: expected an integer > 0")


class PHMLinear(nn.Module):
    """y = x W^T + b with W = sum_i A_i (x) S_i T_i; the rules A come from outside (shared)."""

    def __init__(self, rules: nn.Parameter, n: int, k: int, in_features: int,
                 out_features: int) -> None:
        super().__init__()
        if in_features % n or out_features % n:
            raise ValueError(f"a PHM layer of {in_features} -> {out_features} needs both widths "
                             f"divisible by phm_dim={n}")
        self._rules = (rules,)  # a tuple: the tuner owns and saves the shared rules
        self.s = nn.Parameter(torch.empty(n, out_features // n, k))
        self.t = nn.Parameter(torch.empty(n, k, in_features // n))
        self.bias = nn.Parameter(torch.zeros(out_features))
        bound = 1 / math.sqrt(in_features)
        nn.init.uniform_(self.s, -bound, bound)
        nn.init.uniform_(self.t, -bound, bound)

    def weight(self) -> torch.Tensor:
        a = self._rules[0]  # (n, n, n)
        b = self.s @ self.t  # (n, out/n, in/n)
        n, p, q = b.shape
        # kron(A_i, B_i)[a*p + c, b*q + d] = A_i[a, b] B_i[c, d], summed over i
        return torch.einsum("iab,icd->acbd", a, b).reshape(n * p, n * q)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.weight(), self.bias)


class CompacterLayer(BottleneckLayer):
    adapter_layer_names = ("bottleneck_down", "bottleneck_up")

    def __init__(self, base_layer: nn.Module, adapter_name: str, config: CompacterConfig,
                 tuner: CompacterModel, **kwargs: Any) -> None:
        self._tuner = (tuner,)  # not a submodule: the tuner owns the shared rules
        super().__init__(base_layer, adapter_name, config)

    def update_layer(self, adapter_name: str, config: CompacterConfig) -> None:
        tuner = self._tuner[0]
        n, k = config.phm_dim, config.phm_rank
        self.bottleneck_down[adapter_name] = PHMLinear(
            tuner.compacter_rules_down[adapter_name], n, k, self.width, config.r)
        self.bottleneck_up[adapter_name] = PHMLinear(
            tuner.compacter_rules_up[adapter_name], n, k, config.r, self.width)
        nn.init.zeros_(self.bottleneck_up[adapter_name].s)  # identity at step 0
        self.non_linearity[adapter_name] = config.non_linearity
        self._move_adapter_to_device_of_base_layer(adapter_name)
        self.set_adapter(self.active_adapters, inference_mode=config.inference_mode)


class CompacterModel(BottleneckModel):
    prefix: str = "compacter_"
    tuner_layer_cls = CompacterLayer

    def _pre_injection_hook(self, model: nn.Module, config: CompacterConfig,
                            adapter_name: str) -> None:
        # The slow rules, one set per projection, shared by every layer of this adapter.
        if "compacter_rules_down" not in self._modules:
            self.compacter_rules_down = nn.ParameterDict()
            self.compacter_rules_up = nn.ParameterDict()
        n = config.phm_dim
        for rules in (self.compacter_rules_down, self.compacter_rules_up):
            rules[adapter_name] = nn.Parameter(torch.randn(n, n, n) / n)

    def new_layer(self, target: nn.Module, adapter_name: str,
                  config: CompacterConfig) -> CompacterLayer:
        return CompacterLayer(target, adapter_name, config, self)


register("compacter", CompacterConfig, CompacterModel)
