"""The run contract (DESIGN §5): one deterministic directory per grid point.

outputs/<study>/<run-id>/ holds config.yaml, status.json (running | done | failed | preempted),
metrics.json (written atomically, only for a finished run), logs/, and while a preempted
run waits to resume, resume/ (its training checkpoint). The run id comes from
the overrides that identify the grid point, never from a clock, so a relaunched sweep finds
its earlier runs and skips the finished ones.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from transplant.atomic import read_json, write_json, write_text
from transplant.layout import ATTEMPT_OUTPUTS, RunLayout
from transplant.metrics import MetricSpec
from transplant.provenance import provenance

if TYPE_CHECKING:
    from lightning.pytorch.loggers import Logger

# Config keys that do not change a run's result: they are not part of a run's identity, not
# compared when a finished run is relaunched, and not part of cache keys. The one list.
NOT_RESULT = ("study", "experiment", "force", "paths", "logger", "hydra",
              "trainer.enable_progress_bar", "trainer.log_every_n_steps")


def affects_result(key: str) -> bool:
    """Whether a dotted config key (or an override's key) can change a run's result."""
    return not any(key == p or key.startswith(p + ".") for p in NOT_RESULT)


def identity(overrides: list[str]) -> dict[str, str]:
    """The identifying `key=value` pairs of a job's command-line overrides, sorted by key."""
    out = {}
    for item in overrides:
        key, _, value = item.lstrip("+~").partition("=")
        if affects_result(key):
            out[key] = value
    return dict(sorted(out.items()))


def run_id(ident: dict[str, str], max_len: int = 200) -> str:
    """A readable, filesystem-safe directory name for an identity, with a hash of the whole
    identity where the name is not it verbatim (names stay well under the usual 255-byte
    limit). A long identity keeps as many whole pairs as fit and says it left the rest out
    (",..."): a name never shows a value cut short, as "trainer.max_steps=4" for 40 would."""
    if not ident:
        return "default"
    text = ",".join(f"{k}={v}" for k, v in ident.items())
    pairs = [re.sub(r"[^A-Za-z0-9=,._+-]", "-", f"{k}={v}") for k, v in ident.items()]
    safe = ",".join(pairs)
    if len(safe) <= max_len and safe == text:
        return safe
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    if len(safe) + 11 <= max_len:
        return f"{safe}-{digest}"
    kept: list[str] = []
    while pairs and len(",".join([*kept, pairs[0], "..."])) + 11 <= max_len:
        kept.append(pairs.pop(0))
    return f"{','.join([*kept, '...'])}-{digest}"


def run_dir(study_dir: Path, ident: dict[str, str]) -> Path:
    """The run directory of an identity in a study."""
    return study_dir / run_id(ident)


def _slurm_fields() -> dict[str, str]:
    """The SLURM job (array task, restart count) running this attempt, if any."""
    names = {"SLURM_JOB_ID": "slurm_job_id", "SLURM_ARRAY_JOB_ID": "slurm_array_job_id",
             "SLURM_ARRAY_TASK_ID": "slurm_array_task_id",
             "SLURM_RESTART_COUNT": "slurm_restart_count"}
    return {field: os.environ[var] for var, field in names.items() if var in os.environ}


@dataclass
class RunRecord:
    dir: Path
    identity: dict[str, str]

    @property
    def layout(self) -> RunLayout:
        return RunLayout(self.dir)

    @property
    def status_path(self) -> Path:
        return self.layout.status

    @property
    def metrics_path(self) -> Path:
        return self.layout.metrics

    def status(self) -> dict[str, Any] | None:
        return read_json(self.status_path) if self.status_path.exists() else None

    def is_done(self) -> bool:
        s = self.status()
        return bool(s and s["status"] == "done" and self.metrics_path.exists())

    def result_diffs(self, resolved: dict[str, Any]) -> list[str]:
        """How the result-determining config differs from the one recorded in the directory."""
        path = self.layout.config
        if not path.exists():
            return []
        old, new = flatten(yaml.safe_load(path.read_text())), flatten(resolved)
        # Keys only one side has are not compared: a newer version of the schema adds options
        # (with defaults) that an older finished run could not have recorded.
        return [f"{k}: {old[k]!r} -> {new[k]!r}" for k in sorted(set(old) & set(new))
                if affects_result(k) and old[k] != new[k]]

    def start(self, config_yaml: str) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.metrics_path.unlink(missing_ok=True)  # a rerun never shows an older result
        # An earlier attempt's logs, per-document scores and artefacts never look current.
        for old in ATTEMPT_OUTPUTS:
            shutil.rmtree(self.dir / old, ignore_errors=True)
        write_text(self.layout.config, config_yaml)
        old = self.status() or {}
        attempts = int(old.get("attempts", 0)) + 1
        # What preempted attempts spent counts while their checkpoint is what this one resumes.
        spent = (old.get("spent", {}) if old.get("status") == "preempted"
                 and self.layout.resume.exists() else {})
        # A fresh record: no end, error or reason of an earlier attempt.
        self._write_status("running", fresh=True, start=time.time(), attempts=attempts,
                           spent=spent, **provenance())

    def finish(self, metrics: dict[str, Any], specs: dict[str, MetricSpec]) -> None:
        """Record the metrics and what each is (`metrics.resolve`), then `done`."""
        # A list: the declaration order is the report's column order (JSON objects get sorted).
        write_json(self.layout.metric_specs, [s.as_dict() for s in specs.values()])
        write_json(self.metrics_path, metrics)  # metrics first: `done` implies they exist
        self._write_status("done", end=time.time())

    def fail(self, error: str) -> None:
        self._write_status("failed", end=time.time(), error=error)

    def preempt(self, reason: str, spent: dict[str, float]) -> None:
        """Stopped by a signal after checkpointing: the next launch resumes, it is no failure.
        `spent` (cpu_s, wall_s) adds to what earlier preempted attempts spent."""
        total = self.spent()
        total = {k: total.get(k, 0.0) + v for k, v in spent.items()}
        self._write_status("preempted", end=time.time(), reason=reason, spent=total)

    def spent(self) -> dict[str, float]:
        """Seconds (cpu_s, wall_s) that the preempted attempts this one resumes spent. A run
        killed without a signal (SIGKILL, a lost node) has no time to record what it spent."""
        return dict((self.status() or {}).get("spent", {}))

    def _write_status(self, status: str, fresh: bool = False, **fields: Any) -> None:
        old = {} if fresh else self.status() or {}
        record = {**old, **fields, "status": status, "identity": self.identity,
                  "host": socket.gethostname(), "pid": os.getpid(), **_slurm_fields()}
        write_json(self.status_path, record)


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config as dotted keys to leaves: {"trainer": {"precision": ...}} ->
    {"trainer.precision": ...}."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


@dataclass(frozen=True)
class Artifact:
    """A file or directory a run produced that others reuse: an organ, an adapter."""

    path: Path
    kind: str  # organ | adapter
    name: str


@dataclass
class RunContext:
    """What a method gets besides its config: where to write, the cache, and how to log."""

    dir: Path
    cache: Path  # the cache root (paths.cache)
    logger: Logger | None = None
    artifacts: list[Artifact] = field(default_factory=list)  # logged with the run (W&B)

    def add_artifact(self, path: Path, kind: str, name: str) -> None:
        self.artifacts.append(Artifact(Path(path), kind, name))

    @property
    def layout(self) -> RunLayout:
        return RunLayout(self.dir)

    def resume_dir(self, name: str = "train") -> Path:
        """Where a training phase keeps its preemption checkpoint: per run, per phase (a cache
        entry's build is named by its key, so a resumed job never loads another's)."""
        return self.layout.resume_phase(name)
