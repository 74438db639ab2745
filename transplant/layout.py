"""The files and folders of a run directory (DESIGN §5): the one place that spells them.

    outputs/<study>/<run-id>/
      config.yaml         the resolved config
      status.json         running | done | failed | preempted (+ error, host, times, provenance)
      metrics.json        flat final metrics, written atomically, only for a finished run
      metric_specs.json   what each metric is (kind, direction, unit, level), in declared order
      docs/<role>.json    per-document (or per-example) scores of an evaluation
      logs/               Lightning CSV logs (logs/metrics.csv), W&B offline files
      adapter/            a trained adapter (lora)
      resume/<phase>/     preemption checkpoints while the run is unfinished
      claim.json          held by the process running it

Pure paths: no torch, no Hydra, so that `results/` can read records with it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CONFIG = "config.yaml"
STATUS = "status.json"
METRICS = "metrics.json"
METRIC_SPECS = "metric_specs.json"
DOCS = "docs"
LOGS = "logs"
ADAPTER = "adapter"
RESUME = "resume"
CLAIM = "claim.json"

# What an archive keeps of a finished run; metric specs are absent from records written before
# runs declared them (results read those through metrics.legacy_spec).
RECORD_FILES = (CONFIG, STATUS, METRICS)
OPTIONAL_RECORD_FILES = (METRIC_SPECS,)
# What an attempt's start clears, so an earlier attempt's outputs never look current.
ATTEMPT_OUTPUTS = (LOGS, DOCS, ADAPTER)


@dataclass(frozen=True)
class RunLayout:
    """The paths of one run directory."""

    dir: Path

    @property
    def config(self) -> Path:
        return self.dir / CONFIG

    @property
    def status(self) -> Path:
        return self.dir / STATUS

    @property
    def metrics(self) -> Path:
        return self.dir / METRICS

    @property
    def metric_specs(self) -> Path:
        return self.dir / METRIC_SPECS

    @property
    def docs(self) -> Path:
        return self.dir / DOCS

    def doc(self, role: str) -> Path:
        """Per-document scores of one evaluation role (`target`, `retention`, ...)."""
        return self.docs / f"{role}.json"

    def packed_doc(self, role: str) -> Path:
        """The same, gzipped, as `transplant-archive` keeps it."""
        return self.docs / f"{role}.json.gz"

    @property
    def logs(self) -> Path:
        return self.dir / LOGS

    @property
    def loss_log(self) -> Path:
        """Lightning's CSV log: the training curves."""
        return self.logs / "metrics.csv"

    @property
    def adapter(self) -> Path:
        return self.dir / ADAPTER

    @property
    def resume(self) -> Path:
        return self.dir / RESUME

    def resume_phase(self, phase: str) -> Path:
        return self.resume / phase

    @property
    def claim(self) -> Path:
        return self.dir / CLAIM
