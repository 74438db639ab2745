"""The package's layers (DESIGN §3): imports point downward, no two modules import each other
(directly or round a loop), `results/` reads records without the layers that make them, and
`surgery/` and `analysis/` know nothing of Hydra, Lightning or W&B. Read from the source, every
import counted, those inside functions too."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGE = REPO / "transplant"


def _module(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module a file imports (`from a import b` counts `a.b` where that is a module)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return out


MODULES = {_module(p): p for p in PACKAGE.rglob("*.py")}
GRAPH = {m: {i for i in _imports(p) if i in MODULES and i != m} for m, p in MODULES.items()}


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []
    sys.setrecursionlimit(10_000)

    def visit(m: str) -> None:
        index[m] = low[m] = len(index)
        stack.append(m)
        for n in GRAPH[m]:
            if n not in index:
                visit(n)
                low[m] = min(low[m], low[n])
            elif n in stack:
                low[m] = min(low[m], index[n])
        if low[m] == index[m]:
            component = []
            while True:
                n = stack.pop()
                component.append(n)
                if n == m:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for m in sorted(GRAPH):
        if m not in index:
            visit(m)
    return found


def test_no_module_imports_round_a_loop():
    # A package's __init__ that lists its modules lazily is not a loop with them.
    cycles = [c for c in _cycles() if not all(m.startswith(c[0]) for m in c)]
    assert cycles == []


def _reachable(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        m = todo.pop()
        for n in GRAPH[m] - seen:
            seen.add(n)
            todo.append(n)
    return seen


@pytest.mark.parametrize("layer", ["transplant.results"])
def test_results_read_records_without_the_layers_that_make_them(layer):
    below = ("transplant.methods", "transplant.training", "transplant.eval",
             "transplant.surgery", "transplant.analysis", "transplant.models",
             "transplant.data", "transplant.app")
    for m in (m for m in MODULES if m.startswith(layer)):
        # grid.py composes a study's configs to name its points: Hydra's schemas, explicitly
        direct = {i for i in GRAPH[m] if i.startswith(below)}
        assert direct == set(), m
        assert not any(i.split(".")[0] == "torch" for i in _imports(MODULES[m])), m


@pytest.mark.parametrize("layer", ["transplant.surgery", "transplant.analysis"])
def test_surgery_and_analysis_know_nothing_of_hydra_lightning_or_wandb(layer):
    for m in (m for m in MODULES if m.startswith(layer)):
        reached = {m, *_reachable(m)}
        outside = {i.split(".")[0] for r in reached for i in _imports(MODULES[r])}
        assert outside.isdisjoint({"hydra", "lightning", "wandb", "submitit"}), m
