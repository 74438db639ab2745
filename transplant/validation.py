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
    as_object,
    check,
    check_context,
    check_shared,
)
from transplant.data.corpora import CORPORA
from transplant.methods import METHODS
from transplant.models.facts import ModelFacts, model_facts
from transplant.models.families import UnsupportedFamilyError
from transplant.models.loading import ModelLoadError


def validate(cfg: DictConfig) -> ModelFacts | None:
    """Check the run's config; returns the model's facts (None for a method that builds its
    model)."""
    check(cfg.method.name in METHODS, "method.name", cfg.method.name,
          f"one of {', '.join(sorted(METHODS))}")
    check_shared(cfg, CORPORA)
    method = METHODS[cfg.method.name]
    facts = None
    if method.needs_model:
        facts = _facts(as_object(cfg.model), cfg.paths.cache)
        check(facts.causal, "model.name", cfg.model.name,
              f"a causal language model for method {cfg.method.name}; {cfg.model.name} is a "
              f"{facts.family} encoder")
        check_context(cfg, facts.context,
                      f"the model's context length {facts.context} ({cfg.model.name})")
    method.check(cfg, facts)
    return facts


def _facts(spec: ModelConfig, cache: str) -> ModelFacts:
    try:
        return model_facts(spec, cache)
    except (ModelLoadError, UnsupportedFamilyError, FileNotFoundError) as e:
        raise ConfigError(f"model.name={spec.name!r} is invalid: {e}") from e
