"""Logits at chosen positions only: a small model over a large vocabulary spends most of its
forward in the LM head, and label scoring or an answer-only loss reads few positions."""

from __future__ import annotations

import inspect

import torch
from torch import nn


def keeps_logits(model: nn.Module) -> bool:
    """Whether the model's forward takes `logits_to_keep` (transformers' causal LMs do)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "logits_to_keep" in inspect.signature(base.forward).parameters


def logits_at(model: nn.Module, ids: torch.Tensor, mask: torch.Tensor | None,
              positions: torch.Tensor) -> torch.Tensor:
    """(batch, len(positions), vocab): the logits at `positions` (sorted, of `ids`' columns)
    of every row (`mask`: None when no row is padded). Positions count from the end inside the
    model, so they hold when prompt tuning prepends virtual tokens; a model without
    `logits_to_keep` computes them all."""
    width = ids.size(1)
    masked = {} if mask is None else {"attention_mask": mask}
    if keeps_logits(model):
        return model(input_ids=ids, logits_to_keep=positions.to(ids.device) - width,
                     **masked).logits
    logits = model(input_ids=ids, **masked).logits[:, -width:]
    return logits[:, positions.to(logits.device)]
