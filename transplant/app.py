"""The Hydra entry point `transplant`: validate, open the run record, run the method, record.

    transplant method=lora data=tweets trainer.max_steps=50
    transplant -m experiment=demo
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import shutil
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from transplant.atomic import read_json
from transplant.claim import claim, holder
from transplant.config import ConfigError
from transplant.methods import METHODS
from transplant.metrics import SUMMARY, Kind, resolve, spec
from transplant.provenance import provenance
from transplant.runs import RunContext, RunRecord, identity, run_dir
from transplant.schemas import CONF_DIR, register_schemas
from transplant.validation import validate

log = logging.getLogger("transplant")


def run_job(cfg: DictConfig, overrides: list[str], multirun: bool = False) -> dict[str, Any] | None:
    """Run one grid point under the run contract; returns its metrics (None if not run)."""
    validate(cfg)
    ident = identity(overrides)
    record = RunRecord(run_dir(Path(cfg.paths.outputs) / cfg.study, ident), ident)
    resolved = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    if _finished(cfg, record):
        _check_same_result_config(record, resolved)
        log.info("skip %s: already done (force=true reruns it)", record.dir)
        return None
    held = claim(record.dir)
    if held is None:
        who = holder(record.layout.claim) or {}
        log.warning("skip %s: claimed by pid %s on %s, which is running it", record.dir,
                    who.get("pid"), who.get("host"))
        return None
    with held:
        if _finished(cfg, record, say=False):  # finished while we were deciding
            log.info("skip %s: already done", record.dir)
            return None
        return _run_claimed(cfg, record, ident, resolved, multirun)


def _finished(cfg: DictConfig, record: RunRecord, say: bool = True) -> bool:
    """Done, not forced, and its product (if its method makes one) still there to read, the
    very file the run scored: a cache rebuilt on another machine can hold other bytes under
    the same key (floating-point kernels differ between CPUs), and the record would then
    describe weights that are not there. `say`: log why a done run runs again (once a run)."""
    info = log.info if say else lambda *args: None
    if not record.is_done() or cfg.force:
        return False
    product = METHODS[cfg.method.name].product
    if product is None:
        return True
    path = product(cfg)
    if not path.exists():
        info("rerun %s: done, but %s is gone", record.dir, path.parent)
        return False
    scored = read_json(record.metrics_path).get("product_sha256")
    if scored is not None and scored != (now := file_sha256(path)):
        info("rerun %s: done, but %s is not the file it scored (sha256 %s..., the record "
                 "says %s...)", record.dir, path, now[:12], scored[:12])
        return False
    return True


def file_sha256(path: Path) -> str:
    """What `sha256sum` prints for the file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _product_hash(cfg: DictConfig) -> dict[str, str]:
    """`product_sha256`: the file a method's product is, as this run scored it."""
    product = METHODS[cfg.method.name].product
    return {"product_sha256": file_sha256(product(cfg))} if product is not None else {}


def _run_claimed(cfg: DictConfig, record: RunRecord, ident: dict[str, str],
                 resolved: dict[str, Any], multirun: bool) -> dict[str, Any] | None:
    # Lightning takes seconds to import: only now, once the run is checked and claimed, so
    # that config errors and --help answer at once.
    import lightning as L

    from transplant.console import quiet_libraries
    from transplant.loggers import finish_logger, make_logger
    from transplant.monitor import CpuTime, PeakMemory
    from transplant.training.preemption import Preempted

    quiet_libraries()
    if cfg.force or record.result_diffs(resolved):  # a checkpoint of another config is stale
        shutil.rmtree(record.layout.resume, ignore_errors=True)
    record.start(OmegaConf.to_yaml(resolved))
    logger = make_logger(cfg, record.dir, record.dir.name, ident, resolved)
    start, earlier = time.time(), record.spent()
    cpu = CpuTime()
    ctx = RunContext(record.dir, Path(cfg.paths.cache), logger)
    try:
        # Seeded before anything random is built (models, adapters, data), so a run is
        # reproducible bit for bit and does not depend on what ran before it in the sweep.
        L.seed_everything(cfg.seed, workers=True, verbose=False)
        with _sigterm_interrupts(), PeakMemory() as memory, cpu:
            metrics = METHODS[cfg.method.name].run(cfg, ctx)
        _check_finite(metrics)
        # A method may name the model it produced (pretrain: its zoo name). The run's cost
        # includes the preempted attempts it resumed from.
        cost = {"cpu_s": cpu.seconds + earlier.get("cpu_s", 0.0),
                "wall_s": time.time() - start + earlier.get("wall_s", 0.0)}
        metrics = {"method": cfg.method.name, "model": cfg.model.name, "seed": cfg.seed,
                   **metrics, **memory.as_metrics(), **cost,
                   **_product_hash(cfg), **provenance()}
    except Preempted as e:  # a checkpoint is saved; the requeued job (or a relaunch) resumes
        record.preempt(str(e), {"cpu_s": cpu.seconds, "wall_s": time.time() - start})
        finish_logger(logger, {}, ok=False)
        log.warning("run %s %s", record.dir, e)
        raise
    except Exception as e:
        record.fail(f"{type(e).__name__}: {e}\n{traceback.format_exc()}")
        finish_logger(logger, {}, ok=False)
        log.error("run %s failed: %s: %s", record.dir, type(e).__name__, e)
        if not multirun:
            raise
        return None  # the sweep goes on; the report lists the failure
    except (KeyboardInterrupt, SystemExit) as e:  # Ctrl-C, SIGTERM outside training, exit()
        why = str(e) if isinstance(e, Interrupted) else type(e).__name__
        record.fail(f"interrupted ({why}): no result was written; a relaunch runs it again")
        finish_logger(logger, {}, ok=False)
        log.warning("run %s interrupted (%s)", record.dir, why)
        raise  # the sweep stops: someone asked it to
    specs, undeclared = resolve(metrics, (*METHODS[cfg.method.name].metrics, *RUN_SPECS))
    if undeclared:
        log.warning("metrics without a spec (recorded as plain values; declare them in the "
                    "method's `metrics`): %s", ", ".join(undeclared))
    record.finish(metrics, specs)
    shutil.rmtree(record.layout.resume, ignore_errors=True)  # checkpoints of finished phases
    finish_logger(logger, metrics, ok=True, artifacts=ctx.artifacts)
    log.info("done %s: %s", record.dir, _summary(metrics))
    return metrics


