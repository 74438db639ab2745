"""The steps recipes share: load the configured model, train on a domain, evaluate.

torch, transformers and Lightning are imported inside the steps, when a run takes them: method
files import this module to define their schema and checks, which must answer at once.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from transplant.atomic import write_json
from transplant.cache import cached_json
from transplant.config import ModelConfig, Objective, OptimConfig, TrainerConfig, as_object
from transplant.data.corpora import CorpusSpec
from transplant.methods.task import score_specs
from transplant.metrics import HIGHER, LOWER, SUMMARY, Kind, Level, MetricSpec, spec
from transplant.products import product_key
from transplant.runs import RunContext

if TYPE_CHECKING:
    from torch import nn
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from transplant.data.tokens import TokenStream
    from transplant.training.data_module import TrainData
    from transplant.training.fit import TrainStats


log = logging.getLogger("transplant")


def load(cfg: DictConfig, ctx: RunContext, name: str | None = None
         ) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """The configured model, or model `name` loaded with the same options (dtype,
    trust_remote_code, tiny seed; `model.revision` only if `name` is the configured model)."""
    from transplant.models.loading import load_model

    spec: ModelConfig = as_object(cfg.model)
    if name is not None and name != spec.name:
        spec = replace(spec, name=name, revision=None)
    return load_model(spec, ctx.cache)


def corpus_spec(cfg: DictConfig, name: str | None = None) -> CorpusSpec:
    """The target corpus, or another named corpus with default options (e.g. retention)."""
    d = cfg.data
    if name is not None and name != d.domain:
        return CorpusSpec(name)
    return CorpusSpec(d.domain, tuple(d.paths), d.hf_path, d.hf_name, d.hf_split, d.text_field,
                      d.chunk_chars)


def token_budget(cfg: DictConfig) -> int:
    """Training tokens of a run: steps x blocks per step x block size (same for every arm)."""
    t = cfg.trainer
    return t.max_steps * t.batch_size * t.accumulate_grad_batches * cfg.data.block_size


def split_stream(cfg: DictConfig, ctx: RunContext, tokenizer: PreTrainedTokenizerBase,
                 domain: str | None, split: str, max_tokens: int | None,
                 doc_max_tokens: int | None = None) -> TokenStream:
    """One split of the target domain (or `domain`): at most `max_tokens` predicted tokens
    (None: all), at most `doc_max_tokens` per document (None: whole documents)."""
    from transplant.data.tokens import token_stream

    return token_stream(corpus_spec(cfg, domain), split, tokenizer, max_tokens,
                        cfg.data.validation_permille, cfg.data.test_permille, cache=ctx.cache,
                        doc_max_tokens=doc_max_tokens)


def train(model: nn.Module, tokenizer: PreTrainedTokenizerBase, cfg: DictConfig,
          ctx: RunContext, *, domain: str | None = None, data: TrainData | None = None,
          seed: int | None = None, phase: str = "train", product: str | None = None
          ) -> TrainStats:
    """Train `model` (its trainable weights already chosen) on one token budget of the target
    domain's (or `domain`'s) train split, on its labelled examples with data.objective=task,
    or on `data` (a stream, or labelled examples); preemptible, resuming from
    `ctx.resume_dir(phase)`. `product` names a cached intermediate being built (a donor, a
    source model): its curves log as `<product>/train/loss`, apart from the run's own
    training (`train/loss`), which is what the report's loss figure draws."""
    from transplant.training.fit import fit

    trainer: TrainerConfig = as_object(cfg.trainer)
    optim: OptimConfig = as_object(cfg.method.optim)
    if data is None and cfg.data.objective == Objective.task:
        from transplant.data.tasks import TASKS
        from transplant.methods.task import examples, task_docs

        task = TASKS[domain or cfg.data.domain]
        data = examples(task, task_docs(task, "train", cfg), tokenizer)
    if data is None:
        data = split_stream(cfg, ctx, tokenizer, domain, "train", token_budget(cfg))
    # One of a grid's rates (train_at_chosen_lr): its curves log apart from the others'.
    prefix = f"lr_{optim.lr:g}/" if optim.lrs is not None else ""
    if product is not None:
        prefix = f"{product}/{prefix}"
    return fit(model, data, cfg.data.block_size, trainer, optim,
               cfg.seed if seed is None else seed, logger=ctx.logger or False,
               resume_dir=ctx.resume_dir(phase), log_prefix=prefix)


def domain_perplexity(model: nn.Module, tokenizer: PreTrainedTokenizerBase, cfg: DictConfig,
                      ctx: RunContext, prefix: str, domain: str | None = None,
                      split: str = "test", doc_max_tokens: int | None = None,
                      per_doc: bool = False) -> dict[str, float | int]:
    """`<prefix>_ppl`, `_bpb`, ... of one split of the target domain (or `domain`), under the
    configured windowing (recorded with the numbers). With `per_doc`, each document's NLL,
    tokens and bytes go to `<run>/docs/<prefix>.json`, for intervals over documents."""
    from transplant.eval.perplexity import perplexity

    stream = split_stream(cfg, ctx, tokenizer, domain, split, cfg.eval.max_tokens,
                          doc_max_tokens)
    result = perplexity(model, stream, cfg.eval.window, cfg.eval.stride, cfg.eval.batch_size,
                        progress=cfg.trainer.enable_progress_bar)
    if per_doc:
        write_json(ctx.layout.doc(prefix), {
            "domain": stream.domain, "split": split, "window": result.window,
            "stride": result.stride, "doc_ids": stream.doc_ids, "nll": result.doc_nll,
            "tokens": result.doc_tokens, "bytes": stream.doc_bytes})
    return {**result.as_metrics(prefix), f"{prefix}_docs": stream.n_docs}


