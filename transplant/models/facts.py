"""What a run's checks need to know about a model, read without loading (or building) weights.

An embedded model's facts are recorded with it (`EMBEDDED`; a slow test compares them with the
dequantised model's config), so checking a run never dequantises a GGUF file; any other model's
come from its config (a tiny config, or the `config.json` of a zoo, local or hub model).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from transplant.config import ModelConfig
from transplant.models.embedded import EMBEDDED
from transplant.models.families import FAMILIES, arch_for

if TYPE_CHECKING:
    from transformers import PretrainedConfig


@dataclass(frozen=True)
class ModelFacts:
    name: str
    family: str
    layers: int
    context: int  # longest sequence the positions support
    hidden: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab: int

    @property
    def causal(self) -> bool:
        return FAMILIES[self.family].causal

    # The shapes an organ or a ported module must agree on (organ.py checks more, per layer).
    SHAPE_FIELDS = ("family", "hidden", "heads", "kv_heads", "intermediate", "vocab")

    def shape_mismatches(self, other: ModelFacts) -> list[str]:
        """`<field> <mine> != <theirs>` for every shape field that differs."""
        return [f"{f} {getattr(self, f)} != {getattr(other, f)}" for f in self.SHAPE_FIELDS
                if getattr(self, f) != getattr(other, f)]


def model_facts(spec: ModelConfig | str, cache: str | os.PathLike | None = None) -> ModelFacts:
    """Facts of the model `spec` names; `cache` is the cache root (zoo models live there)."""
    spec = ModelConfig(spec) if isinstance(spec, str) else spec
    if spec.name in EMBEDDED:
        e = EMBEDDED[spec.name]
        return ModelFacts(spec.name, e.family, e.layers, e.context_length, e.hidden, e.heads,
                          e.kv_heads, e.intermediate, e.vocab)
    from transplant.models.loading import model_config  # transformers: only for these

    return facts_of_config(spec.name, model_config(spec, cache))


def facts_of_config(name: str, config: PretrainedConfig) -> ModelFacts:
    arch = arch_for(config)
    context = next((int(getattr(config, a)) for a in ("max_position_embeddings", "n_positions",
                                                       "n_ctx") if getattr(config, a, None)),
                   1 << 30)
    heads = config.num_attention_heads
    return ModelFacts(
        name=name, family=arch.family, layers=getattr(config, arch.num_layers_key),
        context=context, hidden=config.hidden_size, heads=heads,
        kv_heads=getattr(config, "num_key_value_heads", None) or heads,
        intermediate=getattr(config, arch.intermediate_key, None) or 4 * config.hidden_size,
        vocab=config.vocab_size)