# What every run records beside its method's metrics: what ran, its cost, its provenance.
RUN_SPECS = (spec("method", Kind.text), spec("model", Kind.text), spec("seed", Kind.value),
             spec("wall_s", Kind.seconds, level=SUMMARY, unit="s"),
             spec("cpu_s", Kind.seconds, unit="s"), spec("peak_*_mb", Kind.megabytes, unit="MiB"),
             spec("product_sha256", Kind.text), spec("code_dirty", Kind.flag),
             spec("code_*", Kind.text), spec("*_version", Kind.text))


class Interrupted(KeyboardInterrupt):
    """SIGTERM outside training (training checkpoints on it instead), raised where the run is,
    so that its record says so rather than `running` forever."""


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM raises `Interrupted` while the block runs. Not under SLURM: submitit handles
    the signals there (a requeued job's record is rewritten by its next attempt)."""
    if "SLURM_JOB_ID" in os.environ or threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, _frame: object) -> None:
        raise Interrupted(signal.Signals(signum).name)

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _check_finite(metrics: dict[str, Any]) -> None:
    for key, value in metrics.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise FloatingPointError(f"metric {key} is {value}")


def _check_same_result_config(record: RunRecord, resolved: dict[str, Any]) -> None:
    diffs = record.result_diffs(resolved)
    if diffs:
        raise ConfigError(
            f"{record.dir} is done, but with another config ({'; '.join(diffs[:5])}). "
            "Rerun it with force=true, or name another study=.")


def _summary(metrics: dict[str, Any]) -> str:
    keys = ("target_ppl", "target_acc", "retention_ppl", "train_tokens", "wall_s")
    return ", ".join(f"{k}={metrics[k]:.4g}" for k in keys if k in metrics)


def route_model_override(argv: list[str], conf_dir: str) -> list[str]:
    """`model=<dir>`, `model=zoo/<name>` and `model=<org>/<hub id>` mean `model.name=...`.

    Hydra only knows the group's files; a value that is no file in conf/model/ but looks like a
    path or hub id is passed as the model name. Plain unknown names still get Hydra's list of
    available options.
    """
    out = []
    for arg in argv:
        key, eq, value = arg.partition("=")
        if (key == "model" and eq and "," not in value
                and not (Path(conf_dir) / "model" / f"{value}.yaml").exists()
                and ("/" in value or Path(value).expanduser().is_dir())):
            arg = f"model.name={value}"
        out.append(arg)
    return out


register_schemas()


def main() -> None:
    sys.argv[1:] = route_model_override(sys.argv[1:], CONF_DIR)
    hydra_main()


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def hydra_main(cfg: DictConfig) -> dict[str, Any] | None:
    hc = HydraConfig.get()
    try:
        return run_job(cfg, list(hc.overrides.task), multirun=hc.mode == RunMode.MULTIRUN)
    except ConfigError as e:  # the user's to fix: a message, not a traceback
        print(f"transplant: config error: {e}", file=sys.stderr)
        sys.exit(2)
