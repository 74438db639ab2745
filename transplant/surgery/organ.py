"""Neural Organ Transplantation (Al-Zuraiqi 2026): organs as standalone checkpoints.

An organ is k contiguous decoder layers cut from a donor. It is saved as one safetensors file
whose header metadata is a manifest of what it needs from a recipient (family, widths, heads,
vocabulary, rope settings), where it came from, and the sha256 of its tensors, so a damaged
file or an incompatible recipient is refused before anything changes.

Tensor names inside an organ are relative to the organ: `<i>.<name in layer>`, i = 0..k-1.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from transformers import PretrainedConfig, PreTrainedModel

from transplant.atomic import replacing
from transplant.models.arch import set_path
from transplant.models.families import arch_for
from transplant.models.layers import decoder_layers, fresh_layer, set_decoder_layers
from transplant.surgery.implant_mode import ImplantMode

FORMAT = "transplant-organ/1"
# Config fields an organ's layers depend on; each must match in the recipient.
SHAPE_KEYS = ("hidden_size", "num_attention_heads", "num_key_value_heads", "head_dim",
              "intermediate_size", "vocab_size", "num_local_experts", "num_experts_per_tok")
ROPE_KEYS = ("rope_parameters", "rope_theta", "rope_scaling", "rotary_pct", "sliding_window")


class OrganError(ValueError):
    """An organ file is damaged, or an organ does not fit a recipient."""

@dataclass
class Organ:
    tensors: dict[str, torch.Tensor]
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def length(self) -> int:
        return int(self.manifest["length"])

    def layer_state(self, i: int) -> dict[str, torch.Tensor]:
        prefix = f"{i}."
        return {k[len(prefix):]: v for k, v in self.tensors.items() if k.startswith(prefix)}

    def save(self, path: str | os.PathLike) -> Path:
        """Write the organ atomically: a reader never sees a half-written file."""
        path = Path(path)
        manifest = {k: v for k, v in self.manifest.items() if k != "sha256"}
        manifest["sha256"] = organ_sha256(self.tensors, manifest)
        with replacing(path) as tmp:
            save_file({k: v.contiguous() for k, v in self.tensors.items()}, tmp,
                      metadata={"transplant": json.dumps(manifest, sort_keys=True)})
        self.manifest = manifest
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Organ:
        """Read and verify an organ file; a damaged or foreign file raises OrganError."""
        path = Path(path)
        try:
            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata() or {}
                tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (not a dict)
        except FileNotFoundError:
            raise
        except Exception as e:  # safetensors raises its own errors for truncated headers/data
            raise OrganError(f"{path} is not a readable organ file (truncated or damaged?): "
                             f"{e}") from e
        if "transplant" not in meta:
            raise OrganError(f"{path} is a safetensors file without an organ manifest")
        try:
            manifest = json.loads(meta["transplant"])
        except (ValueError, RecursionError) as e:
            raise OrganError(f"{path} is damaged: its manifest is not valid JSON ({e})") from e
        if not isinstance(manifest, dict):
            raise OrganError(f"{path} is damaged: its manifest is not a JSON object")
        if manifest.get("format") != FORMAT:
            raise OrganError(f"{path}: organ format {manifest.get('format')!r}, expected {FORMAT}")
        digest = organ_sha256(tensors, manifest)
        if digest != manifest.get("sha256"):
            raise OrganError(f"{path} is damaged: the sha256 of its tensors and manifest is "
                             f"{digest[:16]}..., the file says {str(manifest.get('sha256'))[:16]}"
                             "... (changed since it was written)")
        check_manifest(manifest, tensors, path)
        return cls(tensors, manifest)


def organ_sha256(tensors: dict[str, torch.Tensor], manifest: dict[str, Any]) -> str:
    """The digest an organ file carries: its tensors and its manifest (all but the digest
    itself), so neither can be changed unnoticed."""
    body = json.dumps({k: v for k, v in manifest.items() if k != "sha256"}, sort_keys=True,
                      default=str)
    return hashlib.sha256(f"{tensors_sha256(tensors)}|{body}".encode()).hexdigest()


def check_manifest(manifest: dict[str, Any], tensors: dict[str, torch.Tensor],
                   path: str | os.PathLike = "organ") -> None:
    """Refuse a manifest whose fields are missing, mistyped or out of range, or whose layer
    count does not match its tensors, naming the field: nothing else reads it unchecked."""
    def need(ok: bool, field: str, expected: str) -> None:
        if not ok:
            raise OrganError(f"{path}: manifest field {field}={manifest.get(field)!r} is "
                             f"invalid: expected {expected}")

    def is_int(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    from transplant.models.families import FAMILIES

    need(manifest.get("family") in FAMILIES, "family", f"one of {', '.join(FAMILIES)}")
    need(isinstance(manifest.get("model_type"), str), "model_type", "a string")
    length = manifest.get("length")
    need(is_int(length) and length >= 1, "length", "an integer >= 1")
    shape = manifest.get("shape")
    need(isinstance(shape, dict) and all(is_int(shape.get(k)) and shape[k] > 0
                                         for k in ("hidden_size", "num_attention_heads",
                                                   "vocab_size")),
         "shape", "an object with positive integers hidden_size, num_attention_heads and "
         "vocab_size")
    need(all(is_int(v) and v > 0 for v in shape.values()), "shape",
         "positive integers only")
    need(isinstance(manifest.get("rope"), dict), "rope", "an object")
    per_layer = manifest.get("per_layer")
    need(isinstance(per_layer, dict) and all(isinstance(v, list) and len(v) == length
                                             for v in per_layer.values()),
         "per_layer", f"an object of lists with one entry per layer ({length})")
    layers = manifest.get("source_layers")
    need(isinstance(layers, list) and len(layers) == length and all(map(is_int, layers)),
         "source_layers", f"a list of {length} layer indices")
    need(isinstance(manifest.get("provenance"), dict), "provenance", "an object")
    found = {name.partition(".")[0] for name in tensors}
    need(found == {str(i) for i in range(length)}, "length",
         f"the number of layers its tensors hold ({len(found)}: {sorted(found)[:8]})")


def tensors_sha256(tensors: dict[str, torch.Tensor]) -> str:
    """A digest of names, dtypes, shapes and bytes, independent of file layout."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def organ_manifest(config: PretrainedConfig, start: int, length: int, source: str,
                   provenance: dict[str, Any] | None = None) -> dict[str, Any]:
    arch = arch_for(config)
    n_layers = getattr(config, arch.num_layers_key)
    if not (start >= 0 and length > 0 and start + length <= n_layers):
        raise OrganError(f"organ layers {start}..{start + length - 1} are outside the donor's "
                         f"{n_layers} layers (0..{n_layers - 1})")
    per_layer = {key: list(getattr(config, key))[start:start + length]
                 for key in arch.per_layer_config_keys if getattr(config, key, None) is not None}
    return {
        "format": FORMAT,
        "family": arch.family,
        "model_type": config.model_type,
        "shape": {k: getattr(config, k) for k in SHAPE_KEYS if getattr(config, k, None)
                  is not None},
        "rope": {k: getattr(config, k) for k in ROPE_KEYS if getattr(config, k, None)
                 is not None},
        "per_layer": per_layer,
        "source_model": source,
        "source_layers": list(range(start, start + length)),
        "length": length,
        "provenance": provenance or {},
    }


