"""How low can a module push a host's loss on the label words? (experiments/portability/README.md)

A module that leaves the final norm and the LM head frozen can at best set the last hidden
state. This finds, by gradient descent on that state alone, the lowest loss of each label word
(the state chosen per word: a perfect classifier) and of the labels' mean under one shared
state (a module that answers the format but not the sentiment).

    python experiments/portability/label_ceiling.py zoo/port-python_code-s1 smollm2_135m
"""

from __future__ import annotations

import argparse

import torch

from transplant.data.tasks import TASKS
from transplant.models.arch import owner_of
from transplant.models.families import arch_for
from transplant.models.loading import load_model


def lowest_loss(head: torch.nn.Module, width: int, targets: list[int], steps: int = 2000
                ) -> float:
    """min over one hidden state h of the mean of -log softmax(head(h))[t] over `targets`."""
    h = torch.randn(1, width, generator=torch.Generator().manual_seed(0), requires_grad=True)
    opt = torch.optim.Adam([h], lr=0.1)
    for _ in range(steps):
        loss = -torch.log_softmax(head(h), -1)[0, targets].mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return loss.item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--task", default="movie_reviews", choices=sorted(TASKS))
    parser.add_argument("--cache", default="outputs/cache")
    args = parser.parse_args()
    task = TASKS[args.task]
    columns = ["host", *(f"`{w.strip()}` alone" for w in task.label_words.values()),
               "every label, one state"]
    print("| " + " | ".join(columns) + " |\n" + "|---" * len(columns) + "|")
    for name in args.models:
        model, tokenizer = load_model(name, cache=args.cache)
        model.requires_grad_(False)
        arch = arch_for(model.config)
        norm = getattr(*owner_of(model, arch.final_norm))
        lm_head = getattr(*owner_of(model, arch.lm_head))
        words = [tokenizer(w, add_special_tokens=False).input_ids[0]  # the word's first token
                 for w in task.label_words.values()]
        head = torch.nn.Sequential(norm, lm_head)
        width = model.config.hidden_size
        each = [lowest_loss(head, width, [t]) for t in words]
        shared = lowest_loss(head, width, words)
        print(f"| {name} | " + " | ".join(f"{x:.2f}" for x in each) + f" | {shared:.2f} |")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
