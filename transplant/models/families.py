"""The architecture maps of the supported families (see `arch.ArchMap`).

To add a family: write one `ArchMap` below (paths from `model.named_modules()` of a tiny
instance), add it to FAMILIES, and give it a tiny config in `tiny.py`; the parametrised tests
in tests/test_families.py then check it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from transplant.models.arch import ArchMap

if TYPE_CHECKING:
    from transformers import PretrainedConfig

# Llama-style decoders share one layout: model.layers.N.{self_attn,mlp}.*_proj.
_LLAMA_LAYOUT = dict(
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

LLAMA = ArchMap(family="llama", model_types=("llama",), **_LLAMA_LAYOUT)
MISTRAL = ArchMap(family="mistral", model_types=("mistral",), **_LLAMA_LAYOUT)
QWEN2 = ArchMap(family="qwen2", model_types=("qwen2",), **_LLAMA_LAYOUT)
QWEN3 = ArchMap(family="qwen3", model_types=("qwen3",), **_LLAMA_LAYOUT)
# Gemma3 decoder layers also carry their own index (it selects sliding vs full attention).
GEMMA3 = ArchMap(family="gemma3", model_types=("gemma3_text", "gemma3"),
                 **{**_LLAMA_LAYOUT, "layer_index_attrs": ("layer_idx", "self_attn.layer_idx")})

GPT_OSS = ArchMap(
    family="gpt_oss", model_types=("gpt_oss",),
    **{**_LLAMA_LAYOUT, "mlp": {"router": "mlp.router", "experts": "mlp.experts"}},
    moe=True,
    # experts.gate_up_proj is (experts, hidden, 2 x units) with gate and up interleaved.
    mlp_units=(("mlp.experts.gate_up_proj", 2, 2, "in"),
               ("mlp.experts.gate_up_proj_bias", 1, 2, "in"),
               ("mlp.experts.down_proj", 1, 1, "out")),
    block_outputs=("self_attn.o_proj", "mlp.experts.down_proj", "mlp.experts.down_proj_bias"),
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
    intermediate_key="n_inner",
    conv1d=True,
    fused_qkv="blocks",
    lora_targets=("c_attn", "c_proj"),
)

GPT_NEOX = ArchMap(
    family="gpt_neox",
    model_types=("gpt_neox",),
    layers="gpt_neox.layers",
    embed="gpt_neox.embed_in",
    final_norm="gpt_neox.final_layer_norm",
    lm_head="lm_head",
    attention={"qkv": "attention.query_key_value", "o": "attention.dense"},
    mlp={"up": "mlp.dense_h_to_4h", "down": "mlp.dense_4h_to_h"},
    num_layers_key="num_hidden_layers",
    layer_index_attrs=("attention.layer_idx",),
    fused_qkv="heads",
    lora_targets=("query_key_value", "dense"),
)

BERT = ArchMap(
    family="bert",
    model_types=("bert",),
    layers="encoder.layer",
    embed="embeddings.word_embeddings",
    pos_embed="embeddings.position_embeddings",
    final_norm=None,
    lm_head=None,
    attention={"q": "attention.self.query", "k": "attention.self.key",
               "v": "attention.self.value", "o": "attention.output.dense"},
    mlp={"up": "intermediate.dense", "down": "output.dense"},
    num_layers_key="num_hidden_layers",
    layer_index_attrs=("attention.self.layer_idx",),
    lora_targets=("query", "key", "value"),
    causal=False,
    post_norm=True,
)

FAMILIES: dict[str, ArchMap] = {
    m.family: m for m in (GPT2, LLAMA, MISTRAL, QWEN2, QWEN3, GEMMA3, GPT_NEOX, GPT_OSS, BERT)
}


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
        "To add a family, add an ArchMap for it in transplant/models/families.py."
    )
