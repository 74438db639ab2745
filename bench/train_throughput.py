"""Tokens/s of transplant's Lightning training path vs a plain PyTorch loop, in one run.

Same model, data, batch, optimizer (AdamW), schedule and gradient clipping; each path is timed
end to end (trainer set-up, data loading, forward, backward, step), after one warm-up run of
each. Prints the ratio lightning / plain (goal >= 0.95).

    python bench/train_throughput.py                      # SmolLM2-135M, 8 steps of 4 x 128
    python bench/train_throughput.py --model tiny_llama --steps 200
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings

import torch

from transplant.config import OptimConfig, TrainerConfig
from transplant.data.tokens import token_stream
from transplant.models import load_model
from transplant.training.data_module import train_loader
from transplant.training.fit import fit
from transplant.training.lm_module import warmup_cosine


def plain_loop(model, stream, block, batch, steps, optim, clip, seed) -> float:
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=optim.lr, weight_decay=optim.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: warmup_cosine(s, 0, steps))
    start = time.perf_counter()
    loader = iter(train_loader(stream, block, batch, seed))
    for _ in range(steps):
        ids = next(loader)
        loss = model(input_ids=ids, labels=ids).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, clip)
        opt.step()
        sched.step()
    return time.perf_counter() - start


def lightning_path(model, stream, block, batch, steps, optim, clip, seed) -> float:
    spec = TrainerConfig(max_steps=steps, batch_size=batch, gradient_clip_val=clip,
                       enable_progress_bar=False, log_every_n_steps=10**9)
    start = time.perf_counter()
    fit(model, stream, block, spec, optim, seed)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2_135m")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--block", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning").setLevel(logging.ERROR)
    torch.set_num_threads(torch.get_num_threads())

    model, tokenizer = load_model(args.model)
    tokens = args.steps * args.batch * args.block
    stream = token_stream("python_code", "train", tokenizer, tokens + 1)
    optim = OptimConfig(lr=1e-5)
    paths = {"plain": plain_loop, "lightning": lightning_path}
    for fn in paths.values():  # warm-up: allocator, kernels, first-call imports
        fn(model, stream, args.block, args.batch, 2, optim, 1.0, 0)
    best = {name: float("inf") for name in paths}
    for _ in range(args.repeats):  # interleaved, best of N: less sensitive to machine noise
        for name, fn in paths.items():
            best[name] = min(best[name], fn(model, stream, args.block, args.batch, args.steps,
                                            optim, 1.0, 0))
    rate = {name: tokens / s for name, s in best.items()}
    print(f"model={args.model} steps={args.steps} batch={args.batch} block={args.block} "
          f"threads={torch.get_num_threads()} best of {args.repeats}")
    for name in paths:
        print(f"  {name:9s} {best[name]:8.2f} s  {rate[name]:10.1f} tokens/s")
    print(f"  ratio lightning/plain tokens/s = {rate['lightning'] / rate['plain']:.3f} "
          "(goal >= 0.95)")


if __name__ == "__main__":
    main()
