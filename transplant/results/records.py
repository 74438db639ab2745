"""Read the run records of a study directory into a pandas table."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from transplant.layout import RunLayout
from transplant.metrics import MetricSpec
from transplant.results.specs import LEGACY_NAMES, MetricSpecs


@dataclass(frozen=True)
class StudyRecords:
    done: pd.DataFrame  # one row per finished run: identity fields, then metrics
    identity: tuple[str, ...]  # the override keys that name the runs (their identity), in order
    failed: list[tuple[str, str]]  # (run id, first line of the error)
    incomplete: list[tuple[str, str]]  # (run id, why): running or killed, or unreadable
    specs: MetricSpecs = MetricSpecs()  # what each metric is (results/specs.py)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _metrics(layout: RunLayout) -> tuple[dict, dict[str, MetricSpec] | None]:
    """A finished run's metrics and their specs; None for a record older than specs, whose
    graft names are renamed to today's."""
    metrics = json.loads(layout.metrics.read_text())
    if layout.metric_specs.exists():
        specs = json.loads(layout.metric_specs.read_text())
        return metrics, {s["name"]: MetricSpec.from_dict(s) for s in specs}
    if metrics.get("method") == "graft":
        metrics = {LEGACY_NAMES.get(k, k): v for k, v in metrics.items()}
    return metrics, None


def read_study(study_dir: str | Path) -> StudyRecords:
    study_dir = Path(study_dir)
    if not study_dir.is_dir():
        raise FileNotFoundError(f"no study directory {study_dir}")
    rows, failed, incomplete, declared, legacy = [], [], [], [], {}
    identity: dict[str, None] = {}  # ordered union of the finished runs' override keys
    runs = sorted(p for p in study_dir.iterdir() if p.is_dir() and not p.name.startswith("_"))
    for run_dir in runs:
        layout = RunLayout(run_dir)
        status_path = layout.status
        if not status_path.exists():
            continue  # not a run directory (e.g. cache)
        try:
            status = json.loads(status_path.read_text())
        except json.JSONDecodeError as e:
            incomplete.append((run_dir.name, f"unreadable status.json ({e})"))
            continue
        state = status.get("status")
        if state == "failed":
            failed.append((run_dir.name, _first_line(status.get("error", ""))))
        elif state == "done" and layout.metrics.exists():
            metrics, specs = _metrics(layout)
            if specs is None:
                legacy.update(dict.fromkeys(metrics))
            else:
                declared.append(specs)
            # The identity wins: `method=organ_in_place` names the arm, metrics say `organ`.
            rows.append({"run": run_dir.name, **metrics, **status.get("identity", {})})
            identity.update(dict.fromkeys(status.get("identity", {})))
        elif state == "preempted":
            incomplete.append((run_dir.name, f"preempted: {status.get('reason', '')}; "
                                             "relaunch to resume"))
        else:
            incomplete.append((run_dir.name, f"status {state!r}, pid {status.get('pid')} on "
                                             f"{status.get('host')}: running or killed"))
    return StudyRecords(pd.DataFrame(rows), tuple(identity), failed, incomplete,
                        MetricSpecs.merged(declared, legacy))
