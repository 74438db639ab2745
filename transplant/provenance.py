"""What produced a number: the code version and the library versions, recorded with every run.

From a git checkout, the commit and whether tracked files differ from it (`code_dirty`); from
an installed package, its version. Numbers from a dirty tree cannot be traced to a commit, and
the report says so.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
from functools import cache
from pathlib import Path

LIBRARIES = ("torch", "transformers", "peft", "lightning", "hydra-core")
_ROOT = Path(__file__).resolve().parent.parent


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(_ROOT), *args], capture_output=True, text=True,
                             timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


@cache
def provenance() -> dict[str, str | bool | None]:
    """{"code_commit", "code_dirty", "code_version", "<library>_version"...}: flat, for a run's
    metrics. The commit is None outside a git checkout."""
    commit = _git("rev-parse", "HEAD") if (_ROOT / ".git").exists() else None
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no")) if commit else None
    out: dict[str, str | bool | None] = {
        "code_commit": commit, "code_dirty": dirty,
        "code_version": importlib.metadata.version("transplant")}
    for lib in LIBRARIES:
        try:
            out[f"{lib.replace('-', '_')}_version"] = importlib.metadata.version(lib)
        except importlib.metadata.PackageNotFoundError:
            out[f"{lib.replace('-', '_')}_version"] = None
    return out
