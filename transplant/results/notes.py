"""The report's prose: what protocol the numbers were measured under, which code and how
much compute produced them, and what a blank factor means."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from transplant.layout import RunLayout
from transplant.provenance import run_code_differences


def protocol_note(df: pd.DataFrame) -> str:
    parts = []
    for role, split in (("target", "test"), ("retention", "test"), ("val_target", "validation")):
        cols = [f"{role}_window", f"{role}_stride", f"{role}_tokens"]
        if all(c in df.columns for c in cols):
            uniq = df[cols].dropna().drop_duplicates()
            for _, r in uniq.iterrows():
                docs = df.get(f"{role}_docs")
                of_docs = (f" of {int(docs.dropna().iloc[0])} documents"
                           if docs is not None and docs.notna().any() else "")
                parts.append(f"{role}: window {int(r.iloc[0])}, stride {int(r.iloc[1])}, "
                             f"{int(r.iloc[2])} predicted tokens{of_docs} ({split} split)")
    return "; ".join(parts)


def commits_note(df: pd.DataFrame) -> tuple[str, bool]:
    """('commit abc1234', mixed?): the code behind the numbers; dirty trees are named."""
    if "code_commit" not in df:
        return "code version not recorded (runs older than provenance)", False
    versions = df[["code_commit", "code_dirty"]].astype(str).drop_duplicates()
    names = sorted(f"{c[:10]}{' (dirty tree)' if d == 'True' else ''}"
                   for c, d in versions.itertuples(index=False))
    if len(names) == 1:
        return "commit " + names[0], False
    dirty = (versions["code_dirty"] == "True").any()
    return ("commits " + ", ".join(names)
            + _differences(sorted(set(versions["code_commit"])), dirty)), True


def _differences(commits: list[str], dirty: bool) -> str:
    """What the mixed commits change in the code that computed the runs' numbers."""
    if dirty:  # uncommitted code is in no commit: git cannot say what it changed
        return " (a dirty tree's code is in no commit: what differs is unknown)"
    changed = run_code_differences(commits)
    if changed is None:
        return " (this is not a git checkout holding them all: what differs is unknown)"
    if not changed:
        return (" (they differ in nothing a run executes: only the report, documentation, "
                "tests or run records)")
    shown = ", ".join(changed[:8]) + (f" and {len(changed) - 8} more" if len(changed) > 8 else "")
    return f" (the code a run executes differs between them in {shown})"


def compute_note(df: pd.DataFrame) -> str:
    """What the numbers cost: the finished runs' wall time summed (each run holds the whole
    machine; runs that shared it with other work count their slower time), and their CPU time
    (`cpu_s`: all threads, not counting pauses) where the runs record it."""
    if "wall_s" not in df or df["wall_s"].isna().all():
        return ""
    timed = df["wall_s"].dropna()
    cpu = df["cpu_s"].dropna() if "cpu_s" in df else pd.Series(dtype=float)
    of = "" if len(cpu) == len(timed) else f" over the {len(cpu)} runs that record it"
    cpu_note = f", {cpu.sum() / 3600:.2f} CPU hours (sum of cpu_s{of})" if len(cpu) else ""
    return (f" Compute: {len(timed)} runs, {timed.sum() / 3600:.2f} hours of run wall time "
            f"(sum of wall_s, median {timed.median():.0f} s a run){cpu_note}.")


def defaults_note(study_dir: Path, df: pd.DataFrame, arms: list[str]) -> str:
    """What a blank factor means: the runs that leave it unset ran at their config's value
    (`method.organ.trained: True`), read from each such run's resolved config.yaml; a factor
    their configs lack (a LoRA rank of full fine-tuning) stays unexplained, as it is absent."""
    notes = []
    for key in arms:
        values: set[str] = set()
        for run in df.loc[df[key].isna(), "run"]:
            path = RunLayout(study_dir / run).config
            node = yaml.safe_load(path.read_text()) if path.exists() else None
            for part in key.split("."):
                node = node.get(part) if isinstance(node, dict) else None
            if node is not None and not isinstance(node, dict | list):
                values.add(str(node))
        if values:
            notes.append(f"{key} {' or '.join(sorted(values, key=str))}")
    return f" A blank factor is the config's value: {'; '.join(notes)}." if notes else ""
