"""The zoo: small models trained from scratch by `method=pretrain`, addressed as `zoo/<name>`.

Each lives in `<cache>/zoo/<name>/` as an ordinary model directory; its `key.json` is the
recipe that built it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from transplant.cache import cache_root

ZOO_PREFIX = "zoo/"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class ZooModelMissingError(FileNotFoundError):
    pass


def zoo_dir(cache: str | os.PathLike | None = None) -> Path:
    return Path(cache if cache is not None else cache_root()) / "zoo"


def zoo_model_dir(name: str, cache: str | os.PathLike | None = None) -> Path:
    if not NAME.match(name):
        raise ValueError(f"zoo model name {name!r}: use letters, digits, '_', '.', '-'")
    zoo = zoo_dir(cache)
    path = zoo / name
    if not (path / "key.json").exists():
        built = sorted(p.name for p in zoo.glob("*") if (p / "key.json").exists()) \
            if zoo.is_dir() else []
        raise ZooModelMissingError(
            f"zoo model {name!r} is not built in {zoo} (built: {built or 'none'}); "
            "build it with `transplant method=pretrain method.recipe.name=" + name + " ...` "
            "or `transplant -m experiment=zoo`")
    return path
