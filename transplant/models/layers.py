"""Decoder-layer access through the architecture map: read, and replace with config kept in step."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING

from transplant.models.arch import owner_of, set_path
from transplant.models.families import arch_for

if TYPE_CHECKING:
    from torch import nn
    from transformers import PreTrainedModel


def decoder_layers(model: PreTrainedModel) -> nn.ModuleList:
    return model.get_submodule(arch_for(model.config).layers)


def set_decoder_layers(model: PreTrainedModel, layers: Sequence[nn.Module],
                       source_indices: Sequence[int] | None = None) -> PreTrainedModel:
    """Make `layers` the model's decoder stack, fixing the config's layer count, each layer's
    index (the KV cache is addressed by it) and per-layer config lists.

    `source_indices[i]` is the old index layer i came from; it selects the per-layer config
    entries (e.g. sliding vs full attention) that travel with the layer.
    """
    arch = arch_for(model.config)
    first_seen: dict[int, int] = {}
    for i, layer in enumerate(layers):
        j = first_seen.setdefault(id(layer), i)
        if j != i:
            raise ValueError(
                f"decoder layers {j} and {i} are the same module object; pass a copy "
                "(copy.deepcopy): each position needs its own layer index for the KV cache")
    from torch import nn

    set_path(model, arch.layers, nn.ModuleList(layers))
    setattr(model.config, arch.num_layers_key, len(layers))
    for key in arch.per_layer_config_keys:
        old = getattr(model.config, key, None)
        if old is not None and source_indices is not None:
            setattr(model.config, key, [old[i] for i in source_indices])
    for i, layer in enumerate(layers):
        for attr in arch.layer_index_attrs:
            owner, field = owner_of(layer, attr)
            if hasattr(owner, field):
                setattr(owner, field, i)
    return model


def fresh_layer(model: PreTrainedModel, index: int,
                per_layer: dict[str, object] | None = None) -> nn.Module:
    """A newly constructed decoder layer of the model's class for position `index`.

    `per_layer` gives the per-layer config entries (e.g. {"layer_types": "full_attention"})
    the layer is built with, so attributes fixed at construction (sliding window or not)
    follow the layer's own type, not whatever layer used to sit at `index`.
    """
    config = copy.deepcopy(model.config)
    arch = arch_for(config)
    n = getattr(config, arch.num_layers_key)
    setattr(config, arch.num_layers_key, max(n, index + 1))
    for key in arch.per_layer_config_keys:
        values = getattr(config, key, None)
        if values is not None:
            values = list(values) + [values[-1]] * max(0, index + 1 - len(values))
            if per_layer and key in per_layer:
                values[index] = per_layer[key]
            setattr(config, key, values)
    template = decoder_layers(model)[0]
    param = next(template.parameters())
    layer = type(template)(config, layer_idx=index).to(dtype=param.dtype, device=param.device)
    return layer.train(template.training)  # a new module starts in training mode (dropout)


def select_layers(n_layers: int, rule: str | Sequence[int] | None) -> list[int]:
    """Layers by rule: None/"all", a list of indices or "0,5,9", "first:N", "last:N",
    "even:N" (N evenly spaced, first and last included); N may be a fraction of the layers,
    "even:1/3" (at least one layer)."""
    if rule is None or rule == "all":
        return list(range(n_layers))
    try:
        return _select_layers(n_layers, rule)
    except (ValueError, ZeroDivisionError) as e:  # int() of a malformed rule, N/0
        if "layer rule" in str(e) or "outside" in str(e):
            raise
        raise ValueError(f"layer rule {rule!r}: expected all, first:N, last:N, even:N "
                         "(N a count or a fraction like 1/3) or indices like 0,5,9") from None


def _select_layers(n_layers: int, rule: str | Sequence[int]) -> list[int]:
    if not isinstance(rule, str):
        chosen = sorted(set(int(i) for i in rule))
    elif ":" in rule:
        kind, _, count = rule.partition(":")
        if "/" in count:
            num, _, den = count.partition("/")
            n = max(1, round(n_layers * int(num) / int(den)))
        else:
            n = int(count)
        if not 0 < n <= n_layers or kind not in ("first", "last", "even"):
            raise ValueError(f"layer rule {rule!r}: expected first:N, last:N or even:N with "
                             f"1 <= N <= {n_layers}")
        if kind == "first":
            chosen = list(range(n))
        elif kind == "last":
            chosen = list(range(n_layers - n, n_layers))
        else:
            chosen = sorted({round(i * (n_layers - 1) / max(1, n - 1)) for i in range(n)})
    else:
        chosen = sorted(set(int(i) for i in rule.split(",")))
    bad = [i for i in chosen if not 0 <= i < n_layers]
    if bad:
        raise ValueError(f"layers {bad} are outside 0..{n_layers - 1}")
    return chosen
