"""The steps recipes share: load the configured model, train on a domain, evaluate.

torch, transformers and Lightning are imported inside the steps, when a run takes them: method
files import this module to define their schema and checks, which must answer at once.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from transplant.atomic import write_json
from transplant.config import ModelConfig, Objective, OptimConfig, TrainerConfig, as_object
from transplant.data.corpora import CorpusSpec
from transplant.runs import RunContext

if TYPE_CHECKING:
    from torch import nn
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from transplant.data.tokens import TokenStream
    from transplant.training.data_module import TrainData
    from transplant.training.fit import TrainStats


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
          seed: int | None = None, phase: str = "train") -> TrainStats:
    """Train `model` (its trainable weights already chosen) on one token budget of the target
    domain's (or `domain`'s) train split, on its labelled examples with data.objective=task,
    or on `data` (a stream, or labelled examples); preemptible, resuming from
    `ctx.resume_dir(phase)`."""
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
    return fit(model, data, cfg.data.block_size, trainer, optim,
               cfg.seed if seed is None else seed, logger=ctx.logger or False,
               resume_dir=ctx.resume_dir(phase))


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
        write_json(ctx.dir / DOCS_DIR / f"{prefix}.json", {
            "domain": stream.domain, "split": split, "window": result.window,
            "stride": result.stride, "doc_ids": stream.doc_ids, "nll": result.doc_nll,
            "tokens": result.doc_tokens, "bytes": stream.doc_bytes})
    return {**result.as_metrics(prefix), f"{prefix}_docs": stream.n_docs}


DOCS_DIR = "docs"  # per-document NLL of a run's evaluations


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
