"""Label-likelihood scoring: the LM head at the read positions only vs at every position, and
prompts batched by length vs in their own order.

Scores the first N tweets of the test split (the portability and graft prompt) with one-token
labels three ways (every position in the prompts' order: the baseline; read positions in the
prompts' order; read positions batched by length), interleaved, best of R; checks they give the
same scores and prints prompts/s and each step's ratio. The head's share of a forward, and so
the first gain, grows with vocabulary / width: a zoo-shaped model (hidden 128, 4 layers,
SmolLM2's 49,152 tokens) and SmolLM2-135M itself (hidden 576, 30 layers). The second is the
padding a batch of unequal prompts no longer carries.

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
    ways = {"every position": (False, False), "read positions": (True, False),
            "read positions, by length": (True, True)}
    best = dict.fromkeys(ways, float("inf"))
    scores = {}
    for _ in range(args.repeats):
        for way, (keep, by_length) in ways.items():
            start = time.perf_counter()
            scores[way] = label_scores(model, tokenizer, prompts, words, keep_positions=keep,
                                       by_length=by_length)
            best[way] = min(best[way], time.perf_counter() - start)
    for way in ways:
        assert torch.allclose(scores[way], scores["every position"], atol=1e-4), way
    rate = {way: args.n / t for way, t in best.items()}
    names = list(ways)
    print(f"{args.model}: " + ", ".join(f"{w} {rate[w]:.1f} prompts/s" for w in names))
    print(f"ratios: read positions / every position {rate[names[1]] / rate[names[0]]:.2f}, "
          f"by length / own order {rate[names[2]] / rate[names[1]]:.2f}")


if __name__ == "__main__":
    main()
