"""experiments/theseus/tables.py: the README's numbers, checked on a study of known numbers."""

import json
import math
import subprocess
import sys
from statistics import geometric_mean

from scipy import stats

from tests.conftest import REPO


def _record(study, identity, metrics):
    d = study / ",".join(f"{k}={v}".replace("/", "-") for k, v in identity.items())
    d.mkdir(parents=True)
    (d / "status.json").write_text(json.dumps({"status": "done", "identity": identity}))
    nll = {"target_nll": math.log(metrics["target_ppl"])} if "target_ppl" in metrics else {}
    (d / "metrics.json").write_text(json.dumps({**metrics, **nll, "retention_ppl": 500.0}))


ZERO, FULL, PROJ = {"w128": 1000.0, "w256": 800.0}, {"w128": 10.0, "w256": 8.0}, \
    {"w128": 100.0, "w256": 80.0}  # projections-only closes half of the log gap


def _study(tmp_path):
    study = tmp_path / "theseus/widths"
    zero, full, proj = ZERO, FULL, PROJ
    for w in zero:
        model = f"zoo/llama-{w}-s0"
        _record(study, {"data.objective": "lm", "method": "zero_shot", "model.name": model,
                        "seed": "0"}, {"method": "zero_shot", "model": model,
                                       "target_ppl": zero[w]})
        for seed in (0, 1):
            for method, ppl in (("full_ft", full[w]), ("projections_ft", proj[w])):
                _record(study, {"data.objective": "lm", "method": method, "model.name": model,
                                "seed": str(seed)},
                        {"method": method, "model": model, "target_ppl": ppl})
    for pair, w in (("w128_w256", "w256"), ("w256_w128", "w128")):
        # the random control on one pair only, as mid-study
        for arm, share in (("naive", 0.1), ("random", 0.2), ("transport", 0.3)):
            if arm == "random" and pair == "w256_w128":
                continue
            for seed in (0, 1):  # a known share of the log gap to full fine-tuning
                ppl = zero[w] * (full[w] / zero[w]) ** (share + 0.02 * seed)
                _record(study, {"data.objective": "lm", "method.arm": arm, "seed": str(seed),
                                "widths": pair},
                        {"method": "theseus", "model": f"zoo/llama-{w}-s0", "target_ppl": ppl,
                         "alpha": 2.0 ** seed})
    return study


def _tables(study, *args):
    return subprocess.run([sys.executable, "experiments/theseus/tables.py", str(study), *args],
                          cwd=REPO, capture_output=True, text=True, check=True).stdout


def test_tables_give_each_arms_gap_against_both_bounds_and_the_paired_ratio(tmp_path):
    study = _study(tmp_path)
    out = _tables(study)
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
    means = [f"{geometric_mean([800 * 0.01 ** (share + 0.02 * seed) for seed in (0, 1)]):,.0f}"
             for share in (0.1, 0.2, 0.3)]  # naive, random, transport: perplexity on its log
    assert [c.split(" [")[0] for c in cells[:6]] == [means[0], "1, 2", means[1], "1, 2",
                                                     means[2], "1, 2"]
    assert cells[6:] == ["0.398 [0.398, 0.398] (by seed)", "0.631 [0.631, 0.631] (by seed)",
                         "500 / 500 / 500"]
    other = [line for line in out.splitlines() if line.startswith("| 256 -> 128 | ")][0]
    assert " |  |  | " in other and other.endswith(" | 500 / - / 500 |")  # no random run


def test_tuned_references_replace_the_fixed_rate_ones_width_by_width(tmp_path):
    # Mid-study: full fine-tuning at the rate chosen on validation exists for w128 only.
    study = _study(tmp_path)
    model = "zoo/llama-w128-s0"
    for seed in (0, 1):
        _record(study, {"data.objective": "lm", "method": "full_ft", "method.optim.lrs":
                        "[0.0003,0.001,0.003]", "method.optim.lrs_extend": "2",
                        "model.name": model, "seed": str(seed)},
                {"method": "full_ft", "model": model, "target_ppl": 1.0, "lr": 0.009})
    out = _tables(study)
    assert out.splitlines()[0].endswith("references: rate chosen on validation")
    rows = {line.split(" | ")[0]: line for line in out.splitlines()}
    # w128's bound is the tuned one (1, rate 0.009 at both seeds); w256 has none yet
    assert rows["| w128"].startswith("| w128 | 1,000 | 1 [1, 1] |  |  | ")
    assert rows["| w128"].endswith(" | 0.009, 0.009; - |")
    assert rows["| w256"].startswith("| w256 | 800 |  |  |  | ")
    # 256 -> 128 transport at 0.3 (+0.02 seed) of the log gap 1000 -> 10: of 1000 -> 1, 2/3 of
    # that; 128 -> 256 has no tuned bound: blank, not w128's
    gap = [line for line in out.splitlines() if line.startswith("| 256 -> 128 | ")][-1]
    assert gap.removesuffix(" |").split(" | ")[-2].startswith(f"{0.31 * 2 / 3:.3f} [")
    assert [line for line in out.splitlines()
            if line.startswith("| 128 -> 256 | ")][-1] == "| 128 -> 256 |" + "  |" * 6
    # --references fixed: the fixed-rate bound, as before the tuned runs
    fixed = _tables(study, "--references", "fixed")
    assert fixed.splitlines()[0].endswith("references: rate 1e-3")
    assert [line for line in fixed.splitlines() if line.startswith("| w128 | ")][0].startswith(
        "| w128 | 1,000 | 10 [10, 10] | 100 [100, 100] | 0.500 [0.500, 0.500] |")


