"""pretrain: train a small model from scratch from a recipe and keep it in the zoo.

The recipe (shape, borrowed tokenizer, corpus mix, token budget, optimiser, seed) is the key of
`<cache>/zoo/<name>/`; afterwards `model=zoo/<name>` loads it like any model directory. A name
that was built from another recipe is refused, so a zoo model always means one thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from transplant.cache import named_dir
from transplant.config import MethodConfig, check, check_context
from transplant.data.corpora import CORPORA
from transplant.data.tokens import TokenStream
from transplant.methods.common import (
    domain_perplexity,
    evaluate,
    load,
    split_stream,
    token_budget,
    train,
)
from transplant.methods.method import Method
from transplant.models.facts import ModelFacts
from transplant.models.loading import load_tokenizer
from transplant.models.recipes import PRETRAIN_FAMILIES, ModelRecipe, init_model
from transplant.models.zoo import NAME, ZOO_PREFIX
from transplant.runs import RunContext, result_part
from transplant.training.policies import count_parameters


@dataclass
class RecipeConfig(ModelRecipe):
    """The model trained from scratch, kept as zoo/<name>."""

    name: str = "unnamed"
    tokenizer: str = "smollm2_135m"  # borrowed from an embedded (or any) model
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
                 tokenizer, tokens: int) -> TokenStream:
    """Equal shares of each corpus's split, concatenated; training shuffles the blocks."""
    share = -(-tokens // len(corpora))
    parts = [split_stream(cfg, ctx, tokenizer, c, split, share) for c in corpora]
    return TokenStream(torch.cat([p.ids for p in parts]), torch.cat([p.scored for p in parts]),
                       sum(p.n_bytes for p in parts), sum(p.n_docs for p in parts),
                       "+".join(corpora), split)


def run(cfg: DictConfig, ctx: RunContext) -> dict[str, Any]:
    settings = cfg.method.recipe
    recipe = ModelRecipe(**{f.name: settings[f.name] for f in fields(ModelRecipe)})
    corpora = list(settings.corpora)
    key = {"recipe": recipe.as_dict(), "tokenizer": settings.tokenizer, "corpora": corpora,
           "train_tokens": token_budget(cfg), "block_size": cfg.data.block_size,
           "seed": cfg.seed, "optim": OmegaConf.to_container(cfg.method.optim),
           "trainer": result_part(cfg, "trainer")}
    tokenizer = load_tokenizer(settings.tokenizer, ctx.cache)
    stats: dict[str, Any] = {}

    def build(out) -> None:
        model = init_model(recipe, tokenizer, cfg.seed)
        stream = mixed_stream(cfg, ctx, corpora, "train", tokenizer, token_budget(cfg))
        stats.update(train(model, tokenizer, cfg, ctx, stream=stream,
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


METHOD = Method("pretrain", PretrainConfig, run, check_recipe, needs_model=False)
