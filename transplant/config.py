"""The shared config schema (Hydra structured configs) and the value checks every run shares.

The schema makes Hydra reject unknown keys and wrong types by name, and an Enum field lists the
values it accepts. Each method's own schema and checks live in its file in `methods/`; the checks
that need facts about the model (its context length) take them as arguments. This module sits
at the bottom of the package: the dataclasses here are also what loading and training take
(`load_model(ModelConfig(...))`, `fit(..., TrainerConfig(...), OptimConfig(...))`), so each
option exists once.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING, DictConfig, OmegaConf

from transplant.choice import Choice


@dataclass
class ModelConfig:
    """What to load: an embedded model, a tiny_* config, `zoo/<name>`, a local directory or a
    hub id (the hub is contacted only for a hub id)."""

    name: str = MISSING
    dtype: str = "float32"
    seed: int = 0  # initialisation seed of tiny random models
    revision: str | None = None
    trust_remote_code: bool = False  # off unless the user turns it on


class Objective(Choice):
    lm = "lm"  # language modelling on the target corpus; scored by perplexity
    task = "task"  # the corpus's labelled task (data/tasks.py): loss on the label word,
    #               scored by label-likelihood accuracy, macro-F1 and the majority class


@dataclass
class DataConfig:
    domain: str = MISSING  # the target corpus
    objective: Objective = Objective.lm
    paths: list[str] = field(default_factory=list)  # text_files
    hf_path: str | None = None  # hf_dataset
    hf_name: str | None = None
    hf_split: str = "train"
    text_field: str = "text"
    chunk_chars: int | None = None  # split documents into ~N-character chunks before splitting
    block_size: int = 128
    validation_permille: int = 50
    test_permille: int = 50


class Policy(Choice):
    all = "all"
    lora = "lora"
    mlp = "mlp"
    projections = "projections"
    subset = "subset"


@dataclass
class LoraConfig:
    r: int = 8
    alpha: int = 16
    dropout: float = 0.0
    targets: list[str] = field(default_factory=list)  # module names; empty: the family's


@dataclass
class TrainableConfig:
    """Which weights train: `all`, peft's `lora`, the MLPs of `layers`, every layer's
    attention and MLP `projections` (what Theseus transports), or the `subset` matching
    `patterns`."""

    name: Policy = Policy.all
    lora: LoraConfig = field(default_factory=LoraConfig)
    layers: str = "all"  # mlp: a layer rule (models/layers.py select_layers)
    patterns: list[str] = field(default_factory=list)  # subset: regexes over parameter names


@dataclass
class OptimConfig:
    lr: float = 1e-4
    # A grid: the run trains at each rate and keeps the one its validation split prefers
    # (replaces lr; the test splits are read once, at the chosen rate).
    lrs: list[float] | None = None
    # While the grid's top (or bottom) rate wins, up to this many more past it at the grid's
    # ratio (a budget can prefer a rate past any grid set in advance; `lr_on_edge` says when
    # it still does).
    lrs_extend: int = 0
    weight_decay: float = 0.0
    warmup_steps: int = 0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])


@dataclass
class MethodConfig:
    """What every method's schema has; each method extends it in its own file."""

    name: str = MISSING
    optim: OptimConfig = field(default_factory=OptimConfig)


@dataclass
class TrainerConfig:
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


class Calibration(Choice):
    none = "none"
    contextual = "contextual"  # label-likelihood scores divided by a content-free prior


@dataclass
class EvalConfig:
    """What is scored. Test splits are read whole unless capped; the target's validation split
    is scored too (`val_*` metrics), for choosing hyper-parameters without touching test."""

    retention: str | None = "python_code"  # the domain whose forgetting is measured
    # The first N tokens of every retention test document: many documents (90 stdlib files,
    # ~23k tokens) at a bounded cost. null: whole documents.
    retention_doc_tokens: int | None = 256
    window: int = 256
    stride: int = 128
    max_tokens: int | None = None  # predicted tokens per evaluated split; null: all
    validation: bool = True  # also score the target domain's validation split
    batch_size: int = 8
    calibration: Calibration = Calibration.none  # of label-likelihood classification


class LoggerName(Choice):
    csv = "csv"
    wandb = "wandb"
    none = "none"


class LoggerMode(Choice):
    offline = "offline"
    online = "online"
    disabled = "disabled"


@dataclass
class LoggerConfig:
    name: LoggerName = LoggerName.csv
    project: str = "transplant"
    entity: str | None = None
    mode: LoggerMode = LoggerMode.offline  # wandb: offline unless the user says online
    tags: list[str] = field(default_factory=list)


@dataclass
class PathsConfig:
    outputs: str = "outputs"
    cache: str = "${paths.outputs}/cache"


@dataclass
class Config:
    study: str = "default"
    seed: int = 0
    force: bool = False  # rerun a run whose status is done
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    method: Any = MISSING  # the chosen method's own schema (conf/method/<name>.yaml)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)


