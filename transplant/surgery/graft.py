"""Training-free module grafting chosen by activations (Yoon et al. 2026, arXiv 2602.16189).

Candidates are the linear layers whose names and shapes match in donor and target (only
inside decoder layers: no embeddings, norms or LM head). Each is scored by the difference of
its mean absolute last-token output between donor and target over a workload; the top-K are
grafted: theta_t <- (1 - alpha) theta_t + alpha theta_d (alpha = 1 is the paper's copy).
Random-K and bottom-K are the controls.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from transplant.analysis.capture import ModuleStats, linear_modules


class GraftError(ValueError):
    pass


def candidate_modules(target: nn.Module, donor: nn.Module) -> list[str]:
    """Linear layers present in both models with equal weight shapes. Fails naming the first
    module that differs, so two architectures are never mixed silently."""
    t_names, d_names = linear_modules(target), linear_modules(donor)
    if t_names != d_names:
        first = next((a, b) for a, b in zip(t_names + [None], d_names + [None], strict=False)
                     if a != b)
        raise GraftError(f"donor and target differ in their linear layers: target has "
                         f"{first[0]!r} where the donor has {first[1]!r}")
    for name in t_names:
        t, d = target.get_submodule(name).weight, donor.get_submodule(name).weight
        if t.shape != d.shape:
            raise GraftError(f"{name}: target weight {tuple(t.shape)} != donor weight "
                             f"{tuple(d.shape)}")
    return t_names


def activation_scores(target_stats: Mapping[str, ModuleStats],
                      donor_stats: Mapping[str, ModuleStats]) -> dict[str, float]:
    """Donor-minus-target mean absolute last-token activation, per module."""
    return {name: donor_stats[name].last_abs_mean - target_stats[name].last_abs_mean
            for name in target_stats}


def rank_modules(scores: Mapping[str, float], k: int | None, order: str = "top") -> list[str]:
    """The k modules whose activations differ most (|score|, `top`) or least (`bottom`)."""
    ranked = sorted(scores, key=lambda n: (abs(scores[n]), n), reverse=(order == "top"))
    return ranked if k is None else ranked[:k]


def random_modules(candidates: Sequence[str], k: int | None, seed: int) -> list[str]:
    """The random-K control: k candidates drawn without replacement with `seed`."""
    pool = list(candidates)
    return random.Random(seed).sample(pool, len(pool) if k is None else min(k, len(pool)))


def random_matched_modules(sizes: Mapping[str, int], target_params: int,
                           seed: int) -> list[str]:
    """The parameter-matched random control: candidates drawn in a seeded random order until
    their parameter count is as close as it gets to `target_params` (the ranked modules are
    larger than average, so a random-K draw of the same K would graft fewer weights)."""
    order = random.Random(seed).sample(list(sizes), len(sizes))
    chosen, total = [], 0
    for name in order:
        if total >= target_params:
            break
        if abs(total + sizes[name] - target_params) > abs(total - target_params) and chosen:
            break  # adding it would overshoot by more than we are short
        chosen.append(name)
        total += sizes[name]
    return chosen


@torch.no_grad()
def graft(target: nn.Module, donor: nn.Module, modules: Sequence[str],
          alpha: float = 1.0) -> nn.Module:
    """Interpolate the chosen modules' weights and biases towards the donor's, in place."""
    if not 0.0 <= alpha <= 1.0:
        raise GraftError(f"alpha={alpha}: expected 0 <= alpha <= 1")
    pairs = []
    for name in modules:  # check everything before changing anything
        t_mod, d_mod = target.get_submodule(name), donor.get_submodule(name)
        for pname, t in t_mod.named_parameters(recurse=False):
            d = getattr(d_mod, pname, None)
            if d is None or d.shape != t.shape:
                raise GraftError(f"{name}.{pname}: target {tuple(t.shape)} vs donor "
                                 f"{None if d is None else tuple(d.shape)}")
            pairs.append((t, d))
    for t, d in pairs:
        t.lerp_(d.to(t.dtype), alpha)
    return target
