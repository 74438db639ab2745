"""Whether a carried task vector points where the target's own does, read from the study's
cache (no model runs):

    python experiments/theseus/directions.py [outputs/cache] [--objective lm]

The target width's own task vector is its fine-tune on the same data, objective, budget and
seed: the study's source task vectors (every width is a source). For each carried tau_B
(transport, naive, random) the cosine with it over the tensors transport carries, in all and
split into attention and MLP projections: "same seed" against the own fine-tune of the same
seed (it saw the same batches in the same order as the source), "other seeds" the mean against
the others. Per width, two seeds' own task vectors against each other: how far two fine-tunes
of one model agree, the scale a carried direction is read against. Mean [min, max] over seeds.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from transplant.surgery.transport import cosine

GROUPS = {"all": lambda k: True, "attention": lambda k: "attn" in k, "mlp": lambda k: "mlp" in k}


def entries(cache: Path, kind: str):
    for key_file in sorted((cache / kind).glob("*/key.json")):
        yield json.loads(key_file.read_text()), key_file.parent / "tau.safetensors"


def width(name: str) -> str:
    return name.split("llama-")[-1].split("-")[0] if "llama-" in name else name


def spread(values: list[float]) -> str:
    mean = sum(values) / len(values)
    if len(values) == 1:
        return f"{mean:.3f}"
    return f"{mean:.3f} [{min(values):.3f}, {max(values):.3f}]"


def directions(cache: Path, objective: str) -> str:
    own: dict[tuple[str, int], Path] = {}  # (model, seed) -> its own tau
    for key, path in entries(cache, "task_vectors"):
        if key["data"]["objective"] == objective:
            own[(key["source"]["name"], key["seed"])] = path
    carried: dict[tuple[str, str, str], dict[int, Path]] = {}  # (source, target, arm)
    for key, path in entries(cache, "task_vectors_carried"):
        if key["tau"]["data"]["objective"] == objective:
            pair = (key["tau"]["source"]["name"], key["target"]["name"], key["arm"])
            carried.setdefault(pair, {})[key["tau"]["seed"]] = path
    if not carried:
        raise SystemExit(f"directions.py: no carried {objective} task vector in {cache}")
    loaded: dict[Path, dict[str, torch.Tensor]] = {}

    def tau(path: Path) -> dict[str, torch.Tensor]:
        if path not in loaded:
            loaded[path] = load_file(path)
        return loaded[path]

    out = [f"cosine with the target's own task vector ({objective}); mean [min, max] over seeds",
           "", "| pair | arm | seeds | same seed: all | attention | mlp | other seeds: all |",
           "|---|---|---|---:|---:|---:|---:|"]
    for (source, target, arm), by_seed in sorted(
            carried.items(), key=lambda e: (int(width(e[0][0])[1:]), int(width(e[0][1])[1:]),
                                            e[0][2])):
        seeds = sorted(s for s in by_seed if (target, s) in own)
        if not seeds:
            continue
        keys = sorted(tau(by_seed[seeds[0]]))
        same = {g: [cosine(tau(by_seed[s]), tau(own[(target, s)]),
                           [k for k in keys if f(k)]) for s in seeds] for g, f in GROUPS.items()}
        other = [cosine(tau(by_seed[s]), tau(own[(target, t)]), keys) for s in seeds
                 for t in sorted(t for m, t in own if m == target and t != s)]
        out.append(f"| {width(source)[1:]} -> {width(target)[1:]} | {arm} | {len(seeds)} | "
                   + " | ".join(spread(same[g]) for g in GROUPS) + " | "
                   + (spread(other) if other else "") + " |")
    out += ["", "| width | own seed against own seed: all | attention | mlp |",
            "|---|---:|---:|---:|"]
    for model in sorted({m for m, _ in own}, key=lambda m: int(width(m)[1:])):
        seeds = sorted(s for m, s in own if m == model)
        # the carried tensors' names: the target's projections (the first carried entry)
        names = next((sorted(tau(p[min(p)])) for (_, t, _), p in carried.items() if t == model),
                     None)
        if names is None or len(seeds) < 2:
            continue
        pairs = [(s, t) for i, s in enumerate(seeds) for t in seeds[i + 1:]]
        cells = [spread([cosine(tau(own[(model, s)]), tau(own[(model, t)]),
                                [k for k in names if f(k)]) for s, t in pairs])
                 for f in GROUPS.values()]
        out.append(f"| {width(model)} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cache", nargs="?", default="outputs/cache", type=Path)
    parser.add_argument("--objective", default="lm", choices=("lm", "task"))
    args = parser.parse_args()
    print(directions(args.cache, args.objective))


if __name__ == "__main__":
    main()
