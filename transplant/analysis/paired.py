"""Paired activation statistics of two models read on the same tokens, streamed.

For each requested pair of activation spaces (a module's input or output in model A, one in
model B), every batch folds its token rows into running sums: n, sum a, sum b, A^T B, and (for
whitening) A^T A and B^T B, in float64. Memory grows with the widths, never with the
calibration set. Hooks are removed when capture ends, also on error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Literal

import torch
from torch import nn

Side = Literal["in", "out"]


@dataclass(frozen=True)
class Space:
    """One activation space: the input or the output of a module, by its path; `index`: only
    these channels (one part of a fused projection's output)."""

    module: str
    side: Side
    index: tuple[int, ...] | None = None


@dataclass
class PairedMoments:
    n: int = 0
    sum_a: torch.Tensor | None = None
    sum_b: torch.Tensor | None = None
    ab: torch.Tensor | None = None  # sum of a b^T (d_a x d_b)
    aa: torch.Tensor | None = None  # sum of a a^T (d_a x d_a), with `second_moments`
    bb: torch.Tensor | None = None

    def update(self, a: torch.Tensor, b: torch.Tensor, second_moments: bool) -> None:
        a, b = a.double(), b.double()
        if self.ab is None:
            self.sum_a = torch.zeros(a.size(1), dtype=torch.float64)
            self.sum_b = torch.zeros(b.size(1), dtype=torch.float64)
            self.ab = torch.zeros(a.size(1), b.size(1), dtype=torch.float64)
            if second_moments:
                self.aa = torch.zeros(a.size(1), a.size(1), dtype=torch.float64)
                self.bb = torch.zeros(b.size(1), b.size(1), dtype=torch.float64)
        self.n += a.size(0)
        self.sum_a += a.sum(0)
        self.sum_b += b.sum(0)
        self.ab += a.T @ b
        if second_moments:
            self.aa += a.T @ a
            self.bb += b.T @ b

    def cross(self, center: bool) -> torch.Tensor:
        """A^T B, or with `center` the centred (A - mean a)^T (B - mean b)."""
        if not center:
            return self.ab
        return self.ab - torch.outer(self.sum_a, self.sum_b) / self.n

    def gram(self, side: Literal["a", "b"], center: bool) -> torch.Tensor:
        m, s = (self.aa, self.sum_a) if side == "a" else (self.bb, self.sum_b)
        if m is None:
            raise ValueError("second moments were not collected (second_moments=False)")
        return m - torch.outer(s, s) / self.n if center else m


    def procrustes_fit(self, center: bool = True) -> float:
        """How well one orthogonal map takes A's rows to B's: ||C||_* / (||A||_F ||B||_F), 1
        when B = s A Q with Q orthonormal, lower as the spaces share less (a bound by Hoelder's
        inequality). Needs second moments."""
        c = self.cross(center)
        norms = self.gram("a", center).trace() * self.gram("b", center).trace()
        return float(torch.linalg.svdvals(c).sum() / norms.sqrt())


_TENSORS = [f.name for f in fields(PairedMoments) if f.name != "n"]


def save_moments(moments: dict[str, PairedMoments], path: str | os.PathLike) -> None:
    """Write named moments to one safetensors file (keys `<name>/<field>`)."""
    from safetensors.torch import save_file

    flat = {}
    for name, m in moments.items():
        flat[f"{name}/n"] = torch.tensor([m.n], dtype=torch.int64)
        flat.update({f"{name}/{f}": getattr(m, f).contiguous() for f in _TENSORS
                     if getattr(m, f) is not None})
    save_file(flat, str(path))


def load_moments(path: str | os.PathLike) -> dict[str, PairedMoments]:
    """The moments `save_moments` wrote, exactly."""
    from safetensors.torch import load_file

    flat = load_file(str(path))
    names = {k.rsplit("/", 1)[0] for k in flat}
    return {name: PairedMoments(int(flat[f"{name}/n"]),
                                **{f: flat.get(f"{name}/{f}") for f in _TENSORS})
            for name in sorted(names)}


def _rows(t: torch.Tensor) -> torch.Tensor:
    return t.detach().reshape(-1, t.size(-1))


@torch.no_grad()
def paired_moments(model_a: nn.Module, model_b: nn.Module,
                   pairs: dict[str, tuple[Space, Space]], ids: torch.Tensor,
                   batch_size: int = 8, second_moments: bool = False,
                   ids_b: torch.Tensor | None = None) -> dict[str, PairedMoments]:
    """Moments of each named pair of spaces (space in A, space in B) over the token rows of
    `ids` ([n, seq], read by both models; no padding). `ids_b` (same shape): other tokens for
    B to read, row against row; unpaired rows give the chance level of a fit."""
    if ids_b is not None and ids_b.shape != ids.shape:
        raise ValueError(f"ids_b {list(ids_b.shape)} != ids {list(ids.shape)}: B reads one "
                         "row for each of A's")
    stats = {name: PairedMoments() for name in pairs}
    spaces_a = {a for a, _ in pairs.values()}
    spaces_b = {b for _, b in pairs.values()}
    for batch, batch_b in zip(ids.split(batch_size),
                              (ids if ids_b is None else ids_b).split(batch_size), strict=True):
        acts_a, acts_b = _capture(model_a, spaces_a, batch), _capture(model_b, spaces_b, batch_b)
        for name, (space_a, space_b) in pairs.items():
            stats[name].update(acts_a[space_a], acts_b[space_b], second_moments)
    return stats


def _capture(model: nn.Module, spaces: set[Space], batch: torch.Tensor
             ) -> dict[Space, torch.Tensor]:
    """One forward of `batch`; the token rows of each requested space."""
    out: dict[Space, torch.Tensor] = {}
    wanted: dict[str, list[Space]] = {}
    for space in spaces:
        wanted.setdefault(space.module, []).append(space)
    modules = dict(model.named_modules())
    missing = sorted(set(wanted) - set(modules))
    if missing:
        raise KeyError(f"no module {', '.join(missing)} in {type(model).__name__}")

    def hook(name: str):
        def record(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
            for space in wanted[name]:
                rows = _rows(args[0] if space.side == "in" else output)
                out[space] = rows if space.index is None else rows[:, list(space.index)]
        return record

    handles = [modules[name].register_forward_hook(hook(name)) for name in wanted]
    try:
        device = next(model.parameters()).device
        model(input_ids=batch.to(device))
    finally:
        for h in handles:
            h.remove()
    return out
