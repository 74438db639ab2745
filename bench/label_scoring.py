"""Label-likelihood scoring: the LM head at the read positions only vs at every position.

Scores the first N tweets of the test split (the portability and graft prompt) with one-token
labels, both ways, interleaved, best of R; checks the two give the same scores and prints
prompts/s and the ratio. The head's share of a forward, and so the gain, grows with
vocabulary / width: a zoo-shaped model (hidden 128, 4 layers, SmolLM2's 49,152 tokens) and
SmolLM2-135M itself (hidden 576, 30 layers).

    python bench/label_scoring.py [--model zoo-shape|smollm2_135m] [--n 256] [--repeats 2]
"""

from __future__ import annotations

import argparse
import time

import torch
from transformers import AutoModelForCausalLM, LlamaConfig

from transplant.data.corpora import load_corpus
from transplant.data.split import split_documents
from transplant.data.tasks import TASKS
from transplant.eval.classify import label_scores
from transplant.models import load_model
from transplant.models.loading import load_tokenizer


def zoo_shaped():
    tokenizer = load_tokenizer("smollm2_135m")
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=128, intermediate_size=320,
                         num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=4)
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(config).eval(), tokenizer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="zoo-shape")
    parser.add_argument("--n", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    model, tokenizer = zoo_shaped() if args.model == "zoo-shape" else load_model(args.model)
    task = TASKS["tweets"]
    docs = split_documents(load_corpus("tweets"))["test"][: args.n]
    prompts = [task.template.format(text=d.text) for d in docs]
    words = [" positive", " negative"]  # one token each in SmolLM2's vocabulary
    best = {True: float("inf"), False: float("inf")}
    scores = {}
    for _ in range(args.repeats):
        for keep in (False, True):
            start = time.perf_counter()
            scores[keep] = label_scores(model, tokenizer, prompts, words, keep_positions=keep)
            best[keep] = min(best[keep], time.perf_counter() - start)
    assert torch.allclose(scores[True], scores[False], atol=1e-4), "the two paths disagree"
    full, kept = args.n / best[False], args.n / best[True]
    print(f"{args.model}: every position {full:.1f} prompts/s, read positions {kept:.1f} "
          f"prompts/s, ratio {kept / full:.2f}")


if __name__ == "__main__":
    main()
