"""The PEFT modules of the portability study, built for a model family from a few numbers.

Each kind is a peft config: LoRA, prefix tuning, prompt tuning and IA3 from peft itself; the
bottleneck adapter and Compacter registered with peft here. Placement follows the papers: LoRA
on the family's attention projections, adapters after the MLP's output projection (Pfeiffer),
IA3 on keys, values and the MLP's output projection's input.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from transplant.choice import Choice
from transplant.models.arch import ArchMap

if TYPE_CHECKING:
    from peft import PeftConfig


class PeftKind(Choice):
    lora = "lora"
    prefix = "prefix"  # prefix tuning: trained keys and values at every layer
    prompt = "prompt"  # prompt tuning: trained input embeddings
    ia3 = "ia3"
    bottleneck = "bottleneck"  # Houlsby / Pfeiffer adapters
    compacter = "compacter"


def peft_config(kind: str, arch: ArchMap, r: int = 16, virtual_tokens: int = 16,
                phm_dim: int = 4, targets: list[str] | None = None) -> PeftConfig:
    """The peft config of a `kind` module on a model of family `arch`; `r`: LoRA rank or
    adapter bottleneck; `virtual_tokens`: prefix/prompt length; `targets`: module names
    (None: the family's defaults above)."""
    # peft and torch only here: the method's schema imports PeftKind at start-up
    from peft import IA3Config, LoraConfig, PrefixTuningConfig, PromptTuningConfig

    from transplant.surgery.bottleneck import BottleneckConfig
    from transplant.surgery.compacter import CompacterConfig

    task = "CAUSAL_LM"
    down = arch.mlp["down"]
    if kind == PeftKind.lora:
        return LoraConfig(task_type=task, r=r, lora_alpha=2 * r,
                          target_modules=list(targets or arch.lora_targets),
                          fan_in_fan_out=arch.conv1d)
    if kind == PeftKind.prefix:
        return PrefixTuningConfig(task_type=task, num_virtual_tokens=virtual_tokens)
    if kind == PeftKind.prompt:
        return PromptTuningConfig(task_type=task, num_virtual_tokens=virtual_tokens)
    if kind == PeftKind.ia3:
        kv = [arch.attention[k] for k in ("k", "v") if k in arch.attention]
        kv = kv or [arch.attention["qkv"]]
        return IA3Config(task_type=task, target_modules=list(targets or [*kv, down]),
                         feedforward_modules=[down], fan_in_fan_out=arch.conv1d)
    if kind == PeftKind.bottleneck:
        return BottleneckConfig(task_type=task, r=r, target_modules=list(targets or [down]))
    if kind == PeftKind.compacter:
        return CompacterConfig(task_type=task, r=r, phm_dim=phm_dim,
                               target_modules=list(targets or [down]))
    raise ValueError(f"PEFT module kind {kind!r}: expected one of "
                     f"{', '.join(k.value for k in PeftKind)}")
