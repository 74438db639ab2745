"""experiments/theseus/directions.py: cosines to the target's own task vector, checked on a
cache of known vectors."""

import json
import subprocess
import sys

import torch
from safetensors.torch import save_file

from tests.conftest import REPO

ATTN, MLP = "model.layers.0.self_attn.q_proj.weight", "model.layers.0.mlp.down_proj.weight"


def entry(cache, kind, name, key, tensors):
    d = cache / kind / name
    d.mkdir(parents=True)
    (d / "key.json").write_text(json.dumps(key))
    save_file({k: v.clone() for k, v in tensors.items()}, d / "tau.safetensors")


def test_cosines_are_taken_per_group_against_the_own_vector_of_each_seed(tmp_path):
    cache = tmp_path / "cache"
    e = torch.eye(4)
    lm = {"objective": "lm"}
    # the target's own task vectors: seed 0 along e0 in both groups; seed 1 along e0 in
    # attention and e2 in the MLP (so the two seeds agree on attention only: cos 1/2 in all)
    own = {0: {ATTN: e[0], MLP: e[0]}, 1: {ATTN: e[0], MLP: e[2]}}
    for seed, tau in own.items():
        entry(cache, "task_vectors", f"own{seed}", {"source": {"name": "zoo/llama-w192-s0"},
                                                    "data": lm, "seed": seed},
              {**tau, "model.embed_tokens.weight": torch.ones(4)})  # not carried: ignored
    # carried at seed 0: attention along e0 (cos 1 with own seed 0), MLP along e2 (cos 0),
    # twice the norm in the MLP: all = 1 / (sqrt(1 + 4) * sqrt(2))
    entry(cache, "task_vectors_carried", "moved0",
          {"arm": "transport", "target": {"name": "zoo/llama-w192-s0"},
           "tau": {"source": {"name": "zoo/llama-w128-s0"}, "data": lm, "seed": 0}},
          {ATTN: e[0], MLP: 2 * e[2]})
    entry(cache, "task_vectors_carried", "task0",  # another objective: left out
          {"arm": "transport", "target": {"name": "zoo/llama-w192-s0"},
           "tau": {"source": {"name": "zoo/llama-w128-s0"}, "data": {"objective": "task"},
                   "seed": 0}}, {ATTN: -e[0], MLP: -e[0]})
    out = subprocess.run([sys.executable, "experiments/theseus/directions.py", str(cache)],
                         cwd=REPO, capture_output=True, text=True, check=True).stdout
    rows = [line.removesuffix(" |").split(" | ") for line in out.splitlines()
            if line.startswith("| 128 -> 192 | ") or line.startswith("| w192 | ")]
    carried, width = rows
    expected_all = 1 / (5 ** 0.5 * 2 ** 0.5)
    # against own seed 1 (the other seed): attention 1, MLP 2 e2 . e2 = 2: all 3 / sqrt(10)
    assert carried == ["| 128 -> 192", "transport", "1", f"{expected_all:.3f}", "1.000",
                       "0.000", f"{3 / 10 ** 0.5:.3f}"]
    assert width == ["| w192", "0.500", "1.000", "0.000"]
