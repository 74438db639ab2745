"""Tiny random models of each family (a few layers, hidden 64) for fast tests."""

from __future__ import annotations

import torch
from transformers import (
    AutoModelForCausalLM,
    GPT2Config,
    LlamaConfig,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from transplant.models.tokenizer import byte_tokenizer

VOCAB = 257  # byte_tokenizer: 256 bytes + <|endoftext|>

TINY_CONFIGS: dict[str, PretrainedConfig] = {
    "tiny_llama": LlamaConfig(
        vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
        bos_token_id=256, eos_token_id=256, pad_token_id=256, tie_word_embeddings=False,
    ),
    "tiny_gpt2": GPT2Config(
        vocab_size=VOCAB, n_embd=64, n_layer=4, n_head=4, n_positions=512,
        bos_token_id=256, eos_token_id=256, pad_token_id=256,
    ),
}


def tiny_model(name: str, seed: int = 0) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A freshly initialised tiny model; the same `seed` gives the same weights."""
    config = TINY_CONFIGS[name].__class__.from_dict(TINY_CONFIGS[name].to_dict())
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    return model.eval(), byte_tokenizer()
