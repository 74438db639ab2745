"""peft_port: PEFT portability (Sabry & Belz 2024, "Assessing the Portability of Parameter
Matrices Trained by Parameter-Efficient Finetuning Methods", arXiv 2401.14228).

One run is one grid point: a PEFT module (`method.module`) trained for a labelled task on an
origin host and dataset (`method.origin`) is applied to the destination host and dataset (the
run's `model` and `data.domain`) under one condition:
  ported   the origin module as it is: scored zero-shot, then trained further on the destination;
  sampled  control: each origin tensor redrawn from N(its mean, its std), then trained;
  scratch  control: a freshly initialised module trained on the destination (the origin module
           of the points that port from the destination's host and dataset: the same cache entry).
Every condition trains for the same budget (trainer.max_steps x batch_size examples), loss on
the label word only; scores are label-likelihood accuracy, macro-F1 and the majority-class
accuracy on the whole test split (and the validation split, for choosing a learning rate). The
origin module is trained once into the cache and shared by every point that ports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from transplant.atomic import write_json
from transplant.cache import cached_dir, cached_json, key_hash
from transplant.choice import Choice
from transplant.config import MethodConfig, ModelConfig, check
from transplant.data.tasks import TASKS
from transplant.methods.common import (
    PARAMS_SPECS,
    evaluation_specs,
    load,
    train,
    train_specs,
)
from transplant.methods.method import Method
from transplant.methods.task import examples, score, score_specs, task_docs
from transplant.metrics import SUMMARY, Kind, spec
from transplant.models.facts import ModelFacts, model_facts
from transplant.products import model_identity, product_key
from transplant.runs import RunContext
from transplant.surgery.peft_modules import PeftKind
from transplant.training.policies import count_parameters

MODULE_DIR = "module"


class PrefixInit(Choice):
    text = "text"  # the host's keys and values on real text (surgery/prefix.py)
    random = "random"  # peft's N(0, 1)


class Condition(Choice):
    ported = "ported"
    sampled = "sampled"
    scratch = "scratch"


@dataclass
class ModuleConfig:
    """The PEFT module (surgery/peft_modules.py)."""

    kind: PeftKind = PeftKind.bottleneck
    r: int = 16  # LoRA rank, adapter bottleneck width
    virtual_tokens: int = 16  # prefix and prompt tuning
    phm_dim: int = 4  # Compacter's Kronecker terms (divides r)
    prefix_init: PrefixInit = PrefixInit.text  # a fresh prefix's keys and values


@dataclass
class OriginConfig:
    """Where the ported module was trained."""

    model: str | None = None  # the origin host; None: the destination host (model.name)
    data: str = "tweets"  # the origin dataset (a labelled task)


@dataclass
class PeftPortConfig(MethodConfig):
    name: str = "peft_port"
    module: ModuleConfig = field(default_factory=ModuleConfig)
    origin: OriginConfig = field(default_factory=OriginConfig)
    condition: Condition = Condition.ported
    val_items: int | None = None  # validation examples scored (None: the whole split)
    test_items: int | None = None  # test examples scored (None: the whole split, as reported)


def check_port(cfg: DictConfig, destination: ModelFacts) -> None:
    tasks = ", ".join(sorted(TASKS))
    check(cfg.data.domain in TASKS, "data.domain", cfg.data.domain,
          f"a labelled task for method peft_port: one of {tasks}")
    check(cfg.method.origin.data in TASKS, "method.origin.data", cfg.method.origin.data,
          f"one of {tasks}")
    module = cfg.method.module
    check(module.r > 0, "method.module.r", module.r, "an integer > 0")
    check(module.virtual_tokens > 0, "method.module.virtual_tokens", module.virtual_tokens,
          "an integer > 0")
    if module.kind == PeftKind.compacter:
        check(module.phm_dim > 0 and module.r % module.phm_dim == 0, "method.module.phm_dim",
              module.phm_dim, f"a divisor of method.module.r={module.r}")
    origin = cfg.method.origin.model
    if origin is not None and cfg.method.condition != Condition.scratch:
        facts = model_facts(ModelConfig(origin, trust_remote_code=cfg.model.trust_remote_code),
                            cfg.paths.cache)
        mismatches = facts.shape_mismatches(destination)
        check(not mismatches, "method.origin.model", origin,
              f"a host of the destination's shapes (origin vs destination: "
              f"{'; '.join(mismatches)})")


def score_destination(model, tokenizer, cfg: DictConfig, ctx: RunContext, prefix: str = ""
                      ) -> dict[str, Any]:
    """The destination task's test and validation scores (`<prefix>target_acc`, ...), each
    over at most `method.test_items` / `val_items` examples."""
    task = TASKS[cfg.data.domain]
    return {**score(model, tokenizer, task, cfg, ctx, f"{prefix}target", "test",
                    cfg.method.test_items),
            **score(model, tokenizer, task, cfg, ctx, f"{prefix}val_target", "validation",
                    cfg.method.val_items)}


def fresh_module(host, tokenizer, cfg: DictConfig, domain: str):
    """A newly initialised module on `host`; a prefix starts as `virtual_tokens` tokens of
    `domain`'s training text that the host has read, from a document drawn with the seed."""
    from peft import get_peft_model

    from transplant.models.families import arch_for
    from transplant.surgery.peft_modules import peft_config
    from transplant.surgery.prefix import prefix_from_text

    m = cfg.method.module
    model = get_peft_model(host, peft_config(str(m.kind), arch_for(host.config), m.r,
                                             m.virtual_tokens, m.phm_dim))
    if m.kind == PeftKind.prefix and m.prefix_init == PrefixInit.text:
        prefix_from_text(model, text_ids(task_docs(TASKS[domain], "train", cfg), tokenizer,
                                         m.virtual_tokens, cfg.seed))
    return model


