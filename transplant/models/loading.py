"""`load_model(spec)`: one entry point for embedded, tiny, zoo, local-directory and hub models."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

import torch
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoTokenizer,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from transplant.config import ModelConfig
from transplant.models.embedded import EMBEDDED, embedded_model_dir
from transplant.models.errors import ModelLoadError
from transplant.models.families import arch_for
from transplant.models.tiny import TINY_CONFIGS, tiny_model
from transplant.models.zoo import ZOO_PREFIX, zoo_model_dir

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


Cache = str | os.PathLike | None  # the cache root (dequantised and zoo models); None: default


def known_models() -> list[str]:
    return sorted([*EMBEDDED, *TINY_CONFIGS])


def model_config(spec: ModelConfig | str, cache: Cache = None) -> PretrainedConfig:
    """The model's config alone (no weights). An embedded GGUF model is dequantised first:
    to check a run, use `models.facts.model_facts`, which never does."""
    spec = ModelConfig(spec) if isinstance(spec, str) else spec
    if spec.name in TINY_CONFIGS:
        return TINY_CONFIGS[spec.name]
    try:
        return AutoConfig.from_pretrained(_source(spec, cache), revision=spec.revision,
                                          trust_remote_code=spec.trust_remote_code)
    except OSError as e:
        raise ModelLoadError(_explain(spec, e)) from e


def load_model(spec: ModelConfig | str,
               cache: Cache = None) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load (model, tokenizer) in eval mode. The family must have an architecture map, and the
    checkpoint must hold exactly the tensors the architecture expects. `cache`: the cache root
    (where embedded models are dequantised and zoo models live)."""
    spec = ModelConfig(spec) if isinstance(spec, str) else spec
    if spec.dtype not in DTYPES:
        raise ValueError(f"model.dtype {spec.dtype!r} is not one of {sorted(DTYPES)}")
    if spec.name in TINY_CONFIGS:
        model, tokenizer = tiny_model(spec.name, seed=spec.seed)
        return model.to(DTYPES[spec.dtype]), tokenizer
    source = _source(spec, cache)
    arch = arch_for(model_config(spec, cache))  # fail before loading weights if unsupported
    auto = AutoModelForCausalLM if arch.causal else AutoModel
    kwargs = dict(revision=spec.revision, trust_remote_code=spec.trust_remote_code)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
        # Mismatched shapes come back in `info` (and fail below, named) instead of a
        # RuntimeError that only points at a log.
        model, info = auto.from_pretrained(source, dtype=DTYPES[spec.dtype],
                                           output_loading_info=True,
                                           ignore_mismatched_sizes=True, **kwargs)
    except OSError as e:
        raise ModelLoadError(_explain(spec, e)) from e
    _check_loading_info(spec.name, source, info)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model.eval(), tokenizer


def model_source(spec: ModelConfig | str, cache: Cache = None) -> str | None:
    """Where plain transformers can load the model from: an absolute directory (embedded, zoo,
    local) or a hub id; None for a tiny config, which has no files."""
    spec = ModelConfig(spec) if isinstance(spec, str) else spec
    if spec.name in TINY_CONFIGS:
        return None
    source = _source(spec, cache)
    return str(Path(source).resolve()) if Path(source).is_dir() else source


def load_tokenizer(name: str, cache: Cache = None) -> PreTrainedTokenizerBase:
    """The tokenizer of a model (embedded, tiny, zoo, directory or hub id), without weights."""
    if name in TINY_CONFIGS:
        return tiny_model(name)[1]
    tokenizer = AutoTokenizer.from_pretrained(_source(ModelConfig(name), cache))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _check_loading_info(name: str, source: str, info: dict) -> None:
    # transformers only warns about these and initialises missing weights at random, which
    # would silently turn a damaged checkpoint into a different model.
    problems = []
    for key, what in (("missing_keys", "missing"), ("unexpected_keys", "unexpected"),
                      ("mismatched_keys", "shape-mismatched")):
        items = sorted(_describe(k) for k in info.get(key) or ())
        if items:
            shown = ", ".join(items[:8]) + (f" (+{len(items) - 8} more)" if len(items) > 8 else "")
            problems.append(f"{len(items)} {what} tensor(s): {shown}")
    if problems:
        raise ModelLoadError(f"model {name!r} at {source}: " + "; ".join(problems))


def _describe(item: object) -> str:
    if isinstance(item, tuple):  # (name, checkpoint shape, model shape)
        name, *shapes = item
        return f"{name} " + " != ".join(str(tuple(s)) for s in shapes)
    return str(item)


def _source(spec: ModelConfig, cache: Cache) -> str:
    if spec.name in EMBEDDED:
        return str(embedded_model_dir(spec.name, cache))
    if spec.name.startswith(ZOO_PREFIX):
        return str(zoo_model_dir(spec.name[len(ZOO_PREFIX):], cache))
    path = Path(spec.name).expanduser()
    if path.is_dir():
        return str(path)
    if spec.name.startswith((".", "/", "~")) or spec.name.count("/") > 1:
        raise ModelLoadError(f"model {spec.name!r}: no such directory")
    if "/" not in spec.name:
        raise ModelLoadError(
            f"model {spec.name!r} is not an embedded model ({', '.join(known_models())}), a "
            "zoo/<name> or a local directory; a hub model is named <org>/<name>")
    _check_hub_reachable(spec.name)
    return spec.name  # a hub id: only now may the hub be contacted


def _check_hub_reachable(name: str) -> None:
    """Fail in a second, with one line, instead of minutes of retries and tracebacks, when the
    hub cannot be reached (offline mode reads the local hub cache instead)."""
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on"):
        return
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=3).close()
    except OSError as e:
        raise ModelLoadError(
            f"model {name!r} looks like a hub id, but the hub ({url.geturl()}) cannot be "
            f"reached ({e}). Without internet, use an embedded model "
            f"({', '.join(known_models())}) or a local model directory.") from None


def _explain(spec: ModelConfig, error: OSError) -> str:
    return (
        f"could not load model {spec.name!r}: it is neither an embedded model "
        f"({', '.join(known_models())}) nor a local directory, and fetching it from the "
        f"Hugging Face hub failed ({error}). Without internet, use an embedded model or a "
        "local model directory."
    )
