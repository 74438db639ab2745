"""Causal-LM training as a LightningModule: next-token loss, AdamW, warm-up + cosine."""

from __future__ import annotations

import math
import time

import lightning as L
import torch
from torch import nn

from transplant.config import OptimConfig
from transplant.models.logits import logits_at
from transplant.training.data_module import IGNORE

Batch = torch.Tensor | dict[str, torch.Tensor]  # token blocks, or padded labelled examples


def tokens_in(batch: Batch) -> int:
    """Tokens read (padding excluded)."""
    return int(batch["attention_mask"].sum()) if isinstance(batch, dict) else batch.numel()


def answer_loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean next-token loss on the labelled tokens, as `model(**batch).loss` computes it, from
    logits at the positions that predict them only (the head is most of a small model's cost)."""
    labels = batch["labels"]
    rows, cols = (labels[:, 1:] != IGNORE).nonzero(as_tuple=True)  # position t predicts t + 1
    keep = torch.unique(cols)  # sorted
    logits = logits_at(model, batch["input_ids"], batch["attention_mask"], keep)
    picked = logits[rows, torch.searchsorted(keep, cols)]
    return nn.functional.cross_entropy(picked.float(), labels[rows, cols + 1])


class DivergenceError(RuntimeError):
    """The training loss became NaN or infinite."""


def warmup_cosine(step: int, warmup: int, total: int) -> float:
    """LR multiplier: linear warm-up to 1, then cosine decay to 0 at `total`."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


class CausalLMModule(L.LightningModule):
    """Trains `model` (already wrapped by a trainable-parameter policy) on token blocks."""

    def __init__(self, model: nn.Module, optim: OptimConfig, max_steps: int,
                 log_prefix: str = "") -> None:
        super().__init__()
        self.model = model
        self.log_prefix = log_prefix
        self.optim = optim
        self.max_steps = max_steps
        self.tokens_seen = 0
        self.train_seconds = 0.0
        self._t0 = 0.0

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        # token blocks predict every token; labelled examples only their answers
        loss = (answer_loss(self.model, batch) if isinstance(batch, dict)
                else self.model(input_ids=batch, labels=batch).loss)
        if not torch.isfinite(loss):
            raise DivergenceError(f"training loss is {loss.item()} at step {self.global_step}")
        self.tokens_seen += tokens_in(batch)
        self.log(f"{self.log_prefix}train/loss", loss, prog_bar=True)
        return loss

    def on_train_batch_start(self, batch: Batch, batch_idx: int) -> None:
        self._t0 = time.perf_counter()

    def on_train_batch_end(self, outputs, batch: Batch, batch_idx: int) -> None:
        dt = time.perf_counter() - self._t0
        self.train_seconds += dt
        self.log(f"{self.log_prefix}train/tokens_per_s", tokens_in(batch) / dt, prog_bar=True)
        self.log(f"{self.log_prefix}train/lr", self.trainer.optimizers[0].param_groups[0]["lr"])

    # Counters survive a preemption: a resumed run reports the whole run's tokens and time.
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["transplant"] = {"tokens_seen": self.tokens_seen,
                                    "train_seconds": self.train_seconds}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        saved = checkpoint.get("transplant", {})
        self.tokens_seen = saved.get("tokens_seen", 0)
        self.train_seconds = saved.get("train_seconds", 0.0)

    def configure_optimizers(self):
        params = [p for p in self.model.parameters() if p.requires_grad]
        if not params:
            raise ValueError("no trainable parameters: the trainable-parameter policy froze all")
        opt = torch.optim.AdamW(params, lr=self.optim.lr, betas=tuple(self.optim.betas),
                                weight_decay=self.optim.weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: warmup_cosine(s, self.optim.warmup_steps, self.max_steps))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
