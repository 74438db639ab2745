"""Per-module output statistics over a workload, in one forward pass per batch.

For each captured module (by default every linear layer inside the decoder layers) and each
batch, the hook folds the module's output into streaming statistics, so memory does not grow
with the workload: the mean absolute activation at each sequence's last token (the score of
Yoon et al. 2026) and over all tokens, and a per-channel running mean and variance (Chan et
al.'s parallel update). Hooks are removed when capture ends, also on error.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from transplant.models.families import arch_for


@dataclass
class ModuleStats:
    """Streaming statistics of one module's output (channels = last dimension)."""

    n_sequences: int = 0
    n_tokens: int = 0
    last_abs_sum: float = 0.0  # sum over sequences of mean |y| at the last token
    all_abs_sum: float = 0.0  # sum over tokens of mean |y|
    mean: torch.Tensor | None = None  # (channels,) float64
    m2: torch.Tensor | None = field(default=None, repr=False)  # sum of squared deviations

    @property
    def last_abs_mean(self) -> float:
        return self.last_abs_sum / self.n_sequences

    @property
    def all_abs_mean(self) -> float:
        return self.all_abs_sum / self.n_tokens

    @property
    def var(self) -> torch.Tensor:
        return self.m2 / max(1, self.n_tokens - 1)

    def update(self, y: torch.Tensor, mask: torch.Tensor, last: torch.Tensor) -> None:
        """y: (batch, seq, channels); mask: (batch, seq) bool of real tokens; last: (batch,)
        index of each sequence's last real token."""
        y = y.detach().double()
        rows = torch.arange(y.size(0), device=y.device)
        self.last_abs_sum += y[rows, last].abs().mean(-1).sum().item()
        tokens = y[mask]  # (n, channels)
        self.all_abs_sum += tokens.abs().mean(-1).sum().item()
        n_b = tokens.size(0)
        mean_b = tokens.mean(0)
        m2_b = ((tokens - mean_b) ** 2).sum(0)
        if self.mean is None:
            self.mean, self.m2 = mean_b, m2_b
        else:  # merge two partitions' (count, mean, M2)
            n_a, total = self.n_tokens, self.n_tokens + n_b
            delta = mean_b - self.mean
            self.mean = self.mean + delta * n_b / total
            self.m2 = self.m2 + m2_b + delta**2 * n_a * n_b / total
        self.n_tokens += n_b
        self.n_sequences += y.size(0)


def linear_modules(model: nn.Module) -> list[str]:
    """Names of the linear layers (nn.Linear or GPT-2's Conv1D) inside the decoder layers."""
    prefix = arch_for(model.config).layers + "."
    return [name for name, m in model.named_modules()
            if name.startswith(prefix) and _is_linear(m)]


def _is_linear(module: nn.Module) -> bool:
    return isinstance(module, nn.Linear) or type(module).__name__ == "Conv1D"


@torch.no_grad()
def capture_stats(model: nn.Module, batches: Iterable[dict[str, torch.Tensor]],
                  modules: Sequence[str] | None = None) -> dict[str, ModuleStats]:
    """Run `batches` (dicts with input_ids and attention_mask, right-padded) through `model`
    and return statistics of each module's output."""
    names = list(modules) if modules is not None else linear_modules(model)
    stats = {name: ModuleStats() for name in names}
    current: dict[str, torch.Tensor] = {}

    def hook(name):
        def fn(module, args, output):
            stats[name].update(output, current["mask"], current["last"])
        return fn

    handles = [model.get_submodule(name).register_forward_hook(hook(name)) for name in names]
    try:
        for batch in batches:
            mask = batch["attention_mask"].bool()
            current["mask"], current["last"] = mask, mask.sum(1) - 1
            model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    finally:
        for h in handles:
            h.remove()
    return stats


def prompt_batches(tokenizer, prompts: Sequence[str], batch_size: int = 8,
                   max_length: int = 128) -> list[dict[str, torch.Tensor]]:
    """Right-padded batches of a prompt workload."""
    tokenizer.padding_side = "right"
    return [dict(tokenizer(list(prompts[i:i + batch_size]), return_tensors="pt", padding=True,
                           truncation=True, max_length=max_length))
            for i in range(0, len(prompts), batch_size)]
