"""Per-family architecture maps: where each part of a model lives, as data.

Surgery code asks the map ("where are the decoder layers?", "which config key holds the layer
count?") instead of testing family names. A family is added by adding one `ArchMap` to
`transplant/models/families.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class ArchMap:
    """Where the parts of one model family live. Paths are dotted attribute paths.

    `layers`, `embed`, `pos_embed`, `final_norm` and `lm_head` are relative to the top model
    (the `...ForCausalLM`); `attention` and `mlp` map role -> path relative to one decoder layer.
    """

    family: str
    model_types: tuple[str, ...]
    layers: str
    embed: str
    final_norm: str | None  # None for post-norm encoders (BERT): each layer ends in its norm
    lm_head: str | None  # None for encoders loaded without a head
    attention: dict[str, str]
    mlp: dict[str, str]
    num_layers_key: str  # config attribute holding the layer count
    layer_index_attrs: tuple[str, ...] = ()  # per-layer attributes holding the layer's index
    per_layer_config_keys: tuple[str, ...] = ()  # config lists with one entry per layer
    pos_embed: str | None = None
    conv1d: bool = False  # GPT-2 style Conv1D: weight is (in, out), not nn.Linear's (out, in)
    # How a fused attention "qkv" projection lays out its output: "blocks" [q | k | v] (GPT-2),
    # "heads" [q_h | k_h | v_h] per head (GPT-NeoX); None: separate projections.
    fused_qkv: str | None = None
    lora_targets: tuple[str, ...] = field(default=())  # module names peft's LoRA targets
    causal: bool = True  # a decoder LM (AutoModelForCausalLM); False: an encoder (AutoModel)
    post_norm: bool = False  # layer norm after the residual add (BERT), not before
    moe: bool = False  # the MLP is a mixture of experts (router + experts)
    intermediate_key: str = "intermediate_size"  # config key of the MLP hidden width
    # MLP tensors indexed by hidden unit, as (path in layer, unit axis, interleave, "in"|"out"):
    # "in" tensors produce the units, "out" tensors consume them. Empty: derived from `mlp`.
    mlp_units: tuple[tuple[str, int, int, str], ...] = ()
    # Parameters or modules whose zeroing makes a block the identity (its residual branches'
    # last projections). Empty: attention "o" and mlp "down".
    block_outputs: tuple[str, ...] = ()

    def unit_tensors(self) -> tuple[tuple[str, int, int, str], ...]:
        """The MLP's hidden-unit tensors (see `mlp_units`), derived for dense MLPs."""
        if self.mlp_units:
            return self.mlp_units
        # nn.Linear weights are (out, in); GPT-2's Conv1D stores (in, out).
        in_axis, out_axis = (1, 0) if self.conv1d else (0, 1)
        out = []
        for role in ("gate", "up"):
            if role in self.mlp:
                out += [(f"{self.mlp[role]}.weight", in_axis, 1, "in"),
                        (f"{self.mlp[role]}.bias", 0, 1, "in")]
        out.append((f"{self.mlp['down']}.weight", out_axis, 1, "out"))
        return tuple(out)

    def output_projections(self) -> tuple[str, ...]:
        return self.block_outputs or (self.attention["o"], self.mlp["down"])

    def layer_prefix(self, index: int) -> str:
        """State-dict key prefix of decoder layer `index`, e.g. `model.layers.3.`."""
        return f"{self.layers}.{index}."


def owner_of(root: nn.Module, path: str) -> tuple[nn.Module, str]:
    """(the module holding the attribute at dotted `path`, the attribute's name)."""
    parent_path, _, name = path.rpartition(".")
    return (root.get_submodule(parent_path) if parent_path else root), name


def set_path(root: nn.Module, path: str, value: object) -> None:
    """Set the submodule, parameter or attribute at dotted `path` (e.g. `model.layers`)."""
    owner, name = owner_of(root, path)
    setattr(owner, name, value)


def linear_module_names(arch: ArchMap) -> set[str]:
    """The last path component of every projection the map names (what peft's LoRA
    `target_modules` match), plus the LM head."""
    paths = [*arch.attention.values(), *arch.mlp.values(), arch.lm_head or ""]
    return {p.rpartition(".")[2] for p in paths if p}
