"""Trainable-parameter policies: which weights a method trains.

`all` trains every weight; `lora` wraps the model with peft's LoRA on the family's attention
projections (from the architecture map); `mlp` trains the whole MLPs of the chosen layers
(G-Train's parameters without the growth: its control); `projections` trains every decoder
layer's attention and MLP projections and freezes embeddings and norms (the tensors Theseus
transports: its fine-tuning control); `subset` trains the parameters whose
names match one of the given regular expressions and freezes the rest.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from transplant.config import LoraConfig, Policy, TrainableConfig
from transplant.models.families import arch_for
from transplant.models.layers import decoder_layers, select_layers

if TYPE_CHECKING:
    from torch import nn
    from transformers import PreTrainedModel


def apply_policy(model: PreTrainedModel, spec: TrainableConfig) -> nn.Module:
    """Set requires_grad by policy; returns the model to train (a peft wrapper for LoRA)."""
    if spec.name == "all":
        model.requires_grad_(True)
        return model
    if spec.name == "lora":
        return _lora(model, spec.lora)
    if spec.name == "mlp":
        train_mlps(model, select_layers(len(decoder_layers(model)), spec.layers))
        return model
    if spec.name == "projections":
        train_projections(model)
        return model
    if spec.name == "subset":
        return _subset(model, spec.patterns)
    raise ValueError(f"trainable policy {spec.name!r} is not one of {[p.value for p in Policy]}")


def _lora(model: PreTrainedModel, spec: LoraConfig) -> nn.Module:
    from peft import LoraConfig, get_peft_model

    arch = arch_for(model.config)
    config = LoraConfig(
        r=spec.r, lora_alpha=spec.alpha, lora_dropout=spec.dropout,
        target_modules=list(spec.targets or arch.lora_targets),
        fan_in_fan_out=arch.conv1d,  # GPT-2's Conv1D stores weights as (in, out)
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def train_mlps(model: PreTrainedModel, layers: Sequence[int]) -> None:
    """The whole MLP of each of `layers` trains (every tensor the architecture map names in
    it, router and experts of a mixture included); nothing else does."""
    arch = arch_for(model.config)
    model.requires_grad_(False)
    for i in layers:
        layer = decoder_layers(model)[i]
        for path in arch.mlp.values():
            layer.get_submodule(path).requires_grad_(True)


def train_projections(model: PreTrainedModel) -> None:
    """Every decoder layer's attention and MLP projections train (weights and biases, every
    module the architecture map names there); embeddings, norms and the head do not."""
    arch = arch_for(model.config)
    model.requires_grad_(False)
    for layer in decoder_layers(model):
        for path in {**arch.attention, **arch.mlp}.values():
            layer.get_submodule(path).requires_grad_(True)


def _subset(model: PreTrainedModel, patterns: Sequence[str]) -> nn.Module:
    if not patterns:
        raise ValueError("trainable policy 'subset' needs method.trainable.patterns (regexes)")
    regexes = [re.compile(p) for p in patterns]
    matched = 0
    for name, param in model.named_parameters():
        param.requires_grad_(any(r.search(name) for r in regexes))
        matched += param.requires_grad
    if matched == 0:
        raise ValueError(f"method.trainable.patterns {list(patterns)} match no parameter; "
                         f"names look like {next(iter(dict(model.named_parameters())))!r}")
    return model


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts; tied weights counted once."""
    seen, trainable, total = set(), 0, 0
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    return trainable, total
