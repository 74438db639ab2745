"""The architecture maps of the supported families (see `arch.ArchMap`)."""

from __future__ import annotations

from transformers import PretrainedConfig

from transplant.models.arch import ArchMap

LLAMA = ArchMap(
    family="llama",
    model_types=("llama",),
    layers="model.layers",
    embed="model.embed_tokens",
    final_norm="model.norm",
    lm_head="lm_head",
    attention={"q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj",
               "o": "self_attn.o_proj"},
    mlp={"gate": "mlp.gate_proj", "up": "mlp.up_proj", "down": "mlp.down_proj"},
    num_layers_key="num_hidden_layers",
    layer_index_attrs=("self_attn.layer_idx",),
    per_layer_config_keys=("layer_types",),
    lora_targets=("q_proj", "k_proj", "v_proj", "o_proj"),
)

GPT2 = ArchMap(
    family="gpt2",
    model_types=("gpt2",),
    layers="transformer.h",
    embed="transformer.wte",
    pos_embed="transformer.wpe",
    final_norm="transformer.ln_f",
    lm_head="lm_head",
    attention={"qkv": "attn.c_attn", "o": "attn.c_proj"},
    mlp={"up": "mlp.c_fc", "down": "mlp.c_proj"},
    num_layers_key="n_layer",
    layer_index_attrs=("attn.layer_idx",),
    conv1d=True,
    lora_targets=("c_attn", "c_proj"),
)

FAMILIES: dict[str, ArchMap] = {m.family: m for m in (LLAMA, GPT2)}


class UnsupportedFamilyError(ValueError):
    pass


def arch_for(config: PretrainedConfig) -> ArchMap:
    """The map for a model's config, chosen by `config.model_type`."""
    for arch in FAMILIES.values():
        if config.model_type in arch.model_types:
            return arch
    supported = ", ".join(sorted(t for a in FAMILIES.values() for t in a.model_types))
    raise UnsupportedFamilyError(
        f"model_type {config.model_type!r} has no architecture map; supported: {supported}. "
        "Add an ArchMap for it in transplant/models/families.py."
    )
