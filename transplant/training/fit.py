"""Run a Lightning fit of a causal LM for a fixed number of optimizer steps."""

from __future__ import annotations

import logging
import shutil
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import Logger
from lightning.pytorch.plugins.environments import SLURMEnvironment
from torch import nn

from transplant.config import OptimConfig, TrainerConfig
from transplant.training.data_module import TrainData, train_loader
from transplant.training.lm_module import CausalLMModule
from transplant.training.preemption import CheckpointOnSignal, catch_signals, resume_point

log = logging.getLogger("transplant")


@dataclass(frozen=True)
class TrainStats:
    steps: int
    tokens: int
    seconds: float  # time inside training steps (forward, backward, optimizer)
    resumed_step: int = 0  # the step a preempted attempt's checkpoint resumed from (0: none)

    def as_metrics(self) -> dict[str, float | int]:
        out = {"train_steps": self.steps, "train_tokens": self.tokens,
               "train_s": self.seconds, "train_tokens_per_s": self.tokens / self.seconds}
        return {**out, "resumed_step": self.resumed_step} if self.resumed_step else out


def fit(model: nn.Module, data: TrainData, block_size: int, trainer: TrainerConfig,
        optim: OptimConfig, seed: int, logger: Logger | bool = False,
        resume_dir: Path | None = None, extra_callbacks: list[Callback] = (),
        log_prefix: str = "") -> TrainStats:
    """Train `model` (its trainable parameters set by a policy) in place, on a token stream (in
    blocks of `block_size`) or on labelled examples (loss on the answers).

    With `resume_dir`, a SIGUSR1/SIGUSR2/SIGTERM saves a checkpoint there at the next step and
    raises `Preempted` (requeueing a SLURM job); a later call with the same arguments resumes
    from it and ends with the weights an uninterrupted run would have. The directory is removed
    once training completes. `log_prefix` goes before the logged names (`train/loss`), so
    that several trainings in one run log apart.
    """
    # Lightning's device banner and tips repeat on every job of a sweep; keep warnings only.
    logging.getLogger("lightning.pytorch.utilities.rank_zero").setLevel(logging.WARNING)
    L.seed_everything(seed, workers=True, verbose=False)
    module = CausalLMModule(model, optim, trainer.max_steps, log_prefix)
    resume = resume_point(resume_dir) if resume_dir is not None else None
    skip = resume.batches if resume else 0
    if resume:
        log.warning("resuming from %s at step %d", resume.checkpoint, resume.step)
    with ExitStack() as stack:
        callbacks = [*extra_callbacks]
        if resume_dir is not None:
            latch = stack.enter_context(catch_signals())
            callbacks.append(CheckpointOnSignal(resume_dir, latch, skip))
        root = resume_dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        pl_trainer = _trainer(trainer, logger, callbacks, root)
        model.train()
        pl_trainer.fit(module, train_dataloaders=train_loader(data, block_size,
                                                              trainer.batch_size, seed, skip),
                       ckpt_path=str(resume.checkpoint) if resume else None,
                       weights_only=True)  # tensors and plain state only: no pickled code
    model.eval()
    if resume_dir is not None:
        shutil.rmtree(resume_dir, ignore_errors=True)
    return TrainStats(pl_trainer.global_step, module.tokens_seen, module.train_seconds,
                      resume.step if resume else 0)


def _trainer(trainer: TrainerConfig, logger: Logger | bool, callbacks: list,
             root: Path) -> L.Trainer:
    # Under SLURM, Lightning would otherwise install its own requeue handler (saving from
    # inside the signal handler) and resume any hpc_ckpt_*.ckpt found in its root directory.
    plugins = [SLURMEnvironment(auto_requeue=False)] if SLURMEnvironment.detect() else None
    return L.Trainer(
        max_steps=trainer.max_steps,
        accumulate_grad_batches=trainer.accumulate_grad_batches,
        gradient_clip_val=trainer.gradient_clip_val,
        precision=trainer.precision,
        accelerator=trainer.accelerator,
        devices=1,
        logger=logger,
        # A run shorter than the interval would log no training loss at all.
        log_every_n_steps=max(1, min(trainer.log_every_n_steps, trainer.max_steps)),
        enable_progress_bar=trainer.enable_progress_bar,
        enable_checkpointing=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=callbacks,
        plugins=plugins,
        default_root_dir=str(root),
    )