def extract_organ(model: PreTrainedModel, start: int, length: int,
                  provenance: dict[str, Any] | None = None) -> Organ:
    """Copy decoder layers start..start+length-1 of `model` into an Organ."""
    manifest = organ_manifest(model.config, start, length,
                              str(getattr(model.config, "_name_or_path", "") or ""), provenance)
    layers = decoder_layers(model)
    tensors = {f"{i}.{name}": t.detach().clone()
               for i in range(length) for name, t in layers[start + i].state_dict().items()}
    return Organ(tensors, manifest)


def compatibility_problems(config: PretrainedConfig, organ: Organ) -> list[str]:
    """Every way the organ does not fit a recipient with this config (empty: it fits)."""
    arch = arch_for(config)
    problems = []
    if arch.family != organ.manifest["family"]:
        problems.append(f"organ family {organ.manifest['family']} != recipient family "
                        f"{arch.family}")
    for key, value in organ.manifest["shape"].items():
        mine = getattr(config, key, None)
        if mine != value:
            problems.append(f"organ {key.replace('_', ' ')} {value} != recipient "
                            f"{key.replace('_', ' ')} {mine}")
    for key, value in organ.manifest["rope"].items():
        mine = getattr(config, key, None)
        if _plain(mine) != _plain(value):
            problems.append(f"organ {key} {value} != recipient {key} {mine}")
    return problems


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def implant(recipient: PreTrainedModel, organ: Organ, position: int,
            mode: str = "replace") -> PreTrainedModel:
    """Put the organ's layers into `recipient` (changed in place and returned).

    replace: layers position..position+k-1 become the organ. insert: the organ goes before
    layer `position` (position = n_layers appends), adding k layers of depth. Config, layer
    indices and per-layer config entries follow. An incompatible organ raises OrganError
    naming every mismatch, with the recipient untouched.
    """
    if mode not in tuple(ImplantMode):
        raise OrganError(f"implant mode {mode!r}: expected 'replace' or 'insert'")
    problems = compatibility_problems(recipient.config, organ)
    layers = list(decoder_layers(recipient))
    n, k = len(layers), organ.length
    last = n - k if mode == "replace" else n
    if not 0 <= position <= last:
        problems.append(f"position {position} is outside 0..{last} for a {k}-layer organ "
                        f"({mode}) in a {n}-layer recipient")
    if problems:
        raise OrganError("organ does not fit the recipient: " + "; ".join(problems))

    new_layers = []
    for i in range(k):
        per_layer = {key: values[i] for key, values in organ.manifest["per_layer"].items()}
        layer = fresh_layer(recipient, position + i, per_layer)
        layer.load_state_dict(organ.layer_state(i), strict=True)
        new_layers.append(layer)
    cut = position + k if mode == "replace" else position
    stack = layers[:position] + new_layers + layers[cut:]
    per_layer_values = _per_layer_after(recipient.config, organ, position, cut)
    set_decoder_layers(recipient, stack)
    for key, values in per_layer_values.items():
        setattr(recipient.config, key, values)
    return recipient


