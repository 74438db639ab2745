"""`validate(cfg)`: every value check of a run, before anything loads or is written.

The shared checks (config.py), the model's facts (read from config files, never weights) and
the chosen method's own checks (its file in methods/). Raises ConfigError naming the first bad
key and what it accepts.
"""

from __future__ import annotations

from omegaconf import DictConfig

from transplant.config import (
    ConfigError,
    ModelConfig,
    Objective,
    as_object,
    check,
    check_context,
    check_shared,
)
from transplant.data.corpora import CORPORA, CorpusUnavailableError, load_corpus
from transplant.data.split import split_documents
from transplant.data.tasks import TASKS
from transplant.methods import METHODS
from transplant.methods.common import corpus_spec
from transplant.models.errors import ModelLoadError
from transplant.models.facts import ModelFacts, model_facts
from transplant.models.families import UnsupportedFamilyError


def validate(cfg: DictConfig) -> ModelFacts | None:
    """Check the run's config; returns the model's facts (None for a method that builds its
    model)."""
    check(cfg.method.name in METHODS, "method.name", cfg.method.name,
          f"one of {', '.join(sorted(METHODS))}")
    check_shared(cfg, CORPORA, _gpu_visible)
    if cfg.data.objective == Objective.task:
        check(cfg.data.domain in TASKS, "data.domain", cfg.data.domain,
              f"a labelled task with data.objective=task: one of {', '.join(sorted(TASKS))}")
    method = METHODS[cfg.method.name]
    choosers = ", ".join(sorted(m for m in METHODS if METHODS[m].chooses_lr))
    check(cfg.method.optim.lrs is None or method.chooses_lr, "method.optim.lrs",
          cfg.method.optim.lrs and list(cfg.method.optim.lrs),
          f"null for method {cfg.method.name}: it chooses no rate inside the run ({choosers} "
          "do; for another method, sweep method.optim.lr)")
    facts = None
    if method.needs_model:
        facts = _facts(as_object(cfg.model), cfg.paths.cache)
        check(facts.causal, "model.name", cfg.model.name,
              f"a causal language model for method {cfg.method.name}; {cfg.model.name} is a "
              f"{facts.family} encoder")
        check_context(cfg, facts.context,
                      f"the model's context length {facts.context} ({cfg.model.name})")
    try:
        method.check(cfg, facts)
    except (ModelLoadError, UnsupportedFamilyError, FileNotFoundError) as e:
        # a second model a method names (organ recipient, origin host, Theseus source)
        raise ConfigError(f"method {cfg.method.name}: {e}") from e
    if cfg.data.domain == "text_files":  # the built-in corpora are known to split
        check_splits(cfg, method.trains_on_target and cfg.trainer.max_steps > 0)
    return facts


def check_splits(cfg: DictConfig, trains: bool) -> None:
    """The user's files are readable, and every split the run reads has documents."""
    try:
        docs = load_corpus(corpus_spec(cfg))
    except CorpusUnavailableError as e:
        raise ConfigError(f"data.paths={list(cfg.data.paths)} is invalid: {e}") from e
    splits = split_documents(docs, cfg.data.validation_permille, cfg.data.test_permille)
    needed = ["test", *(["validation"] if cfg.eval.validation else []),
              *(["train"] if trains else [])]
    for split in needed:
        check(bool(splits[split]), "data.paths", list(cfg.data.paths),
              f"files whose {split} split is not empty: their {len(docs)} document(s) are "
              f"split by a hash of their id ({cfg.data.validation_permille}/1000 validation, "
              f"{cfg.data.test_permille}/1000 test), and none fell in {split}. Add documents, "
              "or cut long ones into pieces with data.chunk_chars=2000")


def _facts(spec: ModelConfig, cache: str) -> ModelFacts:
    try:
        return model_facts(spec, cache)
    except (ModelLoadError, UnsupportedFamilyError, FileNotFoundError) as e:
        raise ConfigError(f"model.name={spec.name!r} is invalid: {e}") from e


def _gpu_visible() -> bool:
    import torch

    return torch.cuda.is_available()
