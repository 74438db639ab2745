"""A sweep's jobs on a small CPU: one job using every core vs one single-threaded job per core.

Runs the same step (a study's evaluation batch: 8 windows of 256 tokens, the head at the 192
scored positions; or its training step: 16 x 128 tokens, forward, backward, AdamW) on a
model of the zoo's recipe (Llama, 4 layers, tied embeddings, SmolLM2's 49,152-token
vocabulary) for --seconds, once as one process with --cores threads and once as --cores
processes of 1 thread started together, and prints the total steps/s of each and the ratio
(parallel / one job), best of --repeats. A ratio near 1 says that running a study's jobs side
by side buys nothing on this machine; above 1, that it would.

    python bench/parallel_jobs.py [--cores 2] [--hidden 256] [--seconds 15] [--repeats 2]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time


def worker(threads: int, hidden: int, mode: str, seconds: float, barrier, out) -> None:
    import torch

    from transplant.models.loading import load_tokenizer
    from transplant.models.recipes import ModelRecipe, init_model

    torch.set_num_threads(threads)
    model = init_model(ModelRecipe(hidden=hidden), load_tokenizer("smollm2_135m"), seed=0)
    optim = torch.optim.AdamW(model.parameters(), lr=1e-4)
    vocab = model.config.vocab_size
    ids = torch.randint(0, vocab, (8, 256) if mode == "eval" else (16, 128))

    def step() -> None:
        if mode == "eval":
            with torch.no_grad():
                logits = model(input_ids=ids, logits_to_keep=192).logits
                torch.nn.functional.cross_entropy(logits.flatten(0, 1), ids[:, -192:].flatten())
        else:
            logits = model(input_ids=ids).logits
            loss = torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1),
                                                     ids[:, 1:].flatten())
            loss.backward()
            optim.step()
            optim.zero_grad()

    step()  # warm-up
    barrier.wait()  # every process of a configuration times the same interval
    start, n = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        step()
        n += 1
    out.put(n / (time.perf_counter() - start))


def throughput(processes: int, threads: int, hidden: int, mode: str, seconds: float) -> float:
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(processes), ctx.Queue()
    procs = [ctx.Process(target=worker, args=(threads, hidden, mode, seconds, barrier, out))
             for _ in range(processes)]
    for p in procs:
        p.start()
    rates = [out.get() for _ in procs]
    for p in procs:
        p.join()
    return sum(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    for mode in ("eval", "train"):
        one = side = 0.0
        for _ in range(args.repeats):  # interleaved: a disturbance hits both
            one = max(one, throughput(1, args.cores, args.hidden, mode, args.seconds))
            side = max(side, throughput(args.cores, 1, args.hidden, mode, args.seconds))
        print(f"{mode} (hidden {args.hidden}): one job x {args.cores} threads {one:.3f} steps/s, "
              f"{args.cores} jobs x 1 thread {side:.3f} steps/s, ratio {side / one:.2f}",
              flush=True)


if __name__ == "__main__":
    main()
