"""Run a Lightning fit of a causal LM for a fixed number of optimizer steps."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import lightning as L
from lightning.pytorch.loggers import Logger
from torch import nn

from transplant.data.tokens import TokenStream
from transplant.training.data_module import train_loader
from transplant.training.lm_module import CausalLMModule, OptimSpec


@dataclass(frozen=True)
class TrainerSpec:
    max_steps: int = 100
    batch_size: int = 8
    accumulate_grad_batches: int = 1
    gradient_clip_val: float | None = 1.0
    precision: str = "32-true"
    accelerator: str = "auto"
    log_every_n_steps: int = 10
    enable_progress_bar: bool = True

    @property
    def blocks_per_step(self) -> int:
        return self.batch_size * self.accumulate_grad_batches


@dataclass(frozen=True)
class TrainStats:
    steps: int
    tokens: int
    seconds: float  # time inside training steps (forward, backward, optimizer)

    def as_metrics(self) -> dict[str, float | int]:
        return {"train_steps": self.steps, "train_tokens": self.tokens,
                "train_s": self.seconds, "train_tokens_per_s": self.tokens / self.seconds}


def fit(model: nn.Module, stream: TokenStream, block_size: int, trainer: TrainerSpec,
        optim: OptimSpec, seed: int, logger: Logger | bool = False) -> TrainStats:
    """Train `model` (its trainable parameters set by a policy) in place."""
    # Lightning's device banner and tips repeat on every job of a sweep; keep warnings only.
    logging.getLogger("lightning.pytorch.utilities.rank_zero").setLevel(logging.WARNING)
    L.seed_everything(seed, workers=True, verbose=False)
    module = CausalLMModule(model, optim, trainer.max_steps)
    pl_trainer = L.Trainer(
        max_steps=trainer.max_steps,
        accumulate_grad_batches=trainer.accumulate_grad_batches,
        gradient_clip_val=trainer.gradient_clip_val,
        precision=trainer.precision,
        accelerator=trainer.accelerator,
        devices=1,
        logger=logger,
        log_every_n_steps=trainer.log_every_n_steps,
        enable_progress_bar=trainer.enable_progress_bar,
        enable_checkpointing=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    model.train()
    pl_trainer.fit(module, train_dataloaders=train_loader(stream, block_size,
                                                          trainer.batch_size, seed))
    model.eval()
    return TrainStats(pl_trainer.global_step, module.tokens_seen, module.train_seconds)