def text_ids(docs: list, tokenizer, n: int, seed: int):
    """`n` token ids of the documents' running text, from a document drawn with `seed`."""
    import random

    import torch

    start = random.Random(seed).randrange(len(docs))
    ids: list[int] = []
    for doc in docs[start:] + docs[:start]:
        ids += tokenizer(doc.text, add_special_tokens=False).input_ids
        if len(ids) >= n:
            return torch.tensor(ids[:n])
    raise ValueError(f"the training split holds {len(ids)} tokens, fewer than the prefix's "
                     f"{n} virtual tokens")


def origin_key(cfg: DictConfig) -> dict[str, Any]:
    """What determines the origin module: its host, the dataset it trains on (split as
    configured), the module, the trainer, the optimiser and the seed. Not the condition: the
    scratch module of a host and dataset is the origin module of every point porting from them."""
    origin = cfg.method.origin
    return product_key(cfg, ["data", "method.module", "trainer", "method.optim", "seed"],
                       replace={"data.domain": origin.data},
                       host=model_identity(cfg, origin.model or cfg.model.name))


def origin_module(cfg: DictConfig, ctx: RunContext) -> Path:
    """The module trained on the origin host and dataset (once per key, in the cache)."""
    origin = cfg.method.origin
    host_name = origin.model or cfg.model.name
    key = origin_key(cfg)

    def build(out: Path) -> None:
        from transplant.methods.finetune import save_adapter
        from transplant.models.loading import model_source

        host, tokenizer = load(cfg, ctx, host_name)
        model = fresh_module(host, tokenizer, cfg, origin.data)
        task = TASKS[origin.data]
        data = examples(task, task_docs(task, "train", cfg), tokenizer)
        stats = train(model, tokenizer, cfg, ctx, data=data,
                      phase=f"origin-{key_hash('peft_modules', key)}", product="origin")
        spec = ModelConfig(host_name, dtype=cfg.model.dtype, seed=cfg.model.seed)
        save_adapter(model, out / MODULE_DIR, model_source(spec, ctx.cache))
        write_json(out / "origin.json", {f"origin_{k}": v for k, v in stats.as_metrics().items()})

    return cached_dir("peft_modules", key, build, root=ctx.cache)


def origin_score(cfg: DictConfig, ctx: RunContext, directory: Path) -> dict[str, Any]:
    """The origin module's test score on its own host and dataset, under this run's scoring
    options (cached per module and options, not with the module: a quick look's few items
    must never stand for a study's whole split)."""
    from transplant.surgery.port import port

    origin = cfg.method.origin
    key = product_key(cfg, ["eval", "method.test_items"], module=directory.name,
                      origin_data=origin.data)

    def compute() -> dict[str, Any]:
        host, tokenizer = load(cfg, ctx, origin.model or cfg.model.name)
        model = port(directory / MODULE_DIR, host)
        return score(model, tokenizer, TASKS[origin.data], cfg, None, "origin", "test",
                     cfg.method.test_items)

    return cached_json("evals", key, compute, "origin_score.json", root=ctx.cache)


def run(cfg: DictConfig, ctx: RunContext) -> dict[str, Any]:
    import json

    from transplant.surgery.port import port

    settings = cfg.method
    host, tokenizer = load(cfg, ctx)
    params_host = count_parameters(host)[1]
    metrics: dict[str, Any] = {"condition": str(settings.condition),
                               "module": str(settings.module.kind),
                               "origin_model": settings.origin.model or cfg.model.name,
                               "origin_data": settings.origin.data}
    if settings.condition == Condition.scratch:
        # A fresh module trained on the destination is, key for key, the origin module of every
        # point that ports from this host and dataset: train it once, in the cache, for both.
        directory = origin_module(destination_as_origin(cfg), ctx)
        model = port(directory / MODULE_DIR, host, trainable=True)
        ctx.add_artifact(directory / MODULE_DIR, "peft_module", f"module-{directory.name}")
        stats = {k.removeprefix("origin_"): v
                 for k, v in json.loads((directory / "origin.json").read_text()).items()}
    else:
        directory = origin_module(cfg, ctx)
        metrics.update(json.loads((directory / "origin.json").read_text()))
        metrics.update(origin_score(cfg, ctx, directory))
        sample = cfg.seed if settings.condition == Condition.sampled else None
        model = port(directory / MODULE_DIR, host, trainable=True, sample_seed=sample)
        ctx.add_artifact(directory / MODULE_DIR, "peft_module", f"module-{directory.name}")
        metrics.update(score_destination(model, tokenizer, cfg, ctx, prefix="zero_"))
        task = TASKS[cfg.data.domain]
        stats = train(model, tokenizer, cfg, ctx,
                      data=examples(task, task_docs(task, "train", cfg), tokenizer)).as_metrics()
    trainable, total = count_parameters(model)
    return {**metrics, "params_trainable": trainable, "params_total": total,
            "params_host": params_host, **stats, **score_destination(model, tokenizer, cfg, ctx)}


def destination_as_origin(cfg: DictConfig) -> DictConfig:
    """The run's config with the destination host and dataset as the origin."""
    return OmegaConf.merge(cfg, {"method": {"origin": {"model": cfg.model.name,
                                                       "data": cfg.data.domain}}})


METHOD = Method("peft_port", PeftPortConfig, run, check_port, metrics=(
    *evaluation_specs(), *evaluation_specs("zero_", SUMMARY), *score_specs("origin", SUMMARY),
    *train_specs(), *train_specs("origin_"), *PARAMS_SPECS,
    *(spec(n, Kind.text) for n in ("condition", "module", "origin_model", "origin_data"))))