def _below(level: Level) -> Level:
    return Level.summary if level == Level.headline else Level.detail


def perplexity_specs(prefix: str, level: Level = Level.headline) -> tuple[MetricSpec, ...]:
    """What `domain_perplexity` writes under `prefix`: perplexity at `level`, bits per byte
    one below, and the protocol (window, stride, tokens, documents) it was measured under."""
    return (spec(f"{prefix}_ppl", Kind.perplexity, LOWER, level),
            spec(f"{prefix}_bpb", Kind.bits_per_byte, LOWER, _below(level), "bits/byte"),
            spec(f"{prefix}_nll", Kind.nll, LOWER, unit="nats/token"),
            *(spec(f"{prefix}_{n}", Kind.count) for n in ("tokens", "bytes", "docs")),
            *(spec(f"{prefix}_{n}", Kind.value) for n in ("window", "stride")),
            spec(f"{prefix}_domain", Kind.text))


def evaluation_specs(prefix: str = "", level: Level = Level.headline
                     ) -> tuple[MetricSpec, ...]:
    """What `evaluate` writes under `prefix` (either objective): the target's test split at
    `level`, its validation split and the retention domain at most at summary level."""
    rest = Level.summary if level == Level.headline else level
    return (*perplexity_specs(f"{prefix}target", level), *score_specs(f"{prefix}target", level),
            *perplexity_specs(f"{prefix}retention", rest),
            *perplexity_specs(f"{prefix}val_target", rest),
            *score_specs(f"{prefix}val_target", rest))


def train_specs(prefix: str = "") -> tuple[MetricSpec, ...]:
    """What `train`'s stats (TrainStats.as_metrics) write under `prefix`."""
    return (spec(f"{prefix}train_tokens", Kind.count, level=SUMMARY if not prefix else
                 Level.detail),
            spec(f"{prefix}train_steps", Kind.count), spec(f"{prefix}resumed_step", Kind.count),
            spec(f"{prefix}train_s", Kind.seconds, unit="s"),
            spec(f"{prefix}train_tokens_per_s", Kind.throughput, unit="tokens/s"))


PARAMS_SPECS = (spec("params_trainable", Kind.count, level=SUMMARY),
                *(spec(f"params_{n}", Kind.count) for n in ("total", "added", "host")))


def choice_specs(name: str) -> tuple[MetricSpec, ...]:
    """What `choose` writes for a value `name` chosen on validation: the value, whether it
    lies on the grid's edge, and the validation curve it was chosen on."""
    return (spec(name, Kind.choice, level=SUMMARY), spec(f"{name}_on_edge", Kind.flag,
                                                          level=SUMMARY),
            spec(f"*_ppl_{name}_*", Kind.perplexity, LOWER),
            spec(f"*_acc_{name}_*", Kind.accuracy, HIGHER))


# What a method that evaluates, trains and may choose its rate writes (finetune, grow, ...).
TRAINED_SPECS = (*evaluation_specs(), *choice_specs("lr"), *train_specs(), *PARAMS_SPECS)


def evaluate(model: nn.Module, tokenizer: PreTrainedTokenizerBase, cfg: DictConfig,
             ctx: RunContext, prefix: str = "", per_doc: bool = True,
             roles: tuple[str, ...] = ("target", "retention", "val_target")) -> dict[str, Any]:
    """Perplexity and bits/byte on the target domain's test split (and its validation split,
    `val_target_*`, with eval.validation) and on the retention domain's test split, each
    metric named `<prefix><role>_<metric>`. With data.objective=task the target domain is
    scored on its labelled task instead (`target_acc`, `_f1`, `_majority_acc`, `_n`).
    `roles` picks some of them (e.g. only the validation split, to choose a setting)."""
    parts = [("target", cfg.data.domain, "test", None)]
    if cfg.eval.retention:
        parts.append(("retention", cfg.eval.retention, "test", cfg.eval.retention_doc_tokens))
    if cfg.eval.validation:
        parts.append(("val_target", cfg.data.domain, "validation", None))
    parts = [p for p in parts if p[0] in roles]
    out: dict[str, Any] = {}
    if cfg.data.objective == Objective.task:
        from transplant.data.tasks import TASKS
        from transplant.methods.task import score

        task = TASKS[cfg.data.domain]
        for role, _, split, _ in [p for p in parts if p[0] != "retention"]:
            out.update(score(model, tokenizer, task, cfg, ctx if per_doc else None,
                             prefix + role, split))
        parts = [p for p in parts if p[0] == "retention"]
    for role, name, split, doc_cap in parts:
        out[f"{prefix}{role}_domain"] = name
        out.update(domain_perplexity(model, tokenizer, cfg, ctx, prefix + role, name, split,
                                     doc_cap, per_doc))
    return out


def reference_key(cfg: DictConfig) -> dict[str, Any]:
    """What determines `reference_evaluation`: the model, its data and the evaluation."""
    return product_key(cfg, ["model", "data", "eval"])


def reference_evaluation(model: nn.Module, tokenizer: PreTrainedTokenizerBase,
                         cfg: DictConfig, ctx: RunContext, prefix: str = "before_"
                         ) -> dict[str, Any]:
    """`evaluate` of the model as configured, before a method changes it (no per-document
    files): the same for every run of a sweep that starts from it, so computed once per model,
    data and evaluation settings and cached. Call it only on the model exactly as loaded."""
    metrics = cached_json("evals", reference_key(cfg),
                          lambda: evaluate(model, tokenizer, cfg, ctx, per_doc=False),
                          "reference.json", root=ctx.cache)
    return {prefix + k: v for k, v in metrics.items()}
