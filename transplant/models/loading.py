"""`load_model(spec)`: one entry point for embedded, tiny, local-directory and hub models."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from transplant.models.embedded import EMBEDDED, embedded_model_dir
from transplant.models.families import arch_for
from transplant.models.tiny import TINY_CONFIGS, tiny_model

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class ModelSpec:
    """What to load. `name`: an embedded model, a tiny config, a local directory or a hub id."""

    name: str
    dtype: str = "float32"
    seed: int = 0  # initialisation seed of tiny random models
    revision: str | None = None
    trust_remote_code: bool = False  # off unless the user turns it on


class ModelLoadError(RuntimeError):
    pass


def known_models() -> list[str]:
    return sorted([*EMBEDDED, *TINY_CONFIGS])


def model_config(spec: ModelSpec | str) -> PretrainedConfig:
    """The model's config alone (no weights), for validating a run before loading anything."""
    spec = ModelSpec(spec) if isinstance(spec, str) else spec
    if spec.name in TINY_CONFIGS:
        return TINY_CONFIGS[spec.name]
    try:
        return AutoConfig.from_pretrained(_source(spec), revision=spec.revision,
                                          trust_remote_code=spec.trust_remote_code)
    except OSError as e:
        raise ModelLoadError(_explain(spec, e)) from e


def load_model(spec: ModelSpec | str) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load (model, tokenizer) in eval mode. The family must have an architecture map."""
    spec = ModelSpec(spec) if isinstance(spec, str) else spec
    if spec.dtype not in DTYPES:
        raise ValueError(f"model.dtype {spec.dtype!r} is not one of {sorted(DTYPES)}")
    if spec.name in TINY_CONFIGS:
        model, tokenizer = tiny_model(spec.name, seed=spec.seed)
        return model.to(DTYPES[spec.dtype]), tokenizer
    source = _source(spec)
    config = model_config(spec)
    arch_for(config)  # fail before loading weights if the family is unsupported
    kwargs = dict(revision=spec.revision, trust_remote_code=spec.trust_remote_code)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=DTYPES[spec.dtype], **kwargs)
    except OSError as e:
        raise ModelLoadError(_explain(spec, e)) from e
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model.eval(), tokenizer


def _source(spec: ModelSpec) -> str:
    if spec.name in EMBEDDED:
        return str(embedded_model_dir(spec.name))
    path = Path(spec.name).expanduser()
    if path.is_dir():
        return str(path)
    if spec.name.startswith((".", "/", "~")) or spec.name.count("/") > 1:
        raise ModelLoadError(f"model {spec.name!r}: no such directory")
    return spec.name  # a hub id: only now may the hub be contacted


def _explain(spec: ModelSpec, error: OSError) -> str:
    return (
        f"could not load model {spec.name!r}: it is neither an embedded model "
        f"({', '.join(known_models())}) nor a local directory, and fetching it from the "
        f"Hugging Face hub failed ({error}). Without internet, use an embedded model or a "
        "local model directory."
    )
