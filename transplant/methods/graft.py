"""graft: training-free module grafting chosen by activations (Yoon et al. 2026).

1. Target and donor: the model, and a donor that is either a named model or the model
   fine-tuned (full_ft) on `donor_domain`, built once into the cache.
2. Capture each module's mean absolute last-token output on a prompt workload (cached).
3. Choose K candidate modules: by activation difference (the paper), randomly (control, with
   the run's seed) or the least different (bottom-K control).
4. Graft: theta_t <- (1 - alpha) theta_t + alpha theta_d on those modules.
5. Evaluate target, donor and grafted model: target-domain perplexity and zero-shot sentiment
   accuracy; gap recovery and TIR.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from transplant.analysis.capture import capture_stats, prompt_batches
from transplant.cache import cached_dir, cached_json, key_hash
from transplant.data.corpora import load_corpus
from transplant.data.split import split_documents
from transplant.data.tokens import token_stream
from transplant.eval.classify import label_accuracy
from transplant.eval.gaps import gap_recovery, tir
from transplant.eval.perplexity import perplexity
from transplant.methods.common import (
    RunContext,
    corpus_spec,
    model_spec,
    optim_spec,
    train_stream,
    trainer_spec,
)
from transplant.models.loading import ModelSpec, load_model
from transplant.surgery.graft import (
    candidate_modules,
    graft,
    random_modules,
    rank_modules,
)
from transplant.training.fit import fit
from transplant.training.policies import PolicySpec, apply_policy


def finetuned_donor(cfg: DictConfig, ctx: RunContext) -> Path:
    """The model fully fine-tuned on `donor_domain`, trained once and kept in the cache."""
    g = cfg.method.graft
    trainer = trainer_spec(cfg)
    key = {"base": OmegaConf.to_container(cfg.model), "domain": g.donor_domain,
           "steps": trainer.max_steps, "blocks_per_step": trainer.blocks_per_step,
           "block_size": cfg.data.block_size, "optim": OmegaConf.to_container(cfg.method.optim),
           "seed": g.donor_seed}

    def build(out: Path) -> None:
        model, tokenizer = load_model(model_spec(cfg))
        apply_policy(model, PolicySpec("all"))
        fit(model, train_stream(cfg, tokenizer, g.donor_domain), cfg.data.block_size, trainer,
            optim_spec(cfg), g.donor_seed, logger=ctx.logger or False,
            resume_dir=ctx.resume_dir(f"finetuned-{key_hash(key)}"))
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)

    return cached_dir("finetuned", key, build)


def _workload(cfg: DictConfig) -> list[str]:
    g = cfg.method.graft
    docs = split_documents(load_corpus(g.workload), cfg.data.validation_permille,
                           cfg.data.test_permille)["validation"]
    return [d.text for d in docs[: g.workload_size]]


def _last_token_activity(model, tokenizer, name: str, cfg: DictConfig) -> dict[str, float]:
    key = {"model": name, "workload": cfg.method.graft.workload,
           "size": cfg.method.graft.workload_size, "format": 1}

    def compute() -> dict[str, float]:
        stats = capture_stats(model, prompt_batches(tokenizer, _workload(cfg)))
        return {n: s.last_abs_mean for n, s in stats.items()}

    return cached_json("activations", key, compute, "last_abs_mean.json")


def _quality(model, tokenizer, cfg: DictConfig) -> dict[str, float]:
    stream = token_stream(corpus_spec(cfg), "test", tokenizer, cfg.eval.max_tokens,
                          cfg.data.validation_permille, cfg.data.test_permille)
    ppl = perplexity(model, stream, cfg.eval.window, cfg.eval.stride, cfg.eval.batch_size,
                     progress=cfg.trainer.enable_progress_bar).ppl
    tweets = split_documents(load_corpus("tweets"), cfg.data.validation_permille,
                             cfg.data.test_permille)["test"][: cfg.method.graft.accuracy_items]
    acc = label_accuracy(model, tokenizer, [d.text for d in tweets], [d.label for d in tweets])
    return {"ppl": ppl, "sentiment_acc": acc}


def _reference_quality(model, tokenizer, name: str, cfg: DictConfig) -> dict[str, float]:
    """Quality of an unmodified target or donor: the same for every run of a sweep, so cached."""
    key = {"model": name, "dtype": cfg.model.dtype, "corpus": OmegaConf.to_container(cfg.data),
           "eval": {k: cfg.eval[k] for k in ("window", "stride", "max_tokens")},
           "accuracy_items": cfg.method.graft.accuracy_items, "format": 1}

    return cached_json("evals", key, lambda: _quality(model, tokenizer, cfg), "quality.json")


def run(cfg: DictConfig, ctx: RunContext) -> dict[str, Any]:
    g = cfg.method.graft
    donor_name = str(finetuned_donor(cfg, ctx)) if g.donor == "finetuned" else g.donor
    target, tokenizer = load_model(model_spec(cfg))
    donor, _ = load_model(ModelSpec(donor_name, cfg.model.dtype))
    candidates = candidate_modules(target, donor)

    k = None if g.k is None else min(g.k, len(candidates))
    if g.select == "random":
        chosen = random_modules(candidates, k, cfg.seed)
    else:
        t_act = _last_token_activity(target, tokenizer, cfg.model.name, cfg)
        d_act = _last_token_activity(donor, tokenizer, donor_name, cfg)
        scores = {n: d_act[n] - t_act[n] for n in candidates}
        chosen = rank_modules(scores, k, order="top" if g.select == "activation" else "bottom")

    reference = {"target": _reference_quality(target, tokenizer, cfg.model.name, cfg),
                 "donor": _reference_quality(donor, tokenizer, donor_name, cfg)}
    graft(target, donor, chosen, g.alpha)
    after = _quality(target, tokenizer, cfg)
    t, d = reference["target"], reference["donor"]
    return {
        "donor": donor_name, "select": g.select, "k": len(chosen), "alpha": g.alpha,
        "candidates": len(candidates), "params_trainable": 0, "train_tokens": 0,
        "grafted_params": sum(p.numel() for n in chosen
                              for p in target.get_submodule(n).parameters()),
        **{f"{who}_{m}": v for who, q in reference.items() for m, v in q.items()},
        **{f"grafted_{m}": v for m, v in after.items()},
        "gap_recovery_ppl": gap_recovery(after["ppl"], t["ppl"], d["ppl"], lower_is_better=True),
        "gap_recovery_acc": gap_recovery(after["sentiment_acc"], t["sentiment_acc"],
                                         d["sentiment_acc"]),
        "tir_acc": tir(after["sentiment_acc"], t["sentiment_acc"]),
        "modules": ",".join(chosen) if len(chosen) <= 16 else f"{len(chosen)} modules",
    }
