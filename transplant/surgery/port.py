"""Port a PEFT module trained on one host model onto another (Sabry & Belz 2024).

`port(directory, host)` reads a module saved in peft's format (`adapter_config.json` +
`adapter_model.safetensors`) and applies it to `host`. Before anything touches the host, the
file's tensors are compared with those the module would have on it (from a weightless copy of
the host on the meta device): every missing, unexpected or mis-shaped tensor is named in one
PortError, and the host is left as it was. peft itself only warns about missing keys.

`sampled_like` is the paper's sampled control: each tensor replaced by draws from a normal with
that tensor's mean and standard deviation.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from peft import PeftConfig, PeftModel, get_peft_model, get_peft_model_state_dict
from peft.utils import set_peft_model_state_dict
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, PreTrainedModel

import transplant.surgery.bottleneck  # noqa: F401  (registers the bottleneck adapter with peft)
import transplant.surgery.compacter  # noqa: F401  (registers Compacter)

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"


class PortError(ValueError):
    """A module file is unreadable, or does not fit the host it is ported to."""


def read_module(directory: str | Path) -> tuple[PeftConfig, dict[str, torch.Tensor]]:
    """The module's peft config and its tensors (keys as peft saves them)."""
    directory = Path(directory)
    for name in (ADAPTER_CONFIG, ADAPTER_WEIGHTS):
        if not (directory / name).is_file():
            raise PortError(f"{directory} is not a PEFT module directory: no {name}")
    try:
        config = PeftConfig.from_pretrained(str(directory))
        tensors = load_file(directory / ADAPTER_WEIGHTS)
    except Exception as e:  # JSON, an unknown peft_type, a damaged safetensors header
        raise PortError(f"{directory} is not a readable PEFT module: {type(e).__name__}: {e}"
                        ) from e
    return config, tensors


# Prompt-learning configs record these from the host they were made on; on another host peft
# must read them from that host, or a module of the wrong width would pass the check. The base
# model's name is the host's too (peft fills it in; a stale one only earns a rename warning).
HOST_FIELDS = ("token_dim", "num_layers", "num_attention_heads", "base_model_name_or_path")


def for_host(config: PeftConfig) -> PeftConfig:
    """A copy of `config` that takes its host-derived fields from the host it is applied to."""
    config = copy.deepcopy(config)
    for name in HOST_FIELDS:
        if hasattr(config, name):
            setattr(config, name, None)
    return config


def expected_shapes(host: PreTrainedModel, config: PeftConfig) -> dict[str, tuple[int, ...]]:
    """The module's tensors, as peft saves them, that `config` creates on `host`'s shapes.
    Built on the meta device: costs no memory and leaves `host` untouched."""
    with torch.device("meta"):
        skeleton = AutoModelForCausalLM.from_config(host.config)
        try:
            wrapped = get_peft_model(skeleton, for_host(config))
        except ValueError as e:  # peft: no module of the host matches the target modules
            raise PortError(f"the module does not fit this {host.config.model_type} host: {e}"
                            ) from e
    return {k: tuple(v.shape) for k, v in get_peft_model_state_dict(wrapped).items()}


def fit_problems(tensors: dict[str, torch.Tensor],
                 expected: dict[str, tuple[int, ...]]) -> list[str]:
    """Every missing, unexpected or mis-shaped tensor, by name (empty: the module fits)."""
    problems = [f"missing {k} {list(s)}" for k, s in sorted(expected.items())
                if k not in tensors]
    problems += [f"unexpected {k} {list(t.shape)}" for k, t in sorted(tensors.items())
                 if k not in expected]
    problems += [f"{k}: module {list(t.shape)} != host {list(expected[k])}"
                 for k, t in sorted(tensors.items())
                 if k in expected and tuple(t.shape) != expected[k]]
    return problems


def sampled_like(tensors: dict[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
    """Each tensor replaced by draws from N(mean, std) of that tensor, seeded; a one-element
    tensor keeps its value (its spread is undefined)."""
    generator = torch.Generator().manual_seed(seed)
    out = {}
    for key in sorted(tensors):  # a fixed order: the same seed gives the same draws
        t = tensors[key].float()
        std = t.std() if t.numel() > 1 else torch.zeros(())
        draw = torch.randn(t.shape, generator=generator) * std + t.mean()
        out[key] = draw.to(tensors[key].dtype)
    return out


def port(directory: str | Path, host: PreTrainedModel, *, trainable: bool = False,
         sample_seed: int | None = None) -> PeftModel:
    """`host` wrapped with the module saved in `directory` (its sampled control with
    `sample_seed`); `trainable`: its tensors train further. Raises PortError naming every
    tensor that does not fit, before the host is touched."""
    config, tensors = read_module(directory)
    config = for_host(config)
    problems = fit_problems(tensors, expected_shapes(host, config))
    if problems:
        raise PortError(f"the module in {directory} does not fit this host "
                        f"({len(problems)} tensor(s)): " + "; ".join(problems))
    if sample_seed is not None:
        tensors = sampled_like(tensors, sample_seed)
    config.inference_mode = not trainable
    model = get_peft_model(host, config)
    set_peft_model_state_dict(model, tensors)
    return model
