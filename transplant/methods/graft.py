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

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from transplant.cache import cached_dir, cached_json, key_hash
from transplant.choice import Choice
from transplant.config import MethodConfig, TrainableConfig, check
from transplant.data.corpora import CORPORA, load_corpus
from transplant.data.split import split_documents
from transplant.data.tasks import TASKS
from transplant.eval.gaps import gap_recovery, tir
from transplant.methods.common import (
    PARAMS_SPECS,
    domain_perplexity,
    evaluation_specs,
    load,
    train,
    train_specs,
)
from transplant.methods.method import Method
from transplant.methods.task import score
from transplant.metrics import HIGHER, SUMMARY, Kind, Level, spec
from transplant.models.facts import ModelFacts
from transplant.products import model_identity, product_key
from transplant.runs import RunContext
from transplant.training.policies import apply_policy


class GraftSelect(Choice):
    activation = "activation"  # the K modules whose activations differ most (the paper)
    random = "random"  # K modules drawn with the run's seed (control)
    random_matched = "random_matched"  # random modules as many parameters as the top K hold
    bottom = "bottom"  # the K least different (control)


@dataclass
class GraftConfig:
    """Donor, how many modules, how chosen, how strongly."""

    donor: str = "finetuned"  # a model, or the model fine-tuned (full_ft) on donor_domain
    donor_domain: str = "tweets"
    donor_seed: int = 0
    k: int | None = 16  # modules to graft; null = all candidates
    alpha: float = 1.0  # 1 = copy (the paper); < 1 interpolates
    select: GraftSelect = GraftSelect.activation
    workload: str = "tweets"  # prompts for the activation capture (validation split)
    workload_size: int = 64
    accuracy_items: int | None = None  # test tweets for sentiment accuracy; null: all


@dataclass
class GraftMethodConfig(MethodConfig):
    name: str = "graft"
    graft: GraftConfig = field(default_factory=GraftConfig)


def check_graft(cfg: DictConfig, facts: ModelFacts) -> None:
    settings = cfg.method.graft
    corpora = ", ".join(sorted(CORPORA))
    check(0.0 <= settings.alpha <= 1.0, "method.graft.alpha", settings.alpha,
          "a number in [0, 1]")
    check(settings.k is None or settings.k >= 0, "method.graft.k", settings.k,
          "null (all) or an integer >= 0")
    for key in ("donor_domain", "workload"):
        check(settings[key] in CORPORA, f"method.graft.{key}", settings[key], f"one of {corpora}")


def donor_key(cfg: DictConfig) -> dict[str, Any]:
    """What determines the fine-tuned donor: the model, the data it trains on (`donor_domain`,
    split as configured), the trainer, the optimiser and the donor's seed."""
    settings = cfg.method.graft
    return product_key(cfg, ["model", "data", "trainer", "method.optim"],
                       replace={"data.domain": settings.donor_domain}, seed=settings.donor_seed)


def activity_key(cfg: DictConfig, model: dict[str, Any]) -> dict[str, Any]:
    """What determines a model's activation statistics: the model (`model_identity`) and the
    prompt workload (its corpus, size and split)."""
    return product_key(cfg, ["data.validation_permille", "data.test_permille",
                             "method.graft.workload", "method.graft.workload_size"], **model)


def quality_key(cfg: DictConfig, model: dict[str, Any]) -> dict[str, Any]:
    """What determines an unmodified model's `_quality`: the model, the data, the evaluation
    settings and how many test items are scored."""
    return product_key(cfg, ["data", "eval", "method.graft.accuracy_items"], **model)


def donor_identity(cfg: DictConfig) -> dict[str, Any]:
    """What identifies the donor (`products.model_identity`): a named model, or the fine-tuned
    donor by its cache entry's name (its key's hash), wherever the cache is."""
    donor = cfg.method.graft.donor
    if donor == "finetuned":
        donor = f"finetuned/{key_hash('finetuned', donor_key(cfg))}"
    return model_identity(cfg, donor)


def finetuned_donor(cfg: DictConfig, ctx: RunContext) -> Path:
    """The model fully fine-tuned on `donor_domain`, trained once and kept in the cache."""
    settings = cfg.method.graft
    key = donor_key(cfg)

    def build(out: Path) -> None:
        model, tokenizer = load(cfg, ctx)
        apply_policy(model, TrainableConfig())
        train(model, tokenizer, cfg, ctx, domain=settings.donor_domain,
              seed=settings.donor_seed, phase=f"finetuned-{key_hash('finetuned', key)}",
              product="donor")
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)

    return cached_dir("finetuned", key, build, root=ctx.cache)


def _workload(cfg: DictConfig) -> list[str]:
    settings = cfg.method.graft
    docs = split_documents(load_corpus(settings.workload), cfg.data.validation_permille,
                           cfg.data.test_permille)["validation"]
    return [d.text for d in docs[: settings.workload_size]]


def _last_token_activity(model, tokenizer, identity: dict[str, Any], cfg: DictConfig,
                         ctx: RunContext) -> dict[str, float]:
    key = activity_key(cfg, identity)

    def compute() -> dict[str, float]:
        from transplant.analysis.capture import capture_stats, prompt_batches

        stats = capture_stats(model, prompt_batches(tokenizer, _workload(cfg)))
        return {n: s.last_abs_mean for n, s in stats.items()}

    return cached_json("activations", key, compute, "last_abs_mean.json", root=ctx.cache)


