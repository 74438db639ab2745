"""Function-preserving growth (Adila et al. 2026, "Grow, Don't Overwrite"; Net2Net; LLaMA-Pro).

grow_mlp: each MLP hidden unit is replicated `copies` times (the rows of gate/up, or GPT-2's
first projection) and the matching down-projection columns are divided by `copies`, so the
copies' outputs sum to the original: the grown model computes exactly the same function.
Layers outside the chosen subset get the same width with zero down-projection columns, so the
config keeps one MLP width and the model stays an ordinary checkpoint.

grow_depth: LLaMA-Pro style; a copy of a block is inserted after it with the last projection of
each residual branch zeroed, so the new block is the identity at init.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn
from transformers import PreTrainedModel

from transplant.models.arch import owner_of
from transplant.models.families import arch_for
from transplant.models.layers import decoder_layers, select_layers, set_decoder_layers


def _units_view(t: torch.Tensor, axis: int, interleave: int) -> torch.Tensor:
    """View `t` with its hidden-unit axis at `axis` (a trailing interleave axis if paired)."""
    if interleave == 1:
        return t
    shape = list(t.shape)
    return t.reshape(*shape[:axis], shape[axis] // interleave, interleave, *shape[axis + 1:])


def _grow_tensor(t: torch.Tensor, axis: int, interleave: int, kind: str,
                 shares: Sequence[float], active: bool) -> torch.Tensor:
    units = _units_view(t, axis, interleave)
    copies = len(shares)
    if kind == "in":
        grown = torch.cat([units] * copies, dim=axis)
    elif active:  # "out": the copies share each unit's contribution
        grown = torch.cat([units * s for s in shares], dim=axis)
    else:  # "out" in a layer that does not grow: new units contribute nothing
        grown = torch.cat([units] + [torch.zeros_like(units)] * (copies - 1), dim=axis)
    shape = list(t.shape)
    shape[axis] *= copies
    return grown.reshape(shape)


def _set_param(layer: nn.Module, path: str, value: torch.Tensor) -> None:
    owner, name = owner_of(layer, path)
    old = getattr(owner, name)
    setattr(owner, name, nn.Parameter(value, requires_grad=old.requires_grad))
    # Keep the shape attributes of the owning module in step (repr, peft, GPT-2's Conv1D).
    if isinstance(owner, nn.Linear) and name == "weight":
        owner.out_features, owner.in_features = value.shape
    elif hasattr(owner, "nf") and name == "weight":
        owner.nf = value.shape[1]
    elif hasattr(owner, "intermediate_size") and name == "down_proj":
        owner.intermediate_size = value.shape[-2]


def mlp_width(model: PreTrainedModel) -> int:
    arch = arch_for(model.config)
    path, axis, interleave, _ = arch.unit_tensors()[0]
    return decoder_layers(model)[0].get_parameter(path).shape[axis] // interleave


def asymmetric_shares(copies: int, asymmetry: float) -> list[float]:
    """[1 + a(k-1), -a, ..., -a]: shares that sum to 1, of opposite signs.

    Copies of a unit get identical gradients up to their share; Adam-style optimizers divide
    each parameter's gradient by its own scale, so positive unequal shares would still give
    identical updates. A negative share flips the sign of that copy's gradient, so the copies
    move apart from the first step, while the grown model still computes the original."""
    return [1 + asymmetry * (copies - 1)] + [-asymmetry] * (copies - 1)


@torch.no_grad()
def grow_mlp(model: PreTrainedModel, copies: int = 2,
             layers: str | Sequence[int] | None = None,
             shares: Sequence[float] | None = None) -> PreTrainedModel:
    """Replicate every MLP hidden unit `copies` times in the chosen layers (all by default);
    the model is changed in place, returned, and computes the same function.

    `shares`: the fraction of each unit's output carried by each copy (sum 1; default equal,
    1/copies each; `asymmetric_shares` breaks the copies' symmetry for training them all)."""
    if copies < 2:
        raise ValueError(f"copies={copies}: growth needs at least 2 copies of each unit")
    shares = list(shares) if shares is not None else [1 / copies] * copies
    if len(shares) != copies or abs(sum(shares) - 1) > 1e-9:
        raise ValueError(f"shares {shares}: expected {copies} numbers summing to 1")
    arch = arch_for(model.config)
    stack = decoder_layers(model)
    grown = set(select_layers(len(stack), layers))
    width = mlp_width(model)
    for i, layer in enumerate(stack):
        for path, axis, interleave, kind in arch.unit_tensors():
            try:
                t = layer.get_parameter(path)
            except AttributeError:
                continue  # e.g. no bias in this MLP
            _set_param(layer, path, _grow_tensor(t.data, axis, interleave, kind, shares,
                                                 i in grown))
    setattr(model.config, arch.intermediate_key, width * copies)
    return model


