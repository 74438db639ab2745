import os
import signal

import lightning as L
import pytest
import torch

from tests.test_training import QUIET, _stream
from transplant.config import OptimConfig, TrainerConfig
from transplant.models import load_model
from transplant.training.fit import fit
from transplant.training.preemption import Preempted, resume_point


class SignalAt(L.Callback):
    """Sends this process `signum` as batch number `batch` starts (SLURM's signal comes at any
    moment: with accumulation, batch 10 is the first half of step 5)."""

    def __init__(self, batch: int, signum: int) -> None:
        self.batch, self.signum, self.seen = batch, signum, 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.seen == self.batch:
            os.kill(os.getpid(), self.signum)
        self.seen += 1


def _train(tokenizer, resume_dir, accumulate=1, signal_at=None, steps=8):
    model, _ = load_model("tiny_llama")
    trainer = TrainerConfig(max_steps=steps, batch_size=4, accumulate_grad_batches=accumulate,
                          **QUIET)
    optim = OptimConfig(lr=3e-3, warmup_steps=2)
    stats = fit(model, _stream(tokenizer, 2048), 32, trainer, optim, seed=3,
                resume_dir=resume_dir, extra_callbacks=[signal_at] if signal_at else [])
    return model, stats


@pytest.mark.parametrize("signum", [signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM])
@pytest.mark.parametrize("accumulate", [1, 2])
def test_signal_checkpoints_and_resumed_run_equals_uninterrupted(tokenizer, tmp_path, signum,
                                                                 accumulate):
    """8 steps over 2+ epochs of data (16 blocks, 4 per batch); the signal arrives in step 5."""
    whole, whole_stats = _train(tokenizer, None, accumulate)

    resume_dir = tmp_path / "resume"
    with pytest.raises(Preempted) as info:
        _train(tokenizer, resume_dir, accumulate, SignalAt(5 * accumulate, signum))
    assert (info.value.signum, info.value.step, info.value.requeued) == (signum, 6, False)
    point = resume_point(resume_dir)
    assert (point.step, point.batches) == (6, 6 * accumulate)
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL  # handlers restored

    resumed, stats = _train(tokenizer, resume_dir, accumulate)
    assert stats.resumed_step == 6
    assert (stats.steps, stats.tokens) == (whole_stats.steps, whole_stats.tokens)
    assert not resume_dir.exists()  # a finished run leaves no checkpoint behind
    for (name, a), b in zip(resumed.named_parameters(), whole.parameters(), strict=True):
        assert torch.equal(a, b), name


def test_without_resume_dir_signals_keep_their_handlers(tokenizer):
    before = signal.getsignal(signal.SIGUSR1)
    _train(tokenizer, None, steps=2)
    assert signal.getsignal(signal.SIGUSR1) == before
