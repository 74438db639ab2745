"""The methods, one file each; a method joins the framework by one line in METHODS."""

from hydra.core.config_store import ConfigStore

from transplant.methods import (
    finetune,
    graft,
    grow,
    organ,
    peft_port,
    pretrain,
    theseus,
    zero_shot,
)
from transplant.methods.method import Method

METHODS: dict[str, Method] = {m.name: m for m in (
    zero_shot.METHOD,
    finetune.FULL_FT,
    finetune.LORA,
    pretrain.METHOD,
    organ.METHOD,
    grow.METHOD,
    graft.METHOD,
    peft_port.METHOD,
    theseus.METHOD,
)}


def register_method_schemas() -> None:
    """Each method's schema as `method/_<name>`, named in its conf/method/<name>.yaml."""
    store = ConfigStore.instance()
    for method in METHODS.values():
        store.store(group="method", name=f"_{method.name}", node=method.schema)


__all__ = ["METHODS", "Method", "register_method_schemas"]