def register_schema() -> None:
    from hydra.core.config_store import ConfigStore  # Hydra only where configs are composed

    ConfigStore.instance().store(name="_schema", node=Config)


def as_object(node: DictConfig) -> Any:
    """A config section as its schema dataclass (`cfg.trainer` -> TrainerConfig)."""
    return OmegaConf.to_object(node)


class ConfigError(ValueError):
    """A config value is out of range or unknown; the message names the key."""


def check(ok: bool, key: str, value: Any, accepted: str) -> None:
    """Raise ConfigError("<key>=<value> is invalid: expected <accepted>") unless `ok`."""
    if not ok:
        raise ConfigError(f"{key}={value!r} is invalid: expected {accepted}")


# Lightning's precision settings.
PRECISIONS = ("64-true", "64", "32-true", "32", "16-true", "16-mixed", "16", "bf16-true",
              "bf16-mixed", "bf16", "transformer-engine", "transformer-engine-float16")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")

POSITIVE = ("trainer.batch_size", "trainer.accumulate_grad_batches", "data.block_size",
            "eval.window", "eval.stride", "eval.batch_size")
POSITIVE_OR_NULL = ("eval.max_tokens", "eval.retention_doc_tokens")


def check_shared(cfg: DictConfig, corpora: Collection[str],
                 gpu_visible: Callable[[], bool]) -> None:
    """The value checks of the shared sections, given the known corpus names and how to ask
    whether a GPU is visible (asked only for a GPU accelerator: it imports torch)."""
    names = ", ".join(sorted(corpora))
    check(cfg.trainer.precision in PRECISIONS, "trainer.precision", cfg.trainer.precision,
          f"one of {', '.join(PRECISIONS)}")
    check(cfg.trainer.accelerator in ACCELERATORS, "trainer.accelerator",
          cfg.trainer.accelerator, f"one of {', '.join(ACCELERATORS)}")
    check(cfg.trainer.accelerator not in ("gpu", "cuda") or gpu_visible(), "trainer.accelerator",
          cfg.trainer.accelerator, "auto or cpu on this machine: no GPU is visible "
          "(torch.cuda.is_available() is false)")
    for key in ("data.chunk_chars",):
        value = OmegaConf.select(cfg, key)
        check(value is None or value > 0, key, value, "null or an integer > 0")
    check(cfg.data.domain in corpora, "data.domain", cfg.data.domain, f"one of {names}")
    check(cfg.eval.retention is None or cfg.eval.retention in corpora, "eval.retention",
          cfg.eval.retention, f"null or one of {names}")
    check(cfg.model.dtype in ("float32", "bfloat16", "float16"), "model.dtype", cfg.model.dtype,
          "float32, bfloat16 or float16")
    check(cfg.trainer.max_steps >= 0, "trainer.max_steps", cfg.trainer.max_steps,
          "an integer >= 0")
    for key in POSITIVE:
        value = OmegaConf.select(cfg, key)
        check(value > 0, key, value, "an integer > 0")
    for key in POSITIVE_OR_NULL:
        value = OmegaConf.select(cfg, key)
        check(value is None or value > 0, key, value, "null (no cap) or an integer > 0")
    check(cfg.eval.stride < cfg.eval.window, "eval.stride", cfg.eval.stride,
          f"less than eval.window={cfg.eval.window} (each window needs context)")
    check(cfg.method.optim.lr > 0, "method.optim.lr", cfg.method.optim.lr, "a number > 0")
    lrs = cfg.method.optim.lrs
    if lrs is not None:
        check(len(lrs) > 0 and all(lr > 0 for lr in lrs), "method.optim.lrs", list(lrs),
              "a non-empty list of numbers > 0")
        check(cfg.eval.validation, "eval.validation", cfg.eval.validation,
              "true: method.optim.lrs chooses the learning rate on the validation split")
    extend = cfg.method.optim.lrs_extend
    check(extend >= 0, "method.optim.lrs_extend", extend, "an integer >= 0")
    check(extend == 0 or lrs is not None, "method.optim.lrs_extend", extend,
          "0 without method.optim.lrs (it extends that grid)")
    for key in ("data.validation_permille", "data.test_permille"):
        value = OmegaConf.select(cfg, key)
        check(0 <= value <= 500, key, value, "an integer in 0..500")


def check_context(cfg: DictConfig, context: int, limit: str) -> None:
    """Evaluation windows and training blocks fit in the context; `limit` describes it."""
    for key in ("eval.window", "data.block_size"):
        value = OmegaConf.select(cfg, key)
        check(value <= context, key, value, f"at most {limit}")


def check_trainable(cfg: DictConfig) -> None:
    lora = cfg.method.trainable.lora
    check(lora.r > 0, "method.trainable.lora.r", lora.r, "an integer > 0")