def test_the_task_tables_read_accuracy_its_gap_and_the_majority_class(tmp_path):
    study = tmp_path / "theseus/widths"
    grid = {"method.optim.lrs": "[0.0003,0.001,0.003]", "method.optim.lrs_extend": "2"}
    zero, full, proj = {"w128": 0.5, "w256": 0.6}, {"w128": 0.9, "w256": 0.8}, \
        {"w128": 0.7, "w256": 0.7}
    for w in zero:
        model = f"zoo/llama-{w}-s0"
        _record(study, {"data.objective": "task", "method": "zero_shot", "model.name": model,
                        "seed": "0"}, {"method": "zero_shot", "model": model,
                                       "target_acc": zero[w], "target_majority_acc": 0.55})
        for seed in (0, 1):
            for method, acc in (("full_ft", full[w]), ("projections_ft", proj[w])):
                _record(study, {"data.objective": "task", "method": method, **grid,
                                "model.name": model, "seed": str(seed)},
                        {"method": method, "model": model, "target_acc": acc, "lr": 0.003})
    for arm, share in (("naive", 0.1), ("transport", 0.4)):
        for seed in (0, 1):  # a known share of w256's accuracy gap 0.6 -> 0.8
            _record(study, {"data.objective": "task", "method.arm": arm, "seed": str(seed),
                            "widths": "w128_w256"},
                    {"method": "theseus", "model": "zoo/llama-w256-s0", "alpha": 1.0,
                     "target_acc": 0.6 + 0.2 * (share + 0.02 * seed)})
    out = _tables(study, "--objective", "task")
    assert out.splitlines()[0] == ("14 finished task runs; references: rate chosen on "
                                   "validation; majority class: 0.550")
    w256 = [line for line in out.splitlines() if line.startswith("| w256 | ")][0]
    # projections-only closes half of w256's accuracy gap
    assert w256 == ("| w256 | 0.600 | 0.800 [0.800, 0.800] | 0.700 [0.700, 0.700] | "
                    "0.500 [0.500, 0.500] | 500 / 500 / 500 | 0.003, 0.003; 0.003, 0.003 |")
    carried, gap = [line for line in out.splitlines() if line.startswith("| 128 -> 256 | ")]
    assert "transport - naive, paired" in out
    # two seeds 0.004 apart: a t-interval of half-width t(0.975, 1) * 0.002; transport beats
    # naive by 0.2 * 0.3 accuracy at both seeds
    half = stats.t.ppf(0.975, 1) * 0.002
    assert carried == (f"| 128 -> 256 | 0.622 [{0.622 - half:.3f}, {0.622 + half:.3f}] | 1, 1 | "
                       f"0.682 [{0.682 - half:.3f}, {0.682 + half:.3f}] | 1, 1 | "
                       "+0.060 [+0.060, +0.060] (by seed) | 500 / 500 |")
    cells = gap.removesuffix(" |").split(" | ")[1:]
    assert [c.split(" [")[0] for c in cells] == ["0.110", "0.220", "0.410", "0.820"]


def test_references_without_carried_runs_give_the_reference_table_and_say_so(tmp_path):
    study = tmp_path / "theseus/widths"
    model = "zoo/llama-w128-s0"
    _record(study, {"data.objective": "task", "method": "zero_shot", "model.name": model,
                    "seed": "0"}, {"method": "zero_shot", "model": model, "target_acc": 0.44,
                                   "target_majority_acc": 0.44})
    out = _tables(study).splitlines()  # the study's one objective, without --objective
    assert out[0] == "1 finished task runs; references: rate 1e-3; majority class: 0.440"
    assert out[-2:] == ["", "(no carried run has finished yet)"]
    assert [line for line in out if line.startswith("| w128 | ")] == [
        "| w128 | 0.440 |  |  |  | 500 / - / - |"]