def _per_layer_after(config: PretrainedConfig, organ: Organ, position: int,
                     cut: int) -> dict[str, list]:
    out = {}
    for key, organ_values in organ.manifest["per_layer"].items():
        old = list(getattr(config, key))
        out[key] = old[:position] + list(organ_values) + old[cut:]
    return out


def organ_model(donor: PreTrainedModel, start: int, length: int) -> PreTrainedModel:
    """The paper's training wrapper: donor embedding -> organ -> donor final norm and LM head.

    A copy of the donor with only layers start..start+length-1, so the model's own forward
    (positions, masks, rotary embeddings) runs the organ. Freeze all but the layers to train it.
    """
    arch = arch_for(donor.config)
    keep = list(range(start, start + length))
    layers = decoder_layers(donor)
    # Copy the donor without its layer stack, then give it copies of the organ's layers.
    set_path(donor, arch.layers, torch.nn.ModuleList())
    try:
        wrapper = copy.deepcopy(donor)
    finally:
        set_path(donor, arch.layers, layers)
    set_decoder_layers(wrapper, [copy.deepcopy(layers[i]) for i in keep], source_indices=keep)
    return wrapper


def extract_organ_from_checkpoint(model_dir: str | os.PathLike, start: int, length: int,
                                  provenance: dict[str, Any] | None = None) -> Organ:
    """Cut an organ straight from a (sharded) safetensors checkpoint directory, reading only
    the organ's tensors, so the donor never has to fit in memory."""
    from transformers import AutoConfig

    model_dir = Path(model_dir)
    config = AutoConfig.from_pretrained(model_dir)
    arch = arch_for(config)
    manifest = organ_manifest(config, start, length, str(model_dir), provenance)
    index = model_dir / "model.safetensors.index.json"
    if index.exists():
        weight_map = json.loads(index.read_text())["weight_map"]
    elif (model_dir / "model.safetensors").exists():
        with safe_open(str(model_dir / "model.safetensors"), framework="pt") as f:
            weight_map = {k: "model.safetensors" for k in f.keys()}  # noqa: SIM118
    else:
        raise OrganError(f"{model_dir} has no model.safetensors(.index.json)")
    wanted: dict[str, dict[str, str]] = {}  # shard -> checkpoint name -> organ name
    for i in range(length):
        prefix = arch.layer_prefix(start + i)
        names = [k for k in weight_map if k.startswith(prefix)]
        if not names:
            raise OrganError(f"{model_dir}: no tensors named {prefix}* for layer {start + i}")
        for name in names:
            wanted.setdefault(weight_map[name], {})[name] = f"{i}.{name[len(prefix):]}"
    tensors = {}
    for shard, names in wanted.items():
        with safe_open(str(model_dir / shard), framework="pt") as f:
            for name, organ_name in names.items():
                tensors[organ_name] = f.get_tensor(name)
    return Organ(tensors, manifest)
