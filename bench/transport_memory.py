"""Peak memory of Theseus calibration: streamed statistics vs holding every activation.

Two random Llama models of different widths (hidden 256 -> 384, 4 layers) read n calibration
blocks. "streamed" is `surgery.transport.transport` (per-space float64 sums, updated batch by
batch); "held" is the naive baseline the paper's description suggests: keep every paired
activation of every aligned space, then form X_A^T X_B (the same float64 arithmetic, so the
same maps). Each runs in a fresh process, so its peak resident memory is its own. Prints peak
RSS growth per method and calibration size, and the ratio held / streamed.

    python bench/transport_memory.py [--blocks 32 128] [--seq 64]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import torch
from transformers import AutoModelForCausalLM, LlamaConfig


def model(hidden: int, seed: int):
    config = LlamaConfig(vocab_size=512, hidden_size=hidden, intermediate_size=2 * hidden,
                         num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=4)
    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(config).eval()


def child(method: str, blocks: int, seq: int) -> None:
    from transplant.analysis.paired import PairedMoments, _capture
    from transplant.monitor import PeakMemory
    from transplant.surgery.transport import _key, alignment, task_vector, transport, transport_plan

    a, b = model(256, 0), model(384, 1)
    ids = torch.randint(0, 512, (blocks, seq), generator=torch.Generator().manual_seed(2))
    tau = task_vector(a, a)  # zeros: the maps are what is measured
    plan = transport_plan(a, b)
    pairs = {_key(p): p for lp in plan for p in (lp.inputs, *lp.outputs)}
    with PeakMemory() as memory:
        base = memory.peak_rss
        if method == "streamed":
            transport(tau, a, b, ids)
        else:  # hold every paired activation, then one product per space
            held: dict[str, tuple[list, list]] = {name: ([], []) for name in pairs}
            for batch in ids.split(8):
                acts_a = _capture(a, {p[0] for p in pairs.values()}, batch)
                acts_b = _capture(b, {p[1] for p in pairs.values()}, batch)
                for name, (sa, sb) in pairs.items():
                    held[name][0].append(acts_a[sa].double())
                    held[name][1].append(acts_b[sb].double())
            for xa, xb in held.values():
                m = PairedMoments()
                m.update(torch.cat(xa), torch.cat(xb), second_moments=False)
                alignment(m)
    print(json.dumps({"grown_mb": (memory.peak_rss - base) / 2**20}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--seq", type=int, default=64)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), int(args.child[2]))
        return
    print(f"{'blocks x seq':>14} {'tokens':>7} {'streamed MB':>12} {'held MB':>9} "
          f"{'held / streamed':>16}")
    for blocks in args.blocks:
        grown = {}
        for method in ("streamed", "held"):
            out = subprocess.run([sys.executable, __file__, "--child", method, str(blocks),
                                  str(args.seq)], capture_output=True, text=True, check=True)
            grown[method] = json.loads(out.stdout.strip().splitlines()[-1])["grown_mb"]
        print(f"{blocks:>6} x {args.seq:<5} {blocks * args.seq:>7} {grown['streamed']:>12.0f} "
              f"{grown['held']:>9.0f} {grown['held'] / max(grown['streamed'], 1):>16.1f}")


if __name__ == "__main__":
    main()
