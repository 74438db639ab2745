"""Would another form of the alignment carry more of the direction? Every width pair's source
task vector transported with centring and partial whitening (the method's `center` and
`whiten_power`, which the study leaves at False and 0), and its cosine with the target's own
task vector, as directions.py reads the study's transport:

    python experiments/theseus/variants.py [--cache outputs/cache] [--seeds 0 1 2]

No model is scored. Each pair and seed reads the study's cached task vectors (the sources'
fine-tunes; a missing one is trained, as the study would) and its calibration draw, whose
statistics are collected again with second moments (whitening needs them) and cached beside
the study's. The row center=False, p=0 is the study's own transport.

Second, how well the two widths' activations align at all: the Procrustes fit
||C||_* / (||X_A||_F ||X_B||_F) of the centred activations (1: one orthogonal map takes A's to
B's; analysis/paired.py), per kind of space, mean over layers, on the calibration draw, and
at chance: B reading the next block of tokens, not A's (rows unpaired, same statistics).
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
from pathlib import Path

from hydra import compose, initialize_config_dir
from safetensors.torch import load_file

from transplant.analysis.paired import paired_moments
from transplant.app import CONF_DIR
from transplant.console import quiet_libraries
from transplant.methods.common import load
from transplant.methods.theseus import cached_moments, calibration_ids, source_task_vector
from transplant.runs import RunContext
from transplant.surgery.transport import cosine, transport_plan, transport_with

PAIRS = ("w128_w192", "w128_w256", "w192_w128", "w192_w256", "w256_w128", "w256_w192")
VARIANTS = list(itertools.product((False, True), (0.0, 0.25, 0.5)))  # (center, whiten_power)
# kinds of aligned space: the input of the target layer named by the suffix
KINDS = {"residual, attention's input": "self_attn.q_proj", "attention's values":
         "self_attn.o_proj", "residual, MLP's input": "mlp.gate_proj",
         "MLP intermediate": "mlp.down_proj"}


def study_cfg(widths: str, seed: int, cache: Path):
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("config", overrides=[
            "experiment=theseus/widths", f"widths={widths}", "data.objective=lm",
            f"seed={seed}", f"paths.cache={cache}", "method.whiten_power=0.5"])


def pair_numbers(widths: str, seed: int, cache: Path
                 ) -> tuple[dict[tuple[bool, float], float], dict[str, tuple[float, float]]]:
    """cos(transport_variant(tau_A), own tau_B) over the carried tensors, per variant; and the
    activation fit per kind of space, paired and at chance."""
    cfg = study_cfg(widths, seed, cache)
    target_width = widths.split("_")[1]
    own_cfg = study_cfg(f"{target_width}_{target_width}", seed, cache)
    with tempfile.TemporaryDirectory() as scratch:
        ctx = RunContext(Path(scratch), cache)
        target, tokenizer = load(cfg, ctx)
        source, _ = load(cfg, ctx, cfg.method.source)
        tau_a = load_file(source_task_vector(cfg, ctx))
        own = load_file(source_task_vector(own_cfg, ctx))
        moments = cached_moments(cfg, ctx, source, target, tokenizer)
        ids = calibration_ids(cfg, ctx, tokenizer)
    cosines = {(center, power): cosine(transport_with(tau_a, source, target, moments,
                                                      center=center, whiten_power=power), own)
               for center, power in VARIANTS}
    spaces = {kind: [lp.inputs for lp in transport_plan(source, target)
                     if lp.target.endswith(suffix)] for kind, suffix in KINDS.items()}
    pairs = {f"{kind}/{i}": p for kind, ps in spaces.items() for i, p in enumerate(ps)}
    fits = {}
    for name, ids_b in (("paired", None), ("chance", ids.roll(1, 0))):
        m = paired_moments(source, target, pairs, ids, second_moments=True, ids_b=ids_b)
        fits[name] = {kind: sum(m[f"{kind}/{i}"].procrustes_fit() for i in range(len(ps)))
                      / len(ps) for kind, ps in spaces.items()}
    return cosines, {kind: (fits["paired"][kind], fits["chance"][kind]) for kind in KINDS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default="outputs/cache", type=Path)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--pairs", nargs="+", default=list(PAIRS))
    args = parser.parse_args()
    quiet_libraries()
    cache = args.cache.resolve()
    print(f"cosine with the target's own task vector (lm), per variant (center, whitening "
          f"power p); Procrustes fit of the centred activations, paired (at chance); mean "
          f"over seeds {args.seeds}. A row is printed as its pair finishes.")
    print("\n| pair | " + " | ".join(f"cos: center={c}, p={p:g}" for c, p in VARIANTS)
          + " | " + " | ".join(f"fit: {k}" for k in KINDS) + " |")
    print("|---|" + "---:|" * (len(VARIANTS) + len(KINDS)), flush=True)
    for pair in args.pairs:
        per_seed = [pair_numbers(pair, s, cache) for s in args.seeds]
        a, b = pair.split("_")
        cos = [sum(c[v] for c, _ in per_seed) / len(per_seed) for v in VARIANTS]
        fit = [[sum(f[k][j] for _, f in per_seed) / len(per_seed) for j in (0, 1)]
               for k in KINDS]
        print(f"| {a[1:]} -> {b[1:]} | " + " | ".join(f"{c:.3f}" for c in cos) + " | "
              + " | ".join(f"{p:.3f} ({c:.3f})" for p, c in fit) + " |", flush=True)

if __name__ == "__main__":
    main()
