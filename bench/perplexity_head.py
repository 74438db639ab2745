"""Sliding-window perplexity: the LM head at the scored positions only vs at every position.

Scores the first N tokens of a test split with `eval.perplexity` (the head at the columns a
window scores: its last `stride`) and with the same windows computing the head at every
column (the baseline, below), interleaved, best of R; checks the two give the same NLL and
prints tokens/s and the ratio. The gain is (window - stride) / window of the head's share of
a forward: large at the zoo's shape (hidden 128, 49,152-token vocabulary), small for SmolLM2.

    python bench/perplexity_head.py [--model zoo-shape|smollm2_135m] [--tokens 16384]
        [--window 256] [--stride 128] [--repeats 2]
"""

from __future__ import annotations

import argparse
import time

import torch
from label_scoring import zoo_shaped
from torch import nn

from transplant.data.corpora import load_corpus
from transplant.data.split import split_documents
from transplant.data.tokens import TokenStream, build_stream
from transplant.eval.perplexity import perplexity, sliding_windows
from transplant.models import load_model


@torch.no_grad()
def every_position_nll(model: nn.Module, stream: TokenStream, window: int, stride: int,
                       batch_size: int = 8) -> float:
    """The baseline: the same windows, the head at every column, the unscored ones masked."""
    ids, total = stream.ids, 0.0
    windows = sliding_windows(ids.numel(), window, stride)  # all `window` long: a long stream
    for i in range(0, len(windows), batch_size):
        batch = windows[i:i + batch_size]
        inputs = torch.stack([ids[w.begin:w.end] for w in batch])
        targets = inputs[:, 1:].clone()
        for row, w in enumerate(batch):
            targets[row, : w.first_target - w.begin - 1] = -100
            targets[row][~stream.scored[w.begin + 1:w.end]] = -100
        logits = model(input_ids=inputs).logits[:, :-1].float()
        total += nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)),
                                             targets.reshape(-1), ignore_index=-100,
                                             reduction="sum").item()
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="zoo-shape")
    parser.add_argument("--corpus", default="python_code")
    parser.add_argument("--tokens", type=int, default=16384)
    parser.add_argument("--window", type=int, default=256)
    parser.add_argument("--stride", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    model, tokenizer = zoo_shaped() if args.model == "zoo-shape" else load_model(args.model)
    docs = split_documents(load_corpus(args.corpus))["test"]
    stream = build_stream(docs, tokenizer, args.tokens)
    if stream.ids.numel() < args.window:
        raise SystemExit(f"--tokens {args.tokens} is shorter than one --window {args.window}")
    best = {"kept": float("inf"), "every": float("inf")}
    nll = {}
    for _ in range(args.repeats):
        start = time.perf_counter()
        nll["every"] = every_position_nll(model, stream, args.window, args.stride)
        best["every"] = min(best["every"], time.perf_counter() - start)
        start = time.perf_counter()
        nll["kept"] = perplexity(model, stream, args.window, args.stride,
                                 progress=False).nll_sum
        best["kept"] = min(best["kept"], time.perf_counter() - start)
    assert abs(nll["kept"] - nll["every"]) <= 1e-4 * abs(nll["every"]), nll
    n = stream.n_predicted
    every, kept = n / best["every"], n / best["kept"]
    print(f"{args.model} window {args.window} stride {args.stride}: every position "
          f"{every:.0f} tokens/s, scored positions {kept:.0f} tokens/s, ratio {kept / every:.2f}")


if __name__ == "__main__":
    main()
