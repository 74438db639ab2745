"""pretrain: train a small model from scratch from a recipe and keep it in the zoo.

The recipe (shape, borrowed tokenizer, corpus mix, token budget, optimiser, seed) is the key of
`<cache>/zoo/<name>/`; afterwards `model=zoo/<name>` loads it like any model directory. A name
that was built from another recipe is refused, so a zoo model always means one thing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from transplant.cache import named_dir
from transplant.config import MethodConfig, check, check_context
from transplant.data.corpora import CORPORA
from transplant.methods.common import (
    PARAMS_SPECS,
    domain_perplexity,
    evaluate,
    evaluation_specs,
    load,
    split_stream,
    token_budget,
    train,
    train_specs,
)
from transplant.methods.method import Method
from transplant.metrics import LOWER, Kind, spec
from transplant.models.facts import ModelFacts
from transplant.models.recipes import PRETRAIN_FAMILIES, ModelRecipe, init_model
from transplant.models.zoo import NAME, ZOO_PREFIX, zoo_dir
from transplant.products import model_identity, product_key
from transplant.runs import RunContext
from transplant.training.policies import count_parameters

if TYPE_CHECKING:
    from transplant.data.tokens import TokenStream

log = logging.getLogger("transplant")


@dataclass
class RecipeConfig(ModelRecipe):
    """The model trained from scratch, kept as zoo/<name>."""

    name: str = "unnamed"
    tokenizer: str = "smollm2_135m"  # borrowed from an embedded (or any) model
    # Continued pretraining: start from this model's weights; its shape and tokenizer then
    # replace the recipe's (family, layers, hidden, ... and tokenizer are not read).
    init: str | None = None
    corpora: list[str] = field(default_factory=lambda: ["python_code", "python_docs"])


@dataclass
class PretrainConfig(MethodConfig):
    name: str = "pretrain"
    recipe: RecipeConfig = field(default_factory=RecipeConfig)


def check_recipe(cfg: DictConfig, facts: ModelFacts | None) -> None:
    recipe = cfg.method.recipe
    check(bool(NAME.match(recipe.name)) and recipe.name != "unnamed", "method.recipe.name",
          recipe.name, "a zoo name of letters, digits, '_', '.', '-' (the model is then "
          "model=zoo/<name>)")
    check(recipe.family in PRETRAIN_FAMILIES, "method.recipe.family", recipe.family,
          f"one of {', '.join(PRETRAIN_FAMILIES)}")
    for key in ("layers", "hidden", "heads", "context"):
        check(recipe[key] > 0, f"method.recipe.{key}", recipe[key], "an integer > 0")
    check(recipe.hidden % recipe.heads == 0, "method.recipe.heads", recipe.heads,
          f"a divisor of method.recipe.hidden={recipe.hidden}")
    check(len(recipe.corpora) > 0 and all(c in CORPORA for c in recipe.corpora),
          "method.recipe.corpora", list(recipe.corpora),
          f"a non-empty list of {', '.join(sorted(CORPORA))}")
    check_context(cfg, recipe.context, f"method.recipe.context={recipe.context}")


def mixed_stream(cfg: DictConfig, ctx: RunContext, corpora: list[str], split: str,
                 tokenizer, tokens: int) -> tuple[TokenStream, dict[str, float]]:
    """Equal shares of each corpus's split, concatenated (training shuffles the blocks), and
    the mix actually drawn: a corpus smaller than its share gives what it has, so its share
    shrinks, and a stream shorter than the budget is read more than once. Both are warned of
    and recorded (`mix_<corpus>_tokens`, `mix_<corpus>_share`, `mix_epochs`)."""
    import torch

    from transplant.data.tokens import TokenStream

    share = -(-tokens // len(corpora))
    parts = [split_stream(cfg, ctx, tokenizer, c, split, share) for c in corpora]
    total = sum(p.n_predicted for p in parts)
    mix: dict[str, float] = {"mix_epochs": tokens / total}
    for corpus, part in zip(corpora, parts, strict=True):
        mix[f"mix_{corpus}_tokens"] = part.n_predicted
        mix[f"mix_{corpus}_share"] = part.n_predicted / total
        if part.n_predicted < share:
            log.warning("corpus %s supplies %d of its %d-token share of the mix (its %s split "
                        "is smaller): its share is %.0f%%, not %.0f%%", corpus,
                        part.n_predicted, share, split, 100 * part.n_predicted / total,
                        100 / len(corpora))
    if total < tokens:
        log.warning("the mix holds %d tokens for a %d-token budget: it is read %.2f times",
                    total, tokens, tokens / total)
    stream = TokenStream(torch.cat([p.ids for p in parts]), torch.cat([p.scored for p in parts]),
                         sum(p.n_bytes for p in parts), sum(p.n_docs for p in parts),
                         "+".join(corpora), split)
    return stream, mix


def zoo_key(cfg: DictConfig) -> dict[str, Any]:
    """What determines a zoo model: its recipe (shape, tokenizer, corpora; the model it
    continues, if any), the corpora's split, the block size, trainer, optimiser and seed. Its
    name is the entry's name, not part of the key: one name, one recipe."""
    init = cfg.method.recipe.init
    return product_key(cfg, ["method.recipe", "data.block_size", "data.validation_permille",
                             "data.test_permille", "trainer", "method.optim", "seed"],
                       without=["method.recipe.name"],
                       **({"init": model_identity(cfg, init)} if init else {}))


