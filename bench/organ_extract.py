"""Streamed organ extraction vs loading the full model, on a >= 1 GB sharded checkpoint.

Builds (once, under outputs/bench/) a random Llama-family checkpoint of ~1.3 GB in 200 MB
safetensors shards, then extracts 3 layers two ways, each in a fresh process so peak memory is
its own: streaming (read only the organ's tensors) and full (from_pretrained, then cut). Prints
peak RSS and time of each, and the ratios (goal: streamed peak <= 0.2 x full).

    python bench/organ_extract.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

CKPT = Path("outputs/bench/llama-1.3g")
START, LENGTH = 6, 3


def build_checkpoint(path: Path, shard_bytes: int = 200 * 2**20) -> None:
    """Random weights for every tensor of a real Llama config, written shard by shard."""
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, LlamaConfig

    config = LlamaConfig(vocab_size=32000, hidden_size=1024, intermediate_size=4096,
                         num_hidden_layers=16, num_attention_heads=16, num_key_value_heads=16,
                         tie_word_embeddings=False)
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in AutoModelForCausalLM.from_config(config)
                  .state_dict().items()}
    tmp = path.with_name(path.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(0)
    weight_map, shard, size, n = {}, {}, 0, 0

    def flush() -> None:
        nonlocal shard, size, n
        name = f"model-{n:05d}.safetensors"
        save_file(shard, tmp / name, metadata={"format": "pt"})
        weight_map.update({k: name for k in shard})
        shard, size, n = {}, 0, n + 1

    for key, shape in shapes.items():
        shard[key] = torch.randn(shape, generator=gen) * 0.02
        size += shard[key].numel() * 4
        if size >= shard_bytes:
            flush()
    if shard:
        flush()
    (tmp / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {"total_size": sum(s.numel() * 4 for s in shapes.values())},
         "weight_map": weight_map}))
    config.save_pretrained(tmp)
    tmp.rename(path)


CHILD = """
import resource, sys, time, json
t0 = time.perf_counter()
from transplant.surgery.organ import extract_organ, extract_organ_from_checkpoint
mode, path, start, length = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t1 = time.perf_counter()
if mode == "stream":
    organ = extract_organ_from_checkpoint(path, start, length)
else:
    import torch
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    # Weights load memory-mapped and lazily; a loaded model is one whose weights are in memory.
    checksum = sum(float(p.detach().sum()) for p in model.parameters())
    organ = extract_organ(model, start, length)
# Both paths end with the organ's bytes read and verified.
from transplant.surgery.organ import tensors_sha256
digest = tensors_sha256(organ.tensors)
t2 = time.perf_counter()
print(json.dumps({"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "import_peak_mb": base / 1024, "seconds": t2 - t1,
                  "organ_params": sum(t.numel() for t in organ.tensors.values()),
                  "sha256": digest}))
"""


def measure(mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, mode, str(CKPT), str(START), str(LENGTH)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    if not CKPT.exists():
        t = time.perf_counter()
        build_checkpoint(CKPT)
        print(f"built {CKPT} in {time.perf_counter() - t:.1f} s")
    size = sum(p.stat().st_size for p in CKPT.glob("*.safetensors"))
    shards = len(list(CKPT.glob("*.safetensors")))
    print(f"checkpoint: {size / 2**30:.2f} GiB in {shards} shards; organ = layers "
          f"{START}..{START + LENGTH - 1}")
    results = {mode: measure(mode) for mode in ("stream", "full")}
    assert results["stream"]["sha256"] == results["full"]["sha256"], "organs differ"
    for mode, r in results.items():
        print(f"  {mode:6s} peak RSS {r['peak_mb']:8.0f} MB "
              f"(after imports {r['import_peak_mb']:.0f} MB)   {r['seconds']:6.2f} s")
    s, f = results["stream"], results["full"]
    print(f"  ratio stream/full peak RSS = {s['peak_mb'] / f['peak_mb']:.3f} (goal <= 0.2)")
    above = (s["peak_mb"] - s["import_peak_mb"]) / (f["peak_mb"] - f["import_peak_mb"])
    print(f"  ratio above the import baseline = {above:.3f}")
    print(f"  ratio stream/full time = {s['seconds'] / f['seconds']:.3f}")


if __name__ == "__main__":
    main()
