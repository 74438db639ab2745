"""What produced a number: the code version and the library versions, recorded with every run.

From a git checkout, the commit and whether the code a run executes differs from it
(`code_dirty`: the package, its configs and its requirements; not the READMEs, tests or the run
records a study archives in git, which a sweep rewrites while it runs); from an installed
package, its version. Numbers from a dirty tree cannot be traced to a commit, and the report
says so.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
from functools import cache
from pathlib import Path

LIBRARIES = ("torch", "transformers", "peft", "lightning", "hydra-core")
CODE = ("transplant", "conf", "pyproject.toml", "requirements-models.txt")  # what a run executes
REPORT = "transplant/results"  # the tables' code: no run imports it
_ROOT = Path(__file__).resolve().parent.parent


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                             timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def code_state(root: Path = _ROOT) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the checkout at `root`; (None, None) outside a git checkout. Dirty
    means the tracked CODE differs from the commit; untracked files do not count."""
    commit = _git(root, "rev-parse", "HEAD") if (root / ".git").exists() else None
    if commit is None:
        return None, None
    status = _git(root, "status", "--porcelain", "--untracked-files=no", "--", *CODE)
    return commit, None if status is None else bool(status)


def run_code_differences(commits: list[str], root: Path = _ROOT) -> list[str] | None:
    """The files of the code a run executes (CODE, less the report's) that differ between any
    two of `commits`; None where this is not a git checkout holding them all. Each commit is
    compared with the first: a file two commits disagree on differs from the first in one."""
    if not (root / ".git").exists():
        return None
    changed: set[str] = set()
    for commit in commits[1:]:
        out = _git(root, "diff", "--name-only", commits[0], commit, "--", *CODE,
                   f":(exclude){REPORT}")
        if out is None:
            return None
        changed.update(out.splitlines())
    return sorted(changed)


@cache
def provenance() -> dict[str, str | bool | None]:
    """{"code_commit", "code_dirty", "code_version", "<library>_version"...}: flat, for a run's
    metrics. The commit is None outside a git checkout."""
    commit, dirty = code_state()
    out: dict[str, str | bool | None] = {
        "code_commit": commit, "code_dirty": dirty,
        "code_version": importlib.metadata.version("transplant")}
    for lib in LIBRARIES:
        try:
            out[f"{lib.replace('-', '_')}_version"] = importlib.metadata.version(lib)
        except importlib.metadata.PackageNotFoundError:
            out[f"{lib.replace('-', '_')}_version"] = None
    return out
