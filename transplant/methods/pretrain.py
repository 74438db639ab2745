"""pretrain: train a small model from scratch from a recipe and keep it in the zoo.

The recipe (shape, borrowed tokenizer, corpus mix, token budget, optimiser, seed) is the key of
`<cache>/zoo/<name>/`; afterwards `model=zoo/<name>` loads it like any model directory. A name
that was built from another recipe is refused, so a zoo model always means one thing.
"""

from __future__ import annotations

from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from transplant.cache import named_dir
from transplant.data.tokens import TokenStream, token_stream
from transplant.eval.perplexity import perplexity
from transplant.methods.common import (
    RunContext,
    evaluate,
    optim_spec,
    token_budget,
    trainer_spec,
)
from transplant.models.loading import ModelSpec, load_model, load_tokenizer
from transplant.models.recipes import ModelRecipe, init_model
from transplant.models.zoo import ZOO_PREFIX
from transplant.training.fit import fit
from transplant.training.policies import count_parameters


def mixed_stream(corpora: list[str], split: str, tokenizer, tokens: int, cfg: DictConfig
                 ) -> TokenStream:
    """Equal shares of each corpus's split, concatenated; training shuffles the blocks."""
    share = -(-tokens // len(corpora))
    parts = [token_stream(c, split, tokenizer, share, cfg.data.validation_permille,
                          cfg.data.test_permille) for c in corpora]
    return TokenStream(torch.cat([p.ids for p in parts]), torch.cat([p.scored for p in parts]),
                       sum(p.n_bytes for p in parts), sum(p.n_docs for p in parts),
                       "+".join(corpora), split)


def run(cfg: DictConfig, ctx: RunContext) -> dict[str, Any]:
    r = cfg.method.recipe
    recipe = ModelRecipe(r.family, r.layers, r.hidden, r.heads, r.kv_heads, r.intermediate,
                         r.context, r.tie_embeddings)
    trainer, optim = trainer_spec(cfg), optim_spec(cfg)
    budget = token_budget(cfg)
    corpora = list(r.corpora)
    key = {"recipe": recipe.as_dict(), "tokenizer": r.tokenizer, "corpora": corpora,
           "train_tokens": budget, "block_size": cfg.data.block_size, "seed": cfg.seed,
           "optim": OmegaConf.to_container(cfg.method.optim),
           "trainer": {k: v for k, v in OmegaConf.to_container(cfg.trainer).items()
                       if k not in ("enable_progress_bar", "log_every_n_steps")}}
    tokenizer = load_tokenizer(r.tokenizer)
    stats: dict[str, Any] = {}

    def build(out) -> None:
        model = init_model(recipe, tokenizer, cfg.seed)
        train = mixed_stream(corpora, "train", tokenizer, budget, cfg)
        stats.update(fit(model, train, cfg.data.block_size, trainer, optim, cfg.seed,
                         logger=ctx.logger or False,
                         resume_dir=ctx.resume_dir(f"zoo-{r.name}")).as_metrics())
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)

    path = named_dir("zoo", r.name, key, build)
    model, tokenizer = load_model(ModelSpec(str(path)))
    trainable, total = count_parameters(model)
    metrics: dict[str, Any] = {"model": ZOO_PREFIX + r.name, "params_total": total,
                               "params_trainable": trainable, "reused": not stats, **stats}
    for corpus in corpora:  # the validation perplexity the zoo documents
        stream = token_stream(corpus, "validation", tokenizer, cfg.eval.max_tokens,
                              cfg.data.validation_permille, cfg.data.test_permille)
        result = perplexity(model, stream, cfg.eval.window, cfg.eval.stride, cfg.eval.batch_size,
                            progress=cfg.trainer.enable_progress_bar)
        metrics[f"val_ppl_{corpus}"] = result.ppl
        metrics[f"val_bpb_{corpus}"] = result.bpb
    return {**metrics, **evaluate(model, tokenizer, cfg)}
