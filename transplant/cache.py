"""Content-addressed cache: `<root>/<kind>/<hash>/`, keyed by everything that determines the entry.

An entry is built once into a temporary directory and renamed into place under a file lock, so
parallel jobs of a sweep build it once and a killed build never looks like a finished entry.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from filelock import FileLock

from transplant.atomic import replacing, write_json

DEFAULT_ROOT = "outputs/cache"
# Part of every key. Raise it when a change makes every entry built by older code differ
# (another batch order), so they are rebuilt instead of silently reused.
PIPELINE_VERSION = 3
# Each kind's own version, part of its keys: raise one when a change makes that kind's entries
# differ (another file format, another recipe). A kind not listed cannot be cached.
VERSIONS = {"models": 1, "tokens": 3, "evals": 1, "activations": 1, "finetuned": 1,
            "organs": 1, "peft_modules": 1, "task_vectors": 1, "task_vectors_carried": 1,
            "calibration_moments": 1, "zoo": 1}


def cache_root() -> Path:
    """The cache root: $TRANSPLANT_CACHE, else `outputs/cache` under the working directory."""
    return Path(os.environ.get("TRANSPLANT_CACHE", DEFAULT_ROOT))


def versioned(kind: str, key: dict[str, Any]) -> dict[str, Any]:
    if kind not in VERSIONS:
        raise KeyError(f"cache kind {kind!r} has no version; expected one of "
                       f"{', '.join(sorted(VERSIONS))} (cache.VERSIONS)")
    return {**key, "pipeline_version": PIPELINE_VERSION, "kind_version": VERSIONS[kind]}


def key_hash(kind: str, key: dict[str, Any]) -> str:
    blob = json.dumps(versioned(kind, key), sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


class CacheKeyMismatchError(ValueError):
    """A named entry exists but was built from another key."""


def cached_dir(kind: str, key: dict[str, Any], build: Callable[[Path], None],
               root: str | os.PathLike | None = None) -> Path:
    """Return the directory of entry (kind, key), calling `build(tmp_dir)` to make it if absent."""
    return named_dir(kind, key_hash(kind, key), key, build, root)


def cached_json(kind: str, key: dict[str, Any], compute: Callable[[], Any],
                filename: str = "value.json", root: str | os.PathLike | None = None) -> Any:
    """A JSON value (an evaluation, activation statistics) computed once per key."""

    def build(out: Path) -> None:
        (out / filename).write_text(json.dumps(compute()))

    return json.loads((cached_dir(kind, key, build, root) / filename).read_text())


def named_dir(kind: str, name: str, key: dict[str, Any], build: Callable[[Path], None],
              root: str | os.PathLike | None = None) -> Path:
    """Like `cached_dir`, but the entry has a human name (e.g. a zoo model): an existing entry
    of that name built from another key is an error, never silently reused or replaced."""
    base = Path(root) if root is not None else cache_root()
    final = base / kind / name
    key = versioned(kind, key)
    if (final / "key.json").exists():
        _check_key(final, key)
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(final) + ".lock"):
        if (final / "key.json").exists():  # another process built it while we waited
            _check_key(final, key)
            return final
        with replacing(final, directory=True) as tmp:
            build(tmp)
            write_json(tmp / "key.json", key)  # written last: its presence marks a whole entry
    return final


def _check_key(entry: Path, key: dict[str, Any]) -> None:
    stored = json.loads((entry / "key.json").read_text())
    want = json.loads(json.dumps(key, sort_keys=True, default=str))
    if stored != want:
        keys = sorted(set(stored) | set(want))
        diffs = [f"{k}: {stored.get(k)!r} != {want.get(k)!r}" for k in keys
                 if stored.get(k) != want.get(k)]
        raise CacheKeyMismatchError(
            f"{entry} was built from another recipe ({'; '.join(diffs[:5])}); choose another "
            "name, or delete the entry to rebuild it")
