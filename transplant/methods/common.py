"""Pieces every method recipe uses: specs from config, and the two-domain evaluation."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig
from torch import nn
from transformers import PreTrainedTokenizerBase

from transplant.data.corpora import CorpusSpec
from transplant.data.tokens import TokenStream, token_stream
from transplant.eval.perplexity import perplexity
from transplant.models.loading import ModelSpec
from transplant.training.fit import TrainerSpec
from transplant.training.lm_module import OptimSpec
from transplant.training.policies import LoraSpec, PolicySpec


@dataclass(frozen=True)
class Artifact:
    """A file or directory a run produced that others reuse: an organ, an adapter."""

    path: Path
    kind: str  # organ | adapter
    name: str


@dataclass
class RunContext:
    """What a method gets besides its config: where to write, and how to log."""

    dir: Path
    logger: Logger | None = None
    artifacts: list[Artifact] = field(default_factory=list)  # logged with the run (W&B)

    def add_artifact(self, path: Path, kind: str, name: str) -> None:
        self.artifacts.append(Artifact(Path(path), kind, name))

    def resume_dir(self, name: str = "train") -> Path:
        """Where a training phase keeps its preemption checkpoint: per run, per phase (a cache
        entry's build is named by its key, so a resumed job never loads another's)."""
        return self.dir / "resume" / name


def model_spec(cfg: DictConfig) -> ModelSpec:
    m = cfg.model
    return ModelSpec(m.name, m.dtype, m.seed, m.revision, m.trust_remote_code)


def corpus_spec(cfg: DictConfig, name: str | None = None) -> CorpusSpec:
    """The target corpus, or another named corpus with default options (e.g. retention)."""
    d = cfg.data
    if name is not None and name != d.domain:
        return CorpusSpec(name)
    return CorpusSpec(d.domain, tuple(d.paths), d.hf_path, d.hf_name, d.hf_split, d.text_field)


def trainer_spec(cfg: DictConfig) -> TrainerSpec:
    return TrainerSpec(**cfg.trainer)


def optim_spec(cfg: DictConfig) -> OptimSpec:
    return OptimSpec(**cfg.method.optim)


def policy_spec(cfg: DictConfig) -> PolicySpec:
    t = cfg.method.trainable
    lora = LoraSpec(t.lora.r, t.lora.alpha, t.lora.dropout, tuple(t.lora.targets))
    return PolicySpec(t.name, lora, tuple(t.patterns))


def token_budget(cfg: DictConfig) -> int:
    """Training tokens of a run: steps x blocks per step x block size (same for every arm)."""
    t = cfg.trainer
    return t.max_steps * t.batch_size * t.accumulate_grad_batches * cfg.data.block_size


def train_stream(cfg: DictConfig, tokenizer: PreTrainedTokenizerBase,
                 domain: str | None = None) -> TokenStream:
    """The train split of the target domain (or `domain`), exactly one budget long."""
    return token_stream(corpus_spec(cfg, domain), "train", tokenizer, token_budget(cfg),
                        cfg.data.validation_permille, cfg.data.test_permille)


def evaluate(model: nn.Module, tokenizer: PreTrainedTokenizerBase,
             cfg: DictConfig) -> dict[str, Any]:
    """Perplexity and bits/byte on the target domain's and the retention domain's test split."""
    domains = {"target": cfg.data.domain}
    if cfg.eval.retention:
        domains["retention"] = cfg.eval.retention
    out: dict[str, Any] = {}
    for role, name in domains.items():
        stream = token_stream(corpus_spec(cfg, name), "test", tokenizer, cfg.eval.max_tokens,
                              cfg.data.validation_permille, cfg.data.test_permille)
        result = perplexity(model, stream, cfg.eval.window, cfg.eval.stride,
                            cfg.eval.batch_size, progress=cfg.trainer.enable_progress_bar)
        out[f"{role}_domain"] = name
        out.update(result.as_metrics(role))
    return out
