"""experiments/theseus/tables.py: the README's numbers, checked on a study of known numbers."""

import json
import math
import subprocess
import sys

from tests.conftest import REPO


def test_tables_give_each_arms_gap_against_both_bounds_and_the_paired_ratio(tmp_path):
    study = tmp_path / "theseus_widths"

    def record(identity, metrics):
        d = study / ",".join(f"{k}={v}".replace("/", "-") for k, v in identity.items())
        d.mkdir(parents=True)
        (d / "status.json").write_text(json.dumps({"status": "done", "identity": identity}))
        ppl = metrics["target_ppl"]
        (d / "metrics.json").write_text(json.dumps({**metrics, "target_nll": math.log(ppl),
                                                    "retention_ppl": 500.0}))

    zero, full, proj = {"w128": 1000.0, "w256": 800.0}, {"w128": 10.0, "w256": 8.0}, \
        {"w128": 100.0, "w256": 80.0}  # projections-only closes half of the log gap
    for w in zero:
        model = f"zoo/llama-{w}-s0"
        record({"data.objective": "lm", "method": "zero_shot", "model.name": model, "seed": "0"},
               {"method": "zero_shot", "model": model, "target_ppl": zero[w]})
        for seed in (0, 1):
            for method, ppl in (("full_ft", full[w]), ("projections_ft", proj[w])):
                record({"data.objective": "lm", "method": method, "model.name": model,
                        "seed": str(seed)}, {"method": method, "model": model, "target_ppl": ppl})
    for pair, w in (("w128_w256", "w256"), ("w256_w128", "w128")):
        # the random control on one pair only, as mid-study
        for arm, share in (("naive", 0.1), ("random", 0.2), ("transport", 0.3)):
            if arm == "random" and pair == "w256_w128":
                continue
            for seed in (0, 1):  # a known share of the log gap to full fine-tuning
                ppl = zero[w] * (full[w] / zero[w]) ** (share + 0.02 * seed)
                record({"data.objective": "lm", "method.arm": arm, "seed": str(seed),
                        "widths": pair}, {"method": "theseus", "model": f"zoo/llama-{w}-s0",
                                          "target_ppl": ppl, "alpha": 2.0 ** seed})
    out = subprocess.run([sys.executable, "experiments/theseus/tables.py", str(study)],
                         cwd=REPO, capture_output=True, text=True, check=True).stdout
    w128 = [line for line in out.splitlines() if line.startswith("| w128 | ")][0]
    assert w128.startswith("| w128 | 1,000 | 10 [10, 10] | 100 [100, 100] | "
                                      "0.500 [0.500, 0.500] | 500 / 500 / 500 |")
    # naive 0.1 + 0.02 seed of the gap, transport 0.3 + ...: means 0.11, 0.31 against full
    # fine-tuning, twice that against the projections-only bound (half the log gap)
    carried, gap = [line for line in out.splitlines() if line.startswith("| 128 -> 256 | ")]
    cells = gap.removesuffix(" |").split(" | ")[1:]
    assert [c.split(" [")[0] for c in cells] == ["0.110", "0.220", "0.210", "0.420",
                                                  "0.310", "0.620"]
    # transport / naive: (8 / 800) ** 0.2 at both seeds, paired by seed; / random: ** 0.1
    cells = carried.removesuffix(" |").split(" | ")[1:]
    means = [f"{sum(800 * 0.01 ** (share + 0.02 * seed) for seed in (0, 1)) / 2:,.0f}"
             for share in (0.1, 0.2, 0.3)]  # naive, random, transport
    assert [c.split(" [")[0] for c in cells[:6]] == [means[0], "1, 2", means[1], "1, 2",
                                                     means[2], "1, 2"]
    assert cells[6:] == ["0.398 [0.398, 0.398] (by seed)", "0.631 [0.631, 0.631] (by seed)",
                         "500 / 500 / 500"]
    other = [line for line in out.splitlines() if line.startswith("| 256 -> 128 | ")][0]
    assert " |  |  | " in other and other.endswith(" | 500 / - / 500 |")  # no random run