SCORED_TASK = "tweets"  # the zero-shot task every graft is scored on (its donor's domain)


def _quality(model, tokenizer, cfg: DictConfig, ctx: RunContext) -> dict[str, Any]:
    """Target-domain test perplexity, and zero-shot accuracy, macro-F1 and the majority class
    on the tweets' sentiment task (the prompt every method scores with), over its test split
    (whole unless capped): `target_ppl`, `target_acc`, ..."""
    return {**domain_perplexity(model, tokenizer, cfg, ctx, "target"),
            **score(model, tokenizer, TASKS[SCORED_TASK], cfg, None, "target", "test",
                    cfg.method.graft.accuracy_items)}


def _reference_quality(model, tokenizer, identity: dict[str, Any], cfg: DictConfig,
                       ctx: RunContext) -> dict[str, float]:
    """Quality of an unmodified target or donor: the same for every run of a sweep, so cached."""
    return cached_json("evals", quality_key(cfg, identity),
                       lambda: _quality(model, tokenizer, cfg, ctx),
                       "quality.json", root=ctx.cache)


def run(cfg: DictConfig, ctx: RunContext) -> dict[str, Any]:
    from transplant.surgery.graft import (
        candidate_modules,
        graft,
        random_matched_modules,
        random_modules,
        rank_modules,
    )

    settings = cfg.method.graft
    donor_name = (str(finetuned_donor(cfg, ctx)) if settings.donor == "finetuned"
                  else settings.donor)
    target, tokenizer = load(cfg, ctx)
    donor, _ = load(cfg, ctx, donor_name)
    identity = {"target": model_identity(cfg), "donor": donor_identity(cfg)}
    candidates = candidate_modules(target, donor)

    k = None if settings.k is None else min(settings.k, len(candidates))
    sizes = {n: sum(p.numel() for p in target.get_submodule(n).parameters())
             for n in candidates}
    matched_params = None
    if settings.select == GraftSelect.random:
        chosen = random_modules(candidates, k, cfg.seed)
    else:
        target_activity = _last_token_activity(target, tokenizer, identity["target"], cfg, ctx)
        donor_activity = _last_token_activity(donor, tokenizer, identity["donor"], cfg, ctx)
        scores = {n: donor_activity[n] - target_activity[n] for n in candidates}
        order = "bottom" if settings.select == GraftSelect.bottom else "top"
        chosen = rank_modules(scores, k, order=order)
        if settings.select == GraftSelect.random_matched:
            matched_params = sum(sizes[n] for n in chosen)  # what the top K hold
            chosen = random_matched_modules(sizes, matched_params, cfg.seed)

    # The grafted model's numbers carry the names every method uses (target_ppl, target_acc,
    # ...); the unmodified target's are before_*, the donor's donor_*.
    reference = {"before": _reference_quality(target, tokenizer, identity["target"], cfg, ctx),
                 "donor": _reference_quality(donor, tokenizer, identity["donor"], cfg, ctx)}
    if chosen and settings.alpha > 0:
        graft(target, donor, chosen, settings.alpha)
        after = _quality(target, tokenizer, cfg, ctx)
    else:  # nothing grafted: the model is the target, whose numbers are cached
        after = reference["before"]
    before, upper = reference["before"], reference["donor"]
    return {
        "donor": donor_name, "select": str(settings.select), "k": len(chosen),
        "alpha": settings.alpha, "candidates": len(candidates), "params_trainable": 0,
        "train_tokens": 0,
        "grafted_params": sum(sizes[n] for n in chosen), "matched_params": matched_params,
        **{f"{who}_{m}": v for who, q in reference.items() for m, v in q.items()},
        **after,
        "gap_recovery_ppl": gap_recovery(after["target_ppl"], before["target_ppl"],
                                         upper["target_ppl"], lower_is_better=True),
        "gap_recovery_acc": gap_recovery(after["target_acc"], before["target_acc"],
                                         upper["target_acc"]),
        "tir_acc": tir(after["target_acc"], before["target_acc"]),
        "modules": ",".join(chosen) if len(chosen) <= 16 else f"{len(chosen)} modules",
    }


METHOD = Method("graft", GraftMethodConfig, run, check_graft, trains_on_target=False,
                metrics=(*evaluation_specs(), *evaluation_specs("before_", Level.detail),
                         *evaluation_specs("donor_", Level.detail),
                         *(spec(f"gap_recovery_{m}", Kind.ratio, HIGHER, SUMMARY)
                           for m in ("ppl", "acc")),
                         spec("tir_acc", Kind.ratio, HIGHER, SUMMARY),
                         spec("alpha", Kind.value, level=SUMMARY),
                         *(spec(n, Kind.count) for n in ("k", "candidates", "grafted_params",
                                                         "matched_params")),
                         *(spec(n, Kind.text) for n in ("donor", "select", "modules")),
                         *train_specs(), *PARAMS_SPECS))
