"""Tiny random models of each family (4 layers, hidden 64, byte tokenizer) for fast tests."""

from __future__ import annotations

import torch
from transformers import (
    AutoModel,
    AutoModelForCausalLM,
    BertConfig,
    Gemma3TextConfig,
    GPT2Config,
    GPTNeoXConfig,
    GptOssConfig,
    LlamaConfig,
    MistralConfig,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    Qwen2Config,
    Qwen3Config,
)

from transplant.models.tokenizer import byte_tokenizer

VOCAB = 257  # byte_tokenizer: 256 bytes + <|endoftext|>
EOT = 256
_SPECIAL = dict(bos_token_id=EOT, eos_token_id=EOT, pad_token_id=EOT)
_DECODER = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=4,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                **_SPECIAL)
# Mixed layer types, so that moving layers must carry their attention type with them.
_MIXED = ["sliding_attention", "full_attention", "sliding_attention", "full_attention"]


def _configs() -> dict[str, PretrainedConfig]:
    return {
        "tiny_gpt2": GPT2Config(vocab_size=VOCAB, n_embd=64, n_layer=4, n_head=4,
                                n_positions=512, **_SPECIAL),
        "tiny_llama": LlamaConfig(**_DECODER, tie_word_embeddings=False),
        "tiny_mistral": MistralConfig(**_DECODER, sliding_window=None),
        "tiny_qwen2": Qwen2Config(**_DECODER),
        "tiny_qwen3": Qwen3Config(**_DECODER, head_dim=16),
        "tiny_gemma3": Gemma3TextConfig(**_DECODER, head_dim=16, sliding_window=8,
                                        layer_types=_MIXED),
        "tiny_gpt_neox": GPTNeoXConfig(vocab_size=VOCAB, hidden_size=64, intermediate_size=128,
                                       num_hidden_layers=4, num_attention_heads=4,
                                       max_position_embeddings=512, **_SPECIAL),
        "tiny_gpt_oss": GptOssConfig(**{**_DECODER, "intermediate_size": 64}, head_dim=16,
                                     num_local_experts=4, num_experts_per_tok=2,
                                     sliding_window=8, layer_types=_MIXED,
                                     rope_parameters={"rope_type": "default",
                                                      "rope_theta": 10000.0}),
        "tiny_bert": BertConfig(vocab_size=VOCAB, hidden_size=64, intermediate_size=128,
                                num_hidden_layers=4, num_attention_heads=4,
                                max_position_embeddings=512, pad_token_id=EOT),
    }


TINY_CONFIGS: dict[str, PretrainedConfig] = _configs()


def tiny_model(name: str, seed: int = 0) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A freshly initialised tiny model; the same `seed` gives the same weights."""
    from transplant.models.families import arch_for

    config = TINY_CONFIGS[name].__class__.from_dict(TINY_CONFIGS[name].to_dict())
    auto = AutoModelForCausalLM if arch_for(config).causal else AutoModel
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = auto.from_config(config, dtype=torch.float32)
    return model.eval(), byte_tokenizer()