def new_unit_masks(model: PreTrainedModel, layers: Sequence[int],
                   original_width: int) -> dict[str, torch.Tensor]:
    """parameter name -> mask of the entries that belong to the new copies (1) in `layers`."""
    arch = arch_for(model.config)
    masks = {}
    for i in layers:
        layer = decoder_layers(model)[i]
        for path, axis, interleave, _ in arch.unit_tensors():
            try:
                t = layer.get_parameter(path)
            except AttributeError:
                continue
            view = torch.zeros_like(_units_view(t, axis, interleave), dtype=torch.bool)
            index = [slice(None)] * view.ndim
            index[axis] = slice(original_width, None)
            view[tuple(index)] = True
            masks[f"{arch.layer_prefix(i)}{path}"] = view.reshape(t.shape)
    return masks


def train_new_units_only(model: PreTrainedModel, layers: Sequence[int],
                         original_width: int) -> list:
    """G-Freeze: only the new copies in `layers` receive gradient; everything else, the
    original units included, stays bit-identical under any optimizer without weight decay.
    Returns the hook handles."""
    masks = new_unit_masks(model, layers, original_width)
    model.requires_grad_(False)
    handles = []
    params = dict(model.named_parameters())
    for name, mask in masks.items():
        param = params[name]
        param.requires_grad_(True)
        handles.append(param.register_hook(lambda g, m=mask: g * m.to(g.dtype)))
    return handles


@torch.no_grad()
def grow_depth(model: PreTrainedModel, after_layers: Sequence[int]) -> PreTrainedModel:
    """Insert after each listed layer a copy of it whose residual branches end in zeroed
    projections: the identity at init. Changed in place and returned. Post-norm models are
    refused: their norm after the residual add makes a zero branch not the identity."""
    arch = arch_for(model.config)
    if arch.post_norm:
        raise ValueError(f"grow_depth needs a pre-norm model; {arch.family} applies layer norm "
                         "after each residual add, so a block with zeroed output projections "
                         "is not the identity")
    stack = list(decoder_layers(model))
    after = set(select_layers(len(stack), list(after_layers)))
    new_stack, sources = [], []
    for i, layer in enumerate(stack):
        new_stack.append(layer)
        sources.append(i)
        if i in after:
            block = copy.deepcopy(layer)
            for path in arch.output_projections():
                if _is_module(block, path):
                    for p in block.get_submodule(path).parameters():
                        p.zero_()
                else:
                    block.get_parameter(path).zero_()
            new_stack.append(block)
            sources.append(i)
    return set_decoder_layers(model, new_stack, source_indices=sources)


def depth_new_positions(after_layers: Sequence[int]) -> list[int]:
    """Positions of the blocks `grow_depth(after_layers)` inserted, in the grown stack."""
    return [a + j + 1 for j, a in enumerate(sorted(set(after_layers)))]


def _is_module(root: nn.Module, path: str) -> bool:
    try:
        root.get_submodule(path)
        return True
    except AttributeError:
        return False
