"""The typed config schema (Hydra structured configs) and the checks run before any model loads.

The schema makes Hydra reject unknown keys and wrong types by name; `validate` checks values
(ranges, known corpora, window within the model's context) and names the key and what it accepts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig


@dataclass
class ModelConfig:
    name: str = MISSING  # embedded model, tiny_* config, local directory or hub id
    dtype: str = "float32"
    seed: int = 0
    revision: str | None = None
    trust_remote_code: bool = False


@dataclass
class DataConfig:
    domain: str = MISSING  # the target corpus
    paths: list[str] = field(default_factory=list)  # text_files
    hf_path: str | None = None  # hf_dataset
    hf_name: str | None = None
    hf_split: str = "train"
    text_field: str = "text"
    block_size: int = 128
    validation_permille: int = 50
    test_permille: int = 50


@dataclass
class LoraConfig:
    r: int = 8
    alpha: int = 16
    dropout: float = 0.0
    targets: list[str] = field(default_factory=list)


@dataclass
class TrainableConfig:
    name: str = "all"  # all | lora | subset
    lora: LoraConfig = field(default_factory=LoraConfig)
    patterns: list[str] = field(default_factory=list)


@dataclass
class OptimConfig:
    lr: float = 1e-4
    weight_decay: float = 0.0
    warmup_steps: int = 0


@dataclass
class RecipeConfig:
    """method=pretrain: the model trained from scratch, kept as zoo/<name>."""

    name: str = "unnamed"
    family: str = "llama"
    layers: int = 4
    hidden: int = 128
    heads: int = 4
    kv_heads: int | None = None
    intermediate: int | None = None
    context: int = 512
    tie_embeddings: bool = True
    tokenizer: str = "smollm2_135m"  # borrowed from an embedded (or any) model
    corpora: list[str] = field(default_factory=lambda: ["python_code", "python_docs"])


@dataclass
class OrganConfig:
    """method=organ: which layers form the organ, and where it goes."""

    start: int | None = None  # None: floor(L/3), the paper's default
    length: int = 3
    position: int | None = None  # None: where it came from
    mode: str = "replace"  # replace | insert
    recipient: str | None = None  # None: the donor (model.name), reloaded untouched
    in_place: bool = False  # train inside the frozen full donor instead of the wrapper


@dataclass
class GrowConfig:
    """method=grow: what grows and what trains."""

    kind: str = "mlp"  # mlp (replicate units) | depth (insert identity blocks)
    copies: int = 2
    layers: str = "all"  # all | first:N | last:N | even:N | "0,5,9"
    policy: str = "freeze"  # mlp: freeze (only new copies train) | train (grown MLPs train)


@dataclass
class GraftConfig:
    """method=graft: donor, how many modules, how chosen, how strongly."""

    donor: str = "finetuned"  # a model, or the model fine-tuned (full_ft) on donor_domain
    donor_domain: str = "tweets"
    donor_seed: int = 0
    k: int | None = 16  # modules to graft; null = all candidates
    alpha: float = 1.0  # 1 = copy (the paper); < 1 interpolates
    select: str = "activation"  # activation | random | bottom
    workload: str = "tweets"  # prompts for the activation capture (validation split)
    workload_size: int = 64
    accuracy_items: int = 200  # test tweets for zero-shot sentiment accuracy


@dataclass
class MethodConfig:
    name: str = MISSING
    train: bool = True
    trainable: TrainableConfig = field(default_factory=TrainableConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    recipe: RecipeConfig = field(default_factory=RecipeConfig)
    organ: OrganConfig = field(default_factory=OrganConfig)
    grow: GrowConfig = field(default_factory=GrowConfig)
    graft: GraftConfig = field(default_factory=GraftConfig)


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


@dataclass
class EvalConfig:
    retention: str | None = "python_docs"  # the domain whose forgetting is measured
    window: int = 256
    stride: int = 128
    max_tokens: int = 4096  # predicted tokens per evaluated domain (test split)
    batch_size: int = 8


@dataclass
class LoggerConfig:
    name: str = "csv"  # csv | wandb | none
    project: str = "transplant"
    entity: str | None = None
    mode: str = "offline"  # wandb: offline unless the user says online
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
    method: MethodConfig = field(default_factory=MethodConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)


def register_schema() -> None:
    ConfigStore.instance().store(name="_schema", node=Config)


# Methods that train or evaluate a causal language model (perplexity).
LM_METHODS = ("zero_shot", "full_ft", "lora", "pretrain", "organ", "grow", "graft")


class ConfigError(ValueError):
    """A config value is out of range or unknown; the message names the key."""


def _check(ok: bool, key: str, value: Any, accepted: str) -> None:
    if not ok:
        raise ConfigError(f"{key}={value!r} is invalid: expected {accepted}")


def validate(cfg: DictConfig) -> None:
    """Check values before any model loads. Raises ConfigError naming the first bad key."""
    from transplant.data.corpora import CORPORA
    from transplant.methods import METHODS
    from transplant.training.policies import POLICIES

    corpora = ", ".join(sorted(CORPORA))
    _check(cfg.method.name in METHODS, "method.name", cfg.method.name,
           f"one of {', '.join(sorted(METHODS))}")
    _check(cfg.data.domain in CORPORA, "data.domain", cfg.data.domain, f"one of {corpora}")
    _check(cfg.eval.retention is None or cfg.eval.retention in CORPORA, "eval.retention",
           cfg.eval.retention, f"null or one of {corpora}")
    _check(cfg.method.trainable.name in POLICIES, "method.trainable.name",
           cfg.method.trainable.name, f"one of {', '.join(POLICIES)}")
    _check(cfg.model.dtype in ("float32", "bfloat16", "float16"), "model.dtype", cfg.model.dtype,
           "float32, bfloat16 or float16")
    _check(cfg.logger.name in ("csv", "wandb", "none"), "logger.name", cfg.logger.name,
           "csv, wandb or none")
    _check(cfg.logger.mode in ("offline", "online", "disabled"), "logger.mode",
           cfg.logger.mode, "offline, online or disabled")
    for key in ("trainer.max_steps",):
        _check(_get(cfg, key) >= 0, key, _get(cfg, key), "an integer >= 0")
    for key in ("trainer.batch_size", "trainer.accumulate_grad_batches", "data.block_size",
                "eval.window", "eval.stride", "eval.max_tokens", "eval.batch_size",
                "method.trainable.lora.r"):
        _check(_get(cfg, key) > 0, key, _get(cfg, key), "an integer > 0")
    _check(cfg.eval.stride < cfg.eval.window, "eval.stride", cfg.eval.stride,
           f"less than eval.window={cfg.eval.window} (each window needs context)")
    _check(cfg.method.optim.lr > 0, "method.optim.lr", cfg.method.optim.lr, "a number > 0")
    for key in ("data.validation_permille", "data.test_permille"):
        _check(0 <= _get(cfg, key) <= 500, key, _get(cfg, key), "an integer in 0..500")
    if cfg.method.name == "pretrain":
        _validate_recipe(cfg)
        return  # the model does not exist yet: its recipe is what to check
    family, context = _model_facts(cfg)
    if cfg.method.name in LM_METHODS:
        from transplant.models.families import FAMILIES

        _check(FAMILIES[family].causal, "model.name", cfg.model.name,
               f"a causal language model for method {cfg.method.name}; {cfg.model.name} is a "
               f"{family} encoder")
    for key in ("eval.window", "data.block_size"):
        _check(_get(cfg, key) <= context, key, _get(cfg, key),
               f"at most the model's context length {context} ({cfg.model.name})")
    if cfg.method.name == "organ":
        _validate_organ(cfg)
    if cfg.method.name == "grow":
        _validate_grow(cfg)
    if cfg.method.name == "graft":
        g = cfg.method.graft
        _check(g.select in ("activation", "random", "bottom"), "method.graft.select", g.select,
               "activation, random or bottom")
        _check(0.0 <= g.alpha <= 1.0, "method.graft.alpha", g.alpha, "a number in [0, 1]")
        _check(g.k is None or g.k >= 0, "method.graft.k", g.k, "null (all) or an integer >= 0")
        _check(g.donor_domain in CORPORA, "method.graft.donor_domain", g.donor_domain,
               f"one of {corpora}")


def _validate_organ(cfg: DictConfig) -> None:
    from transplant.models.families import FAMILIES
    from transplant.models.loading import ModelSpec, model_config

    o = cfg.method.organ
    _check(o.mode in ("replace", "insert"), "method.organ.mode", o.mode, "replace or insert")
    _check(o.length > 0, "method.organ.length", o.length, "an integer > 0")
    family, _ = _model_facts(cfg)
    n = _layer_count(cfg)
    if n is not None:
        start = o.start if o.start is not None else n // 3
        _check(0 <= start <= n - o.length, "method.organ.start", o.start,
               f"0..{n - o.length} for a {o.length}-layer organ of a {n}-layer donor")
        if o.position is not None and o.recipient is None:
            last = n - o.length if o.mode == "replace" else n
            _check(0 <= o.position <= last, "method.organ.position", o.position,
                   f"0..{last} ({o.mode} of a {o.length}-layer organ, {n}-layer recipient)")
    if o.recipient is not None:
        config = model_config(ModelSpec(o.recipient))
        _check(FAMILIES[family].model_types[0] in (config.model_type,) or
               config.model_type in FAMILIES[family].model_types, "method.organ.recipient",
               o.recipient, f"a {family}-family model like the donor")


def _validate_grow(cfg: DictConfig) -> None:
    from transplant.surgery.grow import select_layers

    g = cfg.method.grow
    _check(g.kind in ("mlp", "depth"), "method.grow.kind", g.kind, "mlp or depth")
    _check(g.policy in ("freeze", "train"), "method.grow.policy", g.policy, "freeze or train")
    _check(g.copies >= 2, "method.grow.copies", g.copies, "an integer >= 2")
    if g.kind == "mlp" and g.policy == "freeze":
        # Decoupled weight decay would move the frozen original units.
        _check(cfg.method.optim.weight_decay == 0, "method.optim.weight_decay",
               cfg.method.optim.weight_decay, "0 with method.grow.policy=freeze (weight decay "
               "would change the original units, which must stay bit-identical)")
    n = _layer_count(cfg)
    if n is not None:
        try:
            select_layers(n, g.layers)
        except ValueError as e:
            raise ConfigError(f"method.grow.layers={g.layers!r} is invalid: {e}") from e


def _layer_count(cfg: DictConfig) -> int | None:
    from transplant.models.embedded import EMBEDDED
    from transplant.models.families import arch_for
    from transplant.models.loading import ModelSpec, model_config

    if cfg.model.name in EMBEDDED and EMBEDDED[cfg.model.name].layers:
        return EMBEDDED[cfg.model.name].layers
    config = model_config(ModelSpec(cfg.model.name))
    return getattr(config, arch_for(config).num_layers_key)


def _validate_recipe(cfg: DictConfig) -> None:
    from transplant.data.corpora import CORPORA
    from transplant.models.recipes import PRETRAIN_FAMILIES
    from transplant.models.zoo import NAME

    r = cfg.method.recipe
    _check(bool(NAME.match(r.name)) and r.name != "unnamed", "method.recipe.name", r.name,
           "a zoo name of letters, digits, '_', '.', '-' (the model is then model=zoo/<name>)")
    _check(r.family in PRETRAIN_FAMILIES, "method.recipe.family", r.family,
           f"one of {', '.join(PRETRAIN_FAMILIES)}")
    for key in ("layers", "hidden", "heads", "context"):
        _check(r[key] > 0, f"method.recipe.{key}", r[key], "an integer > 0")
    _check(r.hidden % r.heads == 0, "method.recipe.heads", r.heads,
           f"a divisor of method.recipe.hidden={r.hidden}")
    _check(len(r.corpora) > 0 and all(c in CORPORA for c in r.corpora), "method.recipe.corpora",
           list(r.corpora), f"a non-empty list of {', '.join(sorted(CORPORA))}")
    for key in ("eval.window", "data.block_size"):
        _check(_get(cfg, key) <= r.context, key, _get(cfg, key),
               f"at most method.recipe.context={r.context}")


def _get(cfg: DictConfig, key: str) -> Any:
    node = cfg
    for part in key.split("."):
        node = node[part]
    return node


def _model_facts(cfg: DictConfig) -> tuple[str, int]:
    """(family, context length) of the configured model, from its config alone."""
    from transplant.models.embedded import EMBEDDED
    from transplant.models.families import arch_for
    from transplant.models.loading import ModelSpec, model_config

    if cfg.model.name in EMBEDDED:  # known without dequantising the GGUF file
        emb = EMBEDDED[cfg.model.name]
        return emb.family, emb.context_length
    config = model_config(ModelSpec(cfg.model.name, revision=cfg.model.revision,
                                    trust_remote_code=cfg.model.trust_remote_code))
    family = arch_for(config).family
    for attr in ("max_position_embeddings", "n_positions", "n_ctx"):
        if getattr(config, attr, None):
            return family, int(getattr(config, attr))
    return family, 1 << 30
