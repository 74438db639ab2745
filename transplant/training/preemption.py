"""Preemption: a signal before a time limit saves a resumable checkpoint, then the job requeues.

SLURM sends a signal some time before it kills a job (`--signal=USR1@120`; submitit asks for
USR2), and SIGTERM on preemption. Saving from inside the signal handler (Lightning's default)
can catch the optimizer half-way through a step, so the handler only raises a flag; the
checkpoint is written at the next step boundary, atomically, beside a note of how many batches
were consumed, so the resumed run sees exactly the batches it has not seen yet. Under SLURM the
job then requeues itself (`scontrol requeue`); the requeued job runs the same grid point, whose
training resumes from the checkpoint.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.plugins.environments import SLURMEnvironment

from transplant.atomic import read_json, write_json

log = logging.getLogger("transplant")

SIGNALS = (signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM)
CHECKPOINT = "resume.ckpt"
PROGRESS = "resume.json"  # {"batches": n}: written after the checkpoint, so it marks a whole one


class Preempted(SystemExit):
    """Training stopped on a signal after saving a checkpoint: not a failure, the run resumes.

    A SystemExit, so a sweep stops (the machine is going away) instead of starting the next job.
    """

    def __init__(self, signum: int, step: int, requeued: bool) -> None:
        self.signum, self.step, self.requeued = signum, step, requeued
        super().__init__(f"preempted by {signal.Signals(signum).name} at step {step}"
                         + (" (requeued)" if requeued else ""))


class SignalLatch:
    """Records SIGUSR1/SIGUSR2/SIGTERM instead of dying."""

    def __init__(self) -> None:
        self.received: list[int] = []

    def __call__(self, signum: int, _frame: FrameType | None) -> None:
        log.warning("received %s: checkpointing at the next step", signal.Signals(signum).name)
        self.received.append(signum)

    def install(self) -> None:
        for s in SIGNALS:
            signal.signal(s, self)


@contextmanager
def catch_signals() -> Iterator[SignalLatch]:
    """A latch for the signals while the block runs; the previous handlers afterwards."""
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    latch = SignalLatch()
    latch.install()
    try:
        yield latch
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@dataclass(frozen=True)
class ResumePoint:
    checkpoint: Path
    batches: int  # batches consumed before the checkpoint, over all earlier attempts
    step: int


def resume_point(resume_dir: Path) -> ResumePoint | None:
    """The complete checkpoint in `resume_dir`, if there is one."""
    progress, ckpt = resume_dir / PROGRESS, resume_dir / CHECKPOINT
    if not (progress.exists() and ckpt.exists()):
        return None
    note = read_json(progress)
    return ResumePoint(ckpt, int(note["batches"]), int(note["step"]))


def slurm_job_id() -> str | None:
    """This job's id as `scontrol requeue` wants it (array tasks: <array id>_<task id>)."""
    if not SLURMEnvironment.detect():
        return None
    array_id = os.environ.get("SLURM_ARRAY_JOB_ID")
    if array_id is not None:
        return f"{array_id}_{os.environ['SLURM_ARRAY_TASK_ID']}"
    return os.environ.get("SLURM_JOB_ID")


def requeue() -> bool:
    """Requeue this SLURM job; False outside SLURM or if scontrol refuses."""
    job = slurm_job_id()
    if job is None or not re.fullmatch(r"[0-9_]+", job):
        return False
    result = subprocess.run(["scontrol", "requeue", job], capture_output=True, text=True)
    if result.returncode != 0:
        log.error("scontrol requeue %s failed: %s", job, result.stderr.strip())
        return False
    log.warning("requeued SLURM job %s", job)
    return True


class CheckpointOnSignal(Callback):
    """At the first step boundary after a signal: save, note the batches consumed, requeue, stop."""

    def __init__(self, resume_dir: Path, latch: SignalLatch, batches_before: int) -> None:
        self.resume_dir = resume_dir
        self.latch = latch
        self.batches_before = batches_before  # consumed by earlier attempts
        self.batches = 0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Lightning has just wrapped SIGTERM in its own handler, which stops training at the
        # end of the batch, mid-accumulation too, without a checkpoint: take it back.
        self.latch.install()

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule,
                           outputs: object, batch: object, batch_idx: int) -> None:
        self.batches += 1
        if not self.latch.received or self.batches % trainer.accumulate_grad_batches:
            return  # mid-accumulation is no step boundary
        self.resume_dir.mkdir(parents=True, exist_ok=True)
        (self.resume_dir / PROGRESS).unlink(missing_ok=True)  # no note beside a newer checkpoint
        tmp = self.resume_dir / (CHECKPOINT + ".tmp")
        trainer.save_checkpoint(tmp, weights_only=False)  # with the optimiser, to resume
        os.replace(tmp, self.resume_dir / CHECKPOINT)
        write_json(self.resume_dir / PROGRESS, {"batches": self.batches_before + self.batches,
                                                "step": trainer.global_step})
        raise Preempted(self.latch.received[0], trainer.global_step, requeue())
