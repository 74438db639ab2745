"""The keys of cached products (DESIGN §5): one function derives each from the config sections
that determine the product, so that a product is rebuilt whenever one of them changes and is
shared whenever none does.

A key holds every result-affecting leaf (`runs.affects_result`) of the named sections as a
dotted name (`trainer.precision`), with `replace` for what the product takes from elsewhere (a
donor trained on `method.graft.donor_domain` has that as its `data.domain`) and `extra` for
what is not config (an organ's layer span, another product's hash). The kind's version is added
by the cache (`cache.VERSIONS`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from omegaconf import DictConfig, OmegaConf

from transplant.runs import affects_result, flatten

# A rate grid (and its extension) chooses which product a run keeps; it never determines the
# product made at one rate, so a grid's products are the single-rate runs' own.
NEVER = ("method.optim.lrs", "method.optim.lrs_extend")


_ABSENT = object()


def _under(key: str, prefixes: Collection[str]) -> bool:
    return any(key == p or key.startswith(p + ".") for p in prefixes)


def product_key(cfg: DictConfig, sections: Sequence[str], *, without: Collection[str] = (),
                replace: Mapping[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """The key of a product determined by `sections` of `cfg` (each a section such as `model`
    or a single key such as `seed`), less the keys under `without`, with `replace` applied
    (each a key of those sections) and `extra` added."""
    key: dict[str, Any] = {}
    for section in sections:
        node = OmegaConf.select(cfg, section, default=_ABSENT)
        if node is _ABSENT:
            raise KeyError(f"config has no key {section!r} (a product's key names it)")
        value = (OmegaConf.to_container(node, resolve=True, enum_to_str=True)
                 if isinstance(node, DictConfig) else _plain(node))
        key.update({k: v for k, v in flatten({section: value}).items()
                    if affects_result(k) and not _under(k, (*NEVER, *without))})
    for k, v in (replace or {}).items():
        if k not in key:
            raise KeyError(f"replace: {k!r} is not a key of sections {list(sections)}")
        key[k] = v
    return {**key, **extra}


def _plain(value: Any) -> Any:
    """A leaf as JSON keeps it: an Enum as its value, a ListConfig as a list."""
    if OmegaConf.is_config(value):
        return OmegaConf.to_container(value, resolve=True, enum_to_str=True)
    return getattr(value, "value", value)


def model_identity(cfg: DictConfig, name: str | None = None) -> dict[str, Any]:
    """What identifies a model a run loads (`methods.common.load`): the configured model, or
    model `name` loaded with the same options (its own revision: none)."""
    key = product_key(cfg, ["model"])
    if name is not None and name != cfg.model.name:
        key.update({"model.name": name, "model.revision": None})
    return key
