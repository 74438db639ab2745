"""Theseus: carry a task vector to a model of another width, in closed form (Rinaldi et al.
2026, "Transporting Task Vectors across Different Architectures without Training").

For each linear layer of the target B, matched to a layer of the source A by relative depth:
both models read the same calibration tokens; for the layer's input space and its output space,
C = X_A^T X_B (optionally centred, optionally partially whitened:
(X_A^T X_A + eps I)^-p C (X_B^T X_B + eps I)^-p), C = U S V^T, T = U V^T (d_A x d_B); then
dW_B = T_out^T dW_A T_in in nn.Linear's [out, in] layout and db_B = db_A T_out.

Departure from the paper's per-layer description: an up-projection's output (gate/up, GPT-2's
c_fc) has rank at most its input width, so C is singular there and U V^T is arbitrary on its
null space. That space, the MLP's intermediate space, is aligned once, on the down-projection's
input (after the non-linearity), where the activations span it, and the same T serves the
layers that write it (gate, up) and the one that reads it (down).

Embeddings and norms are not transported. Statistics are streamed (analysis/paired.py): memory
grows with the widths, not with the calibration set.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from transplant.analysis.paired import PairedMoments, Space, paired_moments
from transplant.models.families import arch_for
from transplant.models.layers import decoder_layers

Tau = dict[str, torch.Tensor]


class TransportError(ValueError):
    """Two models, a task vector or a calibration set that transport cannot work with."""


def task_vector(finetuned: nn.Module, pretrained: nn.Module) -> Tau:
    """tau = theta_finetuned - theta_pretrained, for every floating-point parameter."""
    ft, pre = dict(finetuned.named_parameters()), dict(pretrained.named_parameters())
    if ft.keys() != pre.keys():
        raise TransportError(f"the two models differ in their parameters: "
                             f"{sorted(ft.keys() ^ pre.keys())[:5]}")
    return {k: (ft[k] - pre[k]).detach().clone() for k in pre if pre[k].is_floating_point()}


def cosine(a: Tau, b: Tau, keys: list[str] | None = None) -> float:
    """cos(a, b) of two task vectors over the named tensors (default: a's), flattened and
    joined, in float64: how far two steps point the same way."""
    keys = sorted(a) if keys is None else keys
    missing = [k for k in keys if k not in a or k not in b]
    if missing:
        raise TransportError(f"cosine over tensors one task vector lacks: {missing[:5]}")
    dot = sum(float((a[k].double() * b[k].double()).sum()) for k in keys)
    na = sum(float(a[k].double().square().sum()) for k in keys) ** 0.5
    nb = sum(float(b[k].double().square().sum()) for k in keys) ** 0.5
    return dot / (na * nb)


@torch.no_grad()
def apply_task_vector(model: nn.Module, tau: Tau, alpha: float) -> nn.Module:
    """theta + alpha * tau, in place; a key or shape `model` lacks is an error (nothing is
    changed then). alpha = 0 leaves the model bit-identical."""
    params = dict(model.named_parameters())
    problems = [f"{k}: no such parameter" for k in tau if k not in params]
    problems += [f"{k}: tau {list(v.shape)} != parameter {list(params[k].shape)}"
                 for k, v in tau.items() if k in params and v.shape != params[k].shape]
    if problems:
        raise TransportError("task vector does not fit the model: " + "; ".join(problems[:5]))
    if alpha != 0:
        for k, v in tau.items():
            params[k].add_(v.to(params[k].dtype), alpha=alpha)
    return model


Pair = tuple[Space, Space]  # a space of the source and the matching one of the target


@dataclass(frozen=True)
class LinearPlan:
    """A target linear layer, its source layer, and the space pairs aligning its sides (the
    output of a fused q/k/v projection in three parts, aligned each on its own)."""

    target: str
    source: str
    inputs: Pair
    outputs: tuple[Pair, ...]


def layer_match(n_source: int, n_target: int) -> list[int]:
    """The source layer of each target layer, by relative depth (first to first, last to
    last, nearest in between)."""
    if n_target == 1:
        return [0]
    return [round(j * (n_source - 1) / (n_target - 1)) for j in range(n_target)]


def transport_plan(source: nn.Module, target: nn.Module) -> list[LinearPlan]:
    arch_a, arch_b = arch_for(source.config), arch_for(target.config)
    if arch_a.family != arch_b.family:
        raise TransportError(f"source is {arch_a.family}, target is {arch_b.family}: transport "
                             "maps layers of one family")
    if arch_a.moe:
        raise TransportError(f"transport of {arch_a.family}'s experts is not supported")
    roles = {**arch_a.attention, **arch_a.mlp}
    down = arch_a.mlp["down"]
    plan = []
    match = layer_match(len(decoder_layers(source)), len(decoder_layers(target)))
    for j, i in enumerate(match):
        s_layer, t_layer = f"{arch_a.layers}.{i}", f"{arch_b.layers}.{j}"
        for role, path in roles.items():
            s, t = f"{s_layer}.{path}", f"{t_layer}.{path}"
            if role in ("gate", "up"):  # their outputs: the intermediate space, after the act
                out = ((Space(f"{s_layer}.{down}", "in"), Space(f"{t_layer}.{down}", "in")),)
            elif role == "qkv":  # split for alignment, re-fused in transport
                out = tuple(zip(_qkv_spaces(source, s, arch_a.fused_qkv),
                                _qkv_spaces(target, t, arch_a.fused_qkv), strict=True))
            else:
                out = ((Space(s, "out"), Space(t, "out")),)
            plan.append(LinearPlan(t, s, (Space(s, "in"), Space(t, "in")), out))
    return plan


def _qkv_spaces(model: nn.Module, path: str, layout: str | None) -> list[Space]:
    """The q, k and v parts of a fused projection's output."""
    width = _width(model, Space(path, "out"))
    d = width // 3
    if layout == "blocks":  # [q | k | v]
        parts = [range(i * d, (i + 1) * d) for i in range(3)]
    elif layout == "heads":  # [q_h | k_h | v_h] for each head h
        heads = model.config.num_attention_heads
        hd = d // heads
        parts = [[h * 3 * hd + i * hd + c for h in range(heads) for c in range(hd)]
                 for i in range(3)]
    else:
        raise TransportError(f"{path}: unknown fused q/k/v layout {layout!r}")
    return [Space(path, "out", tuple(p)) for p in parts]


def _key(pair: Pair) -> str:
    return " | ".join(f"{s.module}:{s.side}:{s.index[0] if s.index else ''}" for s in pair)


def _assemble(parts: tuple[Pair, ...], maps: dict[str, torch.Tensor], source: nn.Module,
              target: nn.Module) -> torch.Tensor:
    """A side's T: the one map of its space, or the parts' maps placed block-wise (fused)."""
    if len(parts) == 1 and parts[0][0].index is None:
        return maps[_key(parts[0])]
    a0, b0 = parts[0]
    t = torch.zeros(_width(source, Space(a0.module, a0.side)),
                    _width(target, Space(b0.module, b0.side)), dtype=torch.float64)
    for a, b in parts:
        t[torch.tensor(a.index)[:, None], torch.tensor(b.index)[None, :]] = maps[_key((a, b))]
    return t


def _width(model: nn.Module, space: Space) -> int:
    if space.index is not None:
        return len(space.index)
    w = model.get_submodule(space.module).weight
    conv1d = arch_for(model.config).conv1d  # GPT-2's Conv1D stores (in, out)
    in_dim, out_dim = (w.shape[0], w.shape[1]) if conv1d else (w.shape[1], w.shape[0])
    return in_dim if space.side == "in" else out_dim


def _inverse_power(gram: torch.Tensor, power: float, eps: float) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(gram)
    values = values.clamp_min(0) + eps * values.clamp_min(0).mean()
    return vectors @ torch.diag(values ** -power) @ vectors.T


def alignment(m: PairedMoments, center: bool = False, whiten_power: float = 0.0,
              eps: float = 1e-4) -> torch.Tensor:
    """T = U V^T (d_A x d_B, float64) of the (centred, partially whitened) cross-moment."""
    c = m.cross(center)
    if whiten_power:
        c = (_inverse_power(m.gram("a", center), whiten_power, eps) @ c
             @ _inverse_power(m.gram("b", center), whiten_power, eps))
    u, _, vh = torch.linalg.svd(c, full_matrices=False)
    return u @ vh


def calibration_moments(source_pretrained: nn.Module, target_pretrained: nn.Module,
                        calibration_ids: torch.Tensor, *, second_moments: bool = False,
                        batch_size: int = 8) -> dict[str, PairedMoments]:
    """The paired statistics transport aligns on, one entry per space pair of the plan
    (`second_moments`: also X^T X of each side, which whitening needs). A product of its own,
    so a caller can keep it and transport again with other `center` / `whiten_power`.
    calibration_ids: LongTensor [n, seq] of tokens both models read (no padding)."""
    plan = transport_plan(source_pretrained, target_pretrained)
    pairs = {_key(p): p for lp in plan for p in (lp.inputs, *lp.outputs)}
    widest = max(max(_width(source_pretrained, a), _width(target_pretrained, b))
                 for a, b in pairs.values())
    rows = calibration_ids.numel()
    if rows < widest:
        raise TransportError(
            f"the calibration set has {rows} tokens, fewer than the widest aligned space "
            f"({widest}): C = X_A^T X_B then has rank at most {rows} and U V^T is arbitrary on "
            f"the rest. Give at least {widest} tokens (several times more is better)")
    return paired_moments(source_pretrained, target_pretrained, pairs, calibration_ids,
                          batch_size, second_moments=second_moments)


def transport_with(tau_a: Tau, source_pretrained: nn.Module, target_pretrained: nn.Module,
                   moments: dict[str, PairedMoments], *, center: bool = False,
                   whiten_power: float = 0.0) -> Tau:
    """`transport` from statistics already collected (`calibration_moments`)."""
    if not 0.0 <= whiten_power <= 0.5:
        raise TransportError(f"whiten_power={whiten_power}: expected a number in [0, 0.5]")
    plan = transport_plan(source_pretrained, target_pretrained)
    pairs = {_key(p): p for lp in plan for p in (lp.inputs, *lp.outputs)}
    missing = sorted(set(pairs) - set(moments))
    wrong = [f"{name}: {list(moments[name].ab.shape)} != {[_width(source_pretrained, a), w_b]}"
             for name, (a, b) in pairs.items() if name in moments
             for w_b in [_width(target_pretrained, b)]
             if tuple(moments[name].ab.shape) != (_width(source_pretrained, a), w_b)]
    if missing or wrong:
        raise TransportError(f"the moments were collected on other models: they lack "
                             f"{len(missing)} and mis-shape {len(wrong)} of these models' "
                             f"space pairs ({(missing + wrong)[0]})")
    maps = {name: alignment(m, center, whiten_power) for name, m in moments.items()}
    conv1d = arch_for(target_pretrained.config).conv1d
    out: Tau = {}
    for lp in plan:
        t_in = maps[_key(lp.inputs)]
        t_out = _assemble(lp.outputs, maps, source_pretrained, target_pretrained)
        weight = tau_a.get(f"{lp.source}.weight")
        if weight is not None:
            w = weight.double().T if conv1d else weight.double()  # [out, in]
            w_b = t_out.T @ w @ t_in
            out[f"{lp.target}.weight"] = (w_b.T if conv1d else w_b).to(weight.dtype)
        bias = tau_a.get(f"{lp.source}.bias")
        if bias is not None:
            out[f"{lp.target}.bias"] = (bias.double() @ t_out).to(bias.dtype)
    return out


def transport(tau_a: Tau, source_pretrained: nn.Module, target_pretrained: nn.Module,
              calibration_ids: torch.Tensor, *, center: bool = False,
              whiten_power: float = 0.0, batch_size: int = 8) -> Tau:
    """tau_a (keyed like the source's parameters) carried to the target: a task vector keyed
    like the target's parameters, for its attention and MLP linear layers.
    calibration_ids: LongTensor [n, seq] of tokens both models read (no padding)."""
    if not 0.0 <= whiten_power <= 0.5:
        raise TransportError(f"whiten_power={whiten_power}: expected a number in [0, 0.5]")
    moments = calibration_moments(source_pretrained, target_pretrained, calibration_ids,
                                  second_moments=whiten_power > 0, batch_size=batch_size)
    return transport_with(tau_a, source_pretrained, target_pretrained, moments, center=center,
                          whiten_power=whiten_power)
