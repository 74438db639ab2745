"""Experiment loggers: CSV (default), W&B (offline unless told otherwise), or none."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import CSVLogger, Logger
from omegaconf import DictConfig

from transplant.layout import RunLayout


def make_logger(cfg: DictConfig, run_dir: Path, run_name: str,
                identity: dict[str, str], config: dict[str, Any]) -> Logger | None:
    """The job's logger. W&B: group = study, job_type = method, identity in the run config."""
    logs = RunLayout(run_dir).logs
    if cfg.logger.name == "none":
        return None
    if cfg.logger.name == "csv":
        return CSVLogger(save_dir=str(logs), name="", version="")
    from lightning.pytorch.loggers import WandbLogger

    logs.mkdir(parents=True, exist_ok=True)
    return WandbLogger(
        project=cfg.logger.project, entity=cfg.logger.entity, name=f"{cfg.study}/{run_name}",
        group=cfg.study, job_type=cfg.method.name, tags=_tags(cfg),
        save_dir=str(logs), mode=str(cfg.logger.mode),
        config={"identity": identity, **identity, **config},
        reinit="finish_previous",
    )


def finish_logger(logger: Logger | None, metrics: dict[str, Any], ok: bool,
                  artifacts: Sequence[Any] = ()) -> None:
    """Record final metrics (and, for W&B, the run's organs and adapters as artifacts) and close
    the run, so each job of a multirun is its own W&B run."""
    if logger is None:
        return
    numeric = {k: v for k, v in metrics.items() if isinstance(v, int | float)}
    try:
        from lightning.pytorch.loggers import WandbLogger

        if isinstance(logger, WandbLogger):
            run = logger.experiment
            run.summary.update(metrics)
            for artifact in artifacts:
                run.log_artifact(_wandb_artifact(artifact))
            run.finish(exit_code=0 if ok else 1)
            return
        if numeric:
            logger.log_metrics({f"final/{k}": v for k, v in numeric.items()})
    finally:
        logger.finalize("success" if ok else "failed")


def _wandb_artifact(artifact: Any) -> Any:
    """A W&B artifact of an organ file or adapter directory (names: letters, digits, -_.)."""
    import wandb

    name = re.sub(r"[^A-Za-z0-9._-]", "-", artifact.name)
    if len(name) > 128:  # W&B's limit; the hash keeps long names apart
        name = f"{name[:115]}-{hashlib.sha256(artifact.name.encode()).hexdigest()[:12]}"
    out = wandb.Artifact(name, type=artifact.kind, metadata={"path": str(artifact.path)})
    if artifact.path.is_dir():
        out.add_dir(str(artifact.path))
    else:
        out.add_file(str(artifact.path))
    return out


def _tags(cfg: DictConfig) -> list[str]:
    """The user's tags, plus the method and model, for filtering W&B tables (64 chars each)."""
    model = str(cfg.model.name).rstrip("/").rsplit("/", 1)[-1]
    tags = [*cfg.logger.tags, cfg.method.name, f"model:{model}"]
    return list(dict.fromkeys(t[:64] for t in tags))
