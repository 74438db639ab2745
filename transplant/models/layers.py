"""Decoder-layer access through the architecture map: read, and replace with config kept in step."""

from __future__ import annotations

import copy
from collections.abc import Sequence

from torch import nn
from transformers import PreTrainedModel

from transplant.models.arch import owner_of, set_path
from transplant.models.families import arch_for


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
