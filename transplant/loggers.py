"""Experiment loggers: CSV (default), W&B (offline unless told otherwise), or none."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import CSVLogger, Logger
from omegaconf import DictConfig


def make_logger(cfg: DictConfig, run_dir: Path, run_name: str,
                identity: dict[str, str], config: dict[str, Any]) -> Logger | None:
    """The job's logger. W&B: group = study, job_type = method, identity in the run config."""
    logs = run_dir / "logs"
    if cfg.logger.name == "none":
        return None
    if cfg.logger.name == "csv":
        return CSVLogger(save_dir=str(logs), name="", version="")
    from lightning.pytorch.loggers import WandbLogger

    logs.mkdir(parents=True, exist_ok=True)
    return WandbLogger(
        project=cfg.logger.project, entity=cfg.logger.entity, name=f"{cfg.study}/{run_name}",
        group=cfg.study, job_type=cfg.method.name, tags=list(cfg.logger.tags),
        save_dir=str(logs), mode=cfg.logger.mode,
        config={"identity": identity, **identity, **config},
        reinit="finish_previous",
    )


def finish_logger(logger: Logger | None, metrics: dict[str, Any], ok: bool) -> None:
    """Record final metrics and close the run, so each job of a multirun is its own W&B run."""
    if logger is None:
        return
    numeric = {k: v for k, v in metrics.items() if isinstance(v, int | float)}
    try:
        from lightning.pytorch.loggers import WandbLogger

        if isinstance(logger, WandbLogger):
            logger.experiment.summary.update(metrics)
            logger.experiment.finish(exit_code=0 if ok else 1)
            return
        if numeric:
            logger.log_metrics({f"final/{k}": v for k, v in numeric.items()})
    finally:
        logger.finalize("success" if ok else "failed")
