"""The zoo: small models trained from scratch by `method=pretrain`, addressed as `zoo/<name>`.

Each lives in `<cache>/zoo/<name>/` as an ordinary model directory; its `key.json` is the
recipe that built it.
"""

from __future__ import annotations

import re
from pathlib import Path

from transplant.cache import cache_root

ZOO_PREFIX = "zoo/"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class ZooModelMissingError(FileNotFoundError):
    pass


def zoo_dir() -> Path:
    return cache_root() / "zoo"


def zoo_model_dir(name: str) -> Path:
    if not NAME.match(name):
        raise ValueError(f"zoo model name {name!r}: use letters, digits, '_', '.', '-'")
    path = zoo_dir() / name
    if not (path / "key.json").exists():
        built = sorted(p.name for p in zoo_dir().glob("*") if (p / "key.json").exists()) \
            if zoo_dir().is_dir() else []
        raise ZooModelMissingError(
            f"zoo model {name!r} is not built in {zoo_dir()} (built: {built or 'none'}); "
            "build it with `transplant method=pretrain method.recipe.name=" + name + " ...` "
            "or `transplant -m experiment=zoo`")
    return path
