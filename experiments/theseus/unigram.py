"""Unigram references for the Theseus study's perplexities (experiments/theseus/README.md).

A model that ignores context entirely and predicts each token by its frequency in a train split
(add-one smoothed over the tokenizer's vocabulary), scored on exactly the tokens the study
scores (the test split's stream, separators unscored). Fit on the tweets it is what "knows the
domain's vocabulary and nothing else" scores; fit on Python code it is a context-free version of
the zoo's pretraining.

    python experiments/theseus/unigram.py                # zoo/llama-w128-s0's tokenizer
"""

from __future__ import annotations

import argparse
import math

import torch

from transplant.data.tokens import TokenStream, token_stream
from transplant.models.loading import load_tokenizer


def unigram_nll(train: TokenStream, test: TokenStream, vocab: int) -> float:
    """Mean NLL (nats) of `test`'s scored tokens under `train`'s add-one unigram."""
    counts = torch.bincount(train.ids[train.scored], minlength=vocab).double() + 1.0
    log_p = counts.log() - counts.sum().log()
    return float(-log_p[test.ids[test.scored]].mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="zoo/llama-w128-s0", help="whose tokenizer")
    parser.add_argument("--test", default="tweets")
    parser.add_argument("--fit", nargs="+", default=["tweets", "python_code"])
    parser.add_argument("--cache", default="outputs/cache")
    args = parser.parse_args()
    tokenizer = load_tokenizer(args.model, args.cache)
    test = token_stream(args.test, "test", tokenizer, None, cache=args.cache)
    print(f"| unigram fit on (train split) | {args.test} test ppl | tokens scored |")
    print("|---|---|---|")
    for corpus in args.fit:
        train = token_stream(corpus, "train", tokenizer, None, cache=args.cache)
        ppl = math.exp(unigram_nll(train, test, len(tokenizer)))
        print(f"| {corpus} ({train.n_predicted:,} tokens) | {ppl:,.0f} | {test.n_predicted:,} |")


if __name__ == "__main__":
    main()