def run(cfg: DictConfig, ctx: RunContext) -> dict[str, Any]:
    from transplant.models.loading import load_tokenizer

    settings = cfg.method.recipe
    recipe = ModelRecipe(**{f.name: settings[f.name] for f in fields(ModelRecipe)})
    corpora = list(settings.corpora)
    key = zoo_key(cfg)
    stats: dict[str, Any] = {}

    def build(out) -> None:
        if settings.init:  # continued pretraining
            model, tokenizer = load(cfg, ctx, settings.init)
        else:
            tokenizer = load_tokenizer(settings.tokenizer, ctx.cache)
            model = init_model(recipe, tokenizer, cfg.seed)
        stream, mix = mixed_stream(cfg, ctx, corpora, "train", tokenizer, token_budget(cfg))
        stats.update(mix)
        stats.update(train(model, tokenizer, cfg, ctx, data=stream,
                           phase=f"zoo-{settings.name}").as_metrics())
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)

    named_dir("zoo", settings.name, key, build, root=ctx.cache)
    model, tokenizer = load(cfg, ctx, ZOO_PREFIX + settings.name)
    trainable, total = count_parameters(model)
    metrics: dict[str, Any] = {"model": ZOO_PREFIX + settings.name, "params_total": total,
                               "params_trainable": trainable, "reused": not stats, **stats}
    for corpus in corpora:  # the validation perplexity the zoo documents
        val = domain_perplexity(model, tokenizer, cfg, ctx, "val", corpus, split="validation")
        metrics[f"val_ppl_{corpus}"] = val["val_ppl"]
        metrics[f"val_bpb_{corpus}"] = val["val_bpb"]
    return {**metrics, **evaluate(model, tokenizer, cfg, ctx)}


def zoo_model(cfg: DictConfig) -> Path:
    """The weights file of the zoo model a run builds (or reuses)."""
    return zoo_dir(cfg.paths.cache) / cfg.method.recipe.name / "model.safetensors"


METHOD = Method("pretrain", PretrainConfig, run, check_recipe, needs_model=False,
                trains_on_target=False, product=zoo_model, metrics=(
                    *evaluation_specs(), *train_specs(), *PARAMS_SPECS,
                    spec("reused", Kind.flag), spec("mix_epochs", Kind.value),
                    spec("mix_*_tokens", Kind.count), spec("mix_*_share", Kind.ratio),
                    spec("val_ppl_*", Kind.perplexity, LOWER),
                    spec("val_bpb_*", Kind.bits_per_byte, LOWER, unit="bits/byte")))
