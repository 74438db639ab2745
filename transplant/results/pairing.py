"""Every arm against a reference arm, paired by seed (and replicate) and document: the
perplexity ratio or the accuracy difference, bootstrapped over documents and seeds."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from transplant.results.stats import (
    load_docs,
    paired_accuracy_difference,
    paired_log_ppl_difference,
    paired_seed_difference,
)
from transplant.results.tables import _in_order, _sharing, runs_of


def paired_table(study_dir: Path, df: pd.DataFrame, arms: list[str],
                 reference: str, replicates: tuple[str, ...] = ()) -> pd.DataFrame:
    """Every arm against the reference arm, paired by seed and document and bootstrapped: the
    perplexity ratio, or the accuracy difference for runs scored by example. In a study of
    several factors the reference run is the one that shares the arm's other factors (the
    scratch run of the same module and host pair), and where runs have replicates
    (`replicates`: the donor's seed) the one of the same replicate too: a graft on donor 1 is
    paired with the reference graft on donor 1."""
    ref = runs_of(df, reference, "--reference")
    key = reference.partition("=")[0]
    shared = [a for a in arms if a != key and a in ref and ref[a].notna().any()]
    by = ["seed", *(r for r in replicates if r in df)]
    rows = []
    for name, group in df.groupby(arms, dropna=False, sort=True):
        if group["run"].isin(ref["run"]).all():
            continue
        row = dict(zip(arms, name if isinstance(name, tuple) else (name,), strict=True))
        pairs = _pairs(group, _sharing(ref, row, shared), by)
        cells = {k: v for role in ("target", "retention") if pairs
                 for k, v in _paired_cells(study_dir, df.set_index("run"), pairs, role).items()}
        if cells:  # an arm with no reference run of its own factors is not compared
            rows.append({**row, **cells})
    # a factor an arm does not have: blank, as above
    return _in_order(pd.DataFrame(rows), arms).fillna("")


def _paired_cells(study_dir: Path, runs: pd.DataFrame, pairs: list[tuple[str, str]],
                  role: str) -> dict[str, str]:
    """One role's paired difference: by seed and document where every run of `pairs` kept
    its per-document scores, else by seed alone from the records' metrics (accuracy and mean
    NLL, whichever the runs have)."""
    a = [load_docs(study_dir, x, role) for x, _ in pairs]
    b = [load_docs(study_dir, y, role) for _, y in pairs]
    if all(d is not None for d in a + b):
        accuracy = "predicted" in a[0]
        d = (paired_accuracy_difference if accuracy else paired_log_ppl_difference)(a, b)
        return _paired_cell(role, accuracy, d, f"{d['seeds']} x {d['docs']}")
    cells = {}
    for accuracy, kind in ((True, "acc"), (False, "nll")):
        values = _seed_metric(runs, pairs, role, kind)
        if values is not None:
            d = paired_seed_difference(*values)
            cells |= _paired_cell(role, accuracy, d, f"{d['seeds']} x (by seed)")
    return cells


def _paired_cell(role: str, accuracy: bool, d: dict[str, float], paired: str
                 ) -> dict[str, str]:
    if accuracy:
        cell = f"{d['diff']:+.4f} [{d['ci_low']:+.4f}, {d['ci_high']:+.4f}]"
        return {f"{role} acc difference": cell, f"{role} seeds x docs": paired}
    cell = (f"{math.exp(d['diff']):.4f} [{math.exp(d['ci_low']):.4f}, "
            f"{math.exp(d['ci_high']):.4f}]")
    return {f"{role} ppl ratio": cell, f"{role} seeds x docs": paired}


def _seed_metric(runs: pd.DataFrame, pairs: list[tuple[str, str]], role: str, kind: str
                 ) -> tuple[list[float], list[float]] | None:
    """One number per run of `pairs` from the records' metrics: the role's accuracy or mean NLL
    (the log of its perplexity where a run records only that); None where some run lacks it."""
    names = {x for pair in pairs for x in pair}
    if kind == "acc":
        acc = f"{role}_acc"
        if acc not in runs or not runs.loc[list(names), acc].notna().all():
            return None
        value = runs[acc]
    else:
        nll, ppl = f"{role}_nll", f"{role}_ppl"
        if nll in runs and runs.loc[list(names), nll].notna().all():
            value = runs[nll]
        elif ppl in runs and runs.loc[list(names), ppl].notna().all():
            value = np.log(runs[ppl].astype(float))
        else:
            return None
    return [value[x] for x, _ in pairs], [value[y] for _, y in pairs]


def _pairs(group: pd.DataFrame, ref: pd.DataFrame, by: list[str]) -> list[tuple[str, str]]:
    """(run, reference run) by seed and replicates (`by`); a reference run once
    (deterministic) pairs with all."""
    if len(ref) == 1:
        return [(r, ref["run"].iloc[0]) for r in group["run"]]

    def keys(runs: pd.DataFrame) -> list[tuple[str, ...]]:
        # the seed as a number ("01" is seed 1); a replicate a run leaves unset is "-"
        return [(str(int(row["seed"])), *("-" if pd.isna(row[k]) else str(row[k])
                                          for k in by[1:]))
                for _, row in runs.iterrows()]

    ref_keys = keys(ref)
    if len(set(ref_keys)) < len(ref_keys):
        raise ValueError(f"--reference: {len(ref)} reference runs share {' and '.join(by)}; "
                         "they differ in a factor the runs do not name (a replicate factor: "
                         "--replicate)")
    by_key = dict(zip(ref_keys, ref["run"], strict=True))
    return [(r, by_key[k]) for r, k in zip(group["run"], keys(group), strict=True)
            if k in by_key]
