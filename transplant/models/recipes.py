"""Model recipes for training from scratch: one config per family from a few shared numbers.

A recipe names the shape (layers, hidden size, heads) and borrows a tokenizer; the family's
config class and its own key names come from here, so `method=pretrain` needs no family code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase

# family -> transformers model_type of the Llama-style families (one config layout)
_LLAMA_LIKE = {"llama": "llama", "mistral": "mistral", "qwen2": "qwen2", "qwen3": "qwen3",
               "gemma3": "gemma3_text"}
PRETRAIN_FAMILIES = (*_LLAMA_LIKE, "gpt2", "gpt_neox")


@dataclass
class ModelRecipe:
    """The shape of a model built from scratch (method=pretrain's `recipe` extends it)."""

    family: str = "llama"
    layers: int = 4
    hidden: int = 128
    heads: int = 4
    kv_heads: int | None = None  # None: as many as query heads
    intermediate: int | None = None  # None: 4 x hidden (gelu MLPs) or 8/3 x hidden (gated)
    context: int = 512
    tie_embeddings: bool = True

    def as_dict(self) -> dict:
        return asdict(self)


def recipe_config(recipe: ModelRecipe, tokenizer: PreTrainedTokenizerBase) -> PretrainedConfig:
    from transformers import AutoConfig

    if recipe.family not in PRETRAIN_FAMILIES:
        raise ValueError(f"method.recipe.family={recipe.family!r}: expected one of "
                         f"{', '.join(PRETRAIN_FAMILIES)}")
    if recipe.hidden % recipe.heads:
        raise ValueError(f"method.recipe.hidden={recipe.hidden} is not divisible by "
                         f"method.recipe.heads={recipe.heads}")
    special = dict(vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
                   eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                   tie_word_embeddings=recipe.tie_embeddings)
    if recipe.family == "gpt2":
        return AutoConfig.for_model(
            "gpt2", n_embd=recipe.hidden, n_layer=recipe.layers, n_head=recipe.heads,
            n_inner=recipe.intermediate, n_positions=recipe.context, **special)
    if recipe.family == "gpt_neox":
        return AutoConfig.for_model(
            "gpt_neox", hidden_size=recipe.hidden, num_hidden_layers=recipe.layers,
            num_attention_heads=recipe.heads,
            intermediate_size=recipe.intermediate or 4 * recipe.hidden,
            max_position_embeddings=recipe.context, **special)
    # Gated MLPs at 8/3 x hidden have the parameter count of a 4 x hidden gelu MLP.
    intermediate = recipe.intermediate or 64 * round(8 * recipe.hidden / 3 / 64)
    return AutoConfig.for_model(
        _LLAMA_LIKE[recipe.family], hidden_size=recipe.hidden, num_hidden_layers=recipe.layers,
        num_attention_heads=recipe.heads, num_key_value_heads=recipe.kv_heads or recipe.heads,
        head_dim=recipe.hidden // recipe.heads, intermediate_size=intermediate,
        max_position_embeddings=recipe.context, **special)


def init_model(recipe: ModelRecipe, tokenizer: PreTrainedTokenizerBase,
               seed: int) -> PreTrainedModel:
    """A freshly initialised model of the recipe; the same seed gives the same weights."""
    import torch
    from transformers import AutoModelForCausalLM

    config = recipe_config(recipe, tokenizer)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return AutoModelForCausalLM.from_config(config, dtype=torch.float32)
