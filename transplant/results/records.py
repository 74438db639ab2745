"""Read the run records of a study directory into a pandas table."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd


@dataclass(frozen=True)
class StudyRecords:
    done: pd.DataFrame  # one row per finished run: identity fields, then metrics
    identity: tuple[str, ...]  # the override keys that name the runs (their identity), in order
    failed: list[tuple[str, str]]  # (run id, first line of the error)
    incomplete: list[tuple[str, str]]  # (run id, why): running or killed, or unreadable


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def read_study(study_dir: str | Path) -> StudyRecords:
    study_dir = Path(study_dir)
    if not study_dir.is_dir():
        raise FileNotFoundError(f"no study directory {study_dir}")
    rows, failed, incomplete = [], [], []
    identity: dict[str, None] = {}  # ordered union of the finished runs' override keys
    runs = sorted(p for p in study_dir.iterdir() if p.is_dir() and not p.name.startswith("_"))
    for run_dir in runs:
        status_path = run_dir / "status.json"
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
        elif state == "done" and (run_dir / "metrics.json").exists():
            metrics = json.loads((run_dir / "metrics.json").read_text())
            # The identity wins: `method=organ_in_place` names the arm, metrics say `organ`.
            rows.append({"run": run_dir.name, **metrics, **status.get("identity", {})})
            identity.update(dict.fromkeys(status.get("identity", {})))
        elif state == "preempted":
            incomplete.append((run_dir.name, f"preempted: {status.get('reason', '')}; "
                                             "relaunch to resume"))
        else:
            incomplete.append((run_dir.name, f"status {state!r}, pid {status.get('pid')} on "
                                             f"{status.get('host')}: running or killed"))
    return StudyRecords(pd.DataFrame(rows), tuple(identity), failed, incomplete)
