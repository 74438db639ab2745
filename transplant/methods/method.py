"""What a method is to the framework: a name, a config schema, value checks and a recipe.

Each `methods/<name>.py` defines one `Method` (its schema dataclass extends
`config.MethodConfig`); `methods/__init__.py` lists them. The schema is registered with Hydra as
`method/_<name>`, which the method's `conf/method/<name>.yaml` names in its defaults, so Hydra
refuses a wrong key or type under `method.` by name before anything runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from transplant.config import MethodConfig
from transplant.metrics import MetricSpec
from transplant.models.facts import ModelFacts
from transplant.runs import RunContext

Recipe = Callable[[DictConfig, RunContext], dict[str, Any]]
Check = Callable[[DictConfig, "ModelFacts | None"], None]


def no_checks(cfg: DictConfig, facts: ModelFacts | None) -> None:
    """For methods whose options the schema alone constrains."""


@dataclass(frozen=True)
class Method:
    name: str  # method=<name>
    schema: type[MethodConfig]
    run: Recipe  # config, run context -> flat metrics
    check: Check = no_checks  # value checks, given the model's facts; raise ConfigError
    needs_model: bool = True  # False: the method makes its model (pretrain)
    trains_on_target: bool = True  # reads the target domain's train split
    chooses_lr: bool = False  # takes method.optim.lrs (common.train_at_chosen_lr)
    # What later runs read from a finished run (pretrain: its zoo model), or None. A done run
    # whose product is gone (a new machine, a restored archive, a wiped cache) runs again.
    product: Callable[[DictConfig], Path] | None = None
    # Every metric `run` returns (names or patterns, metrics.py): what the run records beside
    # them, and all the report knows of them.
    metrics: tuple[MetricSpec, ...] = ()
