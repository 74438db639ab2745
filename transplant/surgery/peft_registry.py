"""PEFT methods peft does not ship, registered with peft so they save, load and port like LoRA.

peft's `register_peft_method` accepts only names already in its `PeftType` enum, and AdapterHub's
`adapters` (which has bottleneck adapters and Compacter) pins an older transformers. So the enum
is extended first (aenum.extend_enum, by the author of Python's enum), then the method is
registered through peft's own function: `adapter_config.json` names the type, and
`PeftModel.from_pretrained` finds the config and tuner classes as for its own methods, once this
module has been imported (`import transplant.surgery.bottleneck` does it).
"""

from __future__ import annotations

from aenum import extend_enum
from peft.config import PeftConfig
from peft.mapping import PEFT_TYPE_TO_CONFIG_MAPPING
from peft.tuners.tuners_utils import BaseTuner
from peft.utils import register_peft_method
from peft.utils.peft_types import PeftType


def peft_type(name: str) -> PeftType:
    """The `PeftType` member of `name` (lower case), added to the enum if peft lacks it."""
    key = name.upper()
    if key not in PeftType.__members__:
        extend_enum(PeftType, key, key)
    return PeftType[key]


def register(name: str, config_cls: type[PeftConfig], model_cls: type[BaseTuner]) -> None:
    """Register a PEFT method under `name` (its `prefix` is `<name>_`); idempotent."""
    if peft_type(name) not in PEFT_TYPE_TO_CONFIG_MAPPING:
        register_peft_method(name=name, config_cls=config_cls, model_cls=model_cls)
