import json
import math

import numpy as np
import pandas as pd
import pytest

from tests.conftest import FAST, legacy
from transplant.results.report import main
from transplant.results.specs import legacy_spec
from transplant.results.stats import (
    mean_interval,
    paired_log_ppl_difference,
    select,
    summarize,
)


def test_mean_interval_against_a_hand_computation():
    s = mean_interval(pd.Series([1.0, 2.0, 3.0]))
    # mean 2, sd 1; Student's t with 2 degrees of freedom has the closed-form quantile
    # t_p = (2p - 1) / sqrt(2p(1 - p)): t_0.975 = 4.3027; half-width t / sqrt(3)
    p = 0.975
    half = (2 * p - 1) / math.sqrt(2 * p * (1 - p)) / math.sqrt(3)
    assert (s["mean"], s["std"], s["n"]) == (2.0, 1.0, 3)
    assert s["ci_low"] == pytest.approx(2 - half, rel=1e-12)
    assert s["ci_high"] == pytest.approx(2 + half, rel=1e-12)
    one = mean_interval(pd.Series([5.0]))
    assert one["n"] == 1 and math.isnan(one["ci_low"]) and math.isnan(one["std"])


def test_perplexities_are_aggregated_on_their_log():
    # Three seeds of a destroyed model, two orders of magnitude apart: on the raw scale the
    # mean is ruled by one seed and the interval goes below zero.
    from scipy import stats

    ppl = [10.0, 1_000.0, 100_000.0]
    raw = mean_interval(pd.Series(ppl))
    assert raw["ci_low"] < 0
    df = pd.DataFrame({"arm": "a", "seed": [0, 1, 2], "target_ppl": ppl,
                       "gap_recovery_ppl": [-1.0, 0.0, 4.0]})
    s = summarize(df, ["target_ppl", "gap_recovery_ppl"], ["arm"], specs=legacy(df)).iloc[0]
    logs = np.log(ppl)
    low, high = stats.t.interval(0.95, 2, loc=logs.mean(), scale=stats.sem(logs))
    assert s["target_ppl_mean"] == pytest.approx(1_000.0, rel=1e-12)  # exp(mean NLL)
    assert (s["target_ppl_ci_low"], s["target_ppl_ci_high"]) == pytest.approx(
        (math.exp(low), math.exp(high)), rel=1e-12)
    assert s["target_ppl_std"] == pytest.approx(math.exp(logs.std(ddof=1)), rel=1e-12)
    assert s["gap_recovery_ppl_mean"] == 1.0  # a ratio of log perplexities: arithmetic
    # Records older than metric specs: perplexities by the old rule, gap recovery not one.
    assert [legacy_spec(m).geometric for m in ("target_ppl", "val_target_ppl_lr_0.001",
                                               "val_ppl_python_code", "gap_recovery_ppl",
                                               "target_acc", "wrapper_target_ppl")] == [
        True, True, True, False, False, True]
    assert mean_interval(pd.Series([11_000.0]), log=True)["mean"] == 11_000.0  # not 10,999.99..
    same = mean_interval(pd.Series([7.0, 7.0]), log=True)
    assert (same["mean"], same["ci_low"], same["ci_high"], same["std"]) == (7.0, 7.0, 7.0, 1.0)
    with pytest.raises(ValueError, match="positive"):
        mean_interval(pd.Series([0.0, 1.0]), log=True)


def test_a_rate_chosen_per_seed_is_listed_not_averaged():
    from transplant.results.tables import interval_table

    rows = [{"arm": "organ", "seed": s, "lr": lr, "target_ppl": 100.0}
            for s, lr in ((2, 0.0033333), (0, 0.011111), (1, 0.0033333))]
    rows += [{"arm": "lora", "seed": s, "lr": 0.003, "target_ppl": 90.0} for s in range(3)]
    table = interval_table(pd.DataFrame(rows), ["lr", "target_ppl"], ["arm"],
                           specs=legacy(rows)).set_index("arm")
    assert table.loc["organ", "lr"] == "0.01111, 0.003333, 0.003333"  # seeds 0, 1, 2
    assert table.loc["lora", "lr"] == "0.003"  # one value: shown once
    assert table.loc["organ", "seeds"] == "0,1,2"


def test_selection_takes_the_lowest_mean_nll_over_seeds():
    # lr 1e-3: seeds at 1 and 1,000 (mean NLL ln 31.6); lr 1e-4: 100 at both (ln 100). The
    # arithmetic mean (500.5 against 100) would choose 1e-4.
    rows = [{"run": f"{lr}-{s}", "method": "lora", "method.optim.lr": lr, "seed": s,
             "val_target_ppl": v, "target_ppl": v}
            for lr, vals in ((1e-3, (1.0, 1_000.0)), (1e-4, (100.0, 100.0)))
            for s, v in enumerate(vals)]
    chosen = select(pd.DataFrame(rows), "method.optim.lr", "val_target_ppl", ["method"],
                    specs=legacy(rows))
    assert chosen.chosen["method.optim.lr"].tolist() == [1e-3]
    assert chosen.chosen["mean val_target_ppl"].iloc[0] == pytest.approx(math.sqrt(1_000))


def test_selection_compares_values_on_the_seeds_they_share():
    # A grid still running: 1e-3 has seed 0 only. Seed 1 is harder for every rate, so a mean
    # over whatever seeds each value has would favour 1e-3 (36 against sqrt(30 * 60) = 42.4);
    # on seed 0, the seed they share, 1e-4 is better (30 against 36).
    rows = [{"run": f"{lr}-{s}", "method": "full_ft", "method.optim.lr": lr, "seed": s,
             "val_target_ppl": v}
            for lr, vals in ((1e-4, (30.0, 60.0)), (1e-3, (36.0,)))
            for s, v in enumerate(vals)]
    sel = select(pd.DataFrame(rows), "method.optim.lr", "val_target_ppl", ["method"],
                 specs=legacy(rows))
    row = sel.chosen.iloc[0]
    assert (row["method.optim.lr"], row["mean val_target_ppl"], row["seeds"]) == (1e-4, 30.0, "0")
    assert len(sel.runs) == 2  # the chosen value's test rows: all its seeds
    rows.append({"run": "1e-3-1", "method": "full_ft", "method.optim.lr": 1e-3, "seed": 1,
                 "val_target_ppl": 72.0})
    row = select(pd.DataFrame(rows), "method.optim.lr", "val_target_ppl", ["method"],
                 specs=legacy(rows)).chosen
    assert (row["mean val_target_ppl"].iloc[0], row["seeds"].iloc[0]) == (
        pytest.approx(math.sqrt(30 * 60)), "0,1")


def _runs():
    # Two arms x two learning rates x three seeds. Validation prefers lr 1e-3 for lora, but
    # the test split would prefer 1e-4: selection must follow validation.
    rows = []
    for method, lrs in (("lora", {1e-3: (10, 30), 1e-4: (12, 20)}),
                        ("full_ft", {1e-5: (15, 15), 1e-4: (14, 16)})):
        for lr, (val, test) in lrs.items():
            for seed in range(3):
                rows.append({"run": f"{method}-{lr}-{seed}", "method": method,
                             "method.optim.lr": lr, "seed": seed,
                             "val_target_ppl": val + seed * 0.1, "target_ppl": test + seed})
    return pd.DataFrame(rows)


def test_selection_uses_validation_only():
    sel = select(_runs(), "method.optim.lr", "val_target_ppl", ["method"], specs=legacy(_runs()))
    chosen = dict(zip(sel.chosen["method"], sel.chosen["method.optim.lr"], strict=True))
    assert chosen == {"lora": 1e-3, "full_ft": 1e-4}
    assert len(sel.runs) == 6 and set(sel.runs["method.optim.lr"]) == {1e-3, 1e-4}
    with pytest.raises(ValueError, match="must use a validation metric"):
        select(_runs(), "method.optim.lr", "target_ppl", ["method"], specs=legacy(_runs()))


def _docs(nll, tokens, ids=None):
    return {"doc_ids": ids or [str(i) for i in range(len(nll))], "nll": list(nll),
            "tokens": list(tokens)}


def test_paired_difference_is_exact_for_a_constant_per_token_shift():
    rng = np.random.default_rng(1)
    tokens = rng.integers(5, 50, size=40)
    b = [_docs(rng.random(40) * tokens * 3, tokens) for _ in range(3)]
    a = [_docs(np.array(x["nll"]) + 0.25 * tokens, tokens) for x in b]  # +0.25 nats/token
    d = paired_log_ppl_difference(a, b)
    assert d["diff"] == pytest.approx(0.25) and d["ci_low"] == pytest.approx(0.25)
    assert d["ci_high"] == pytest.approx(0.25) and (d["seeds"], d["docs"]) == (3, 40)
    same = paired_log_ppl_difference(b, b)
    assert same["diff"] == same["ci_low"] == same["ci_high"] == 0.0
    with pytest.raises(ValueError, match="same documents"):
        paired_log_ppl_difference([_docs([1.0], [1], ["x"])], [_docs([1.0], [1], ["y"])])


def test_paired_interval_covers_noise_and_excludes_a_real_shift():
    rng = np.random.default_rng(2)
    tokens = np.full(200, 20)
    b = [_docs(rng.normal(60, 10, 200), tokens) for _ in range(3)]
    noisy = [_docs(np.array(x["nll"]) + rng.normal(0, 5, 200), tokens) for x in b]
    d = paired_log_ppl_difference(noisy, b)
    assert d["ci_low"] < 0 < d["ci_high"]
    shifted = [_docs(np.array(x["nll"]) + 20 * 0.1, tokens) for x in noisy]
    assert paired_log_ppl_difference(shifted, b)["ci_low"] > 0


def test_report_selects_aggregates_and_pairs_real_runs(run, tmp_path, capsys):
    for lr in ("0.001", "0.003"):  # as Hydra renders swept values, so --expect finds them
        for seed in (0, 1):
            run(["method=lora", f"method.optim.lr={lr}", f"seed={seed}",
                 "trainer.log_every_n_steps=1"], study="sel")
    _, zero_dir = run(["method=zero_shot"], study="sel")
    study = zero_dir.parent
    assert main([str(study), "--select", "method.optim.lr", "--reference",
                 "method=zero_shot", "--html", "--expect",
                 " ".join([*FAST, "method=lora", "method.optim.lr=0.001,0.003", "seed=0,1,2"])
                 ]) == 0
    out = capsys.readouterr().out
    records = [json.loads(p.read_text()) for p in study.glob("*/metrics.json")]
    lora = pd.DataFrame([m for m in records if m["method"] == "lora"])
    lora["lr"] = [json.loads((p.parent / "status.json").read_text())["identity"]
                  ["method.optim.lr"] for p in study.glob("*/metrics.json")
                  if json.loads(p.read_text())["method"] == "lora"]
    from scipy.stats import gmean  # perplexities are averaged over seeds on their log

    by_lr = lora.groupby("lr")["val_target_ppl"].agg(gmean)
    best = by_lr.idxmin()
    expected = gmean(lora[lora["lr"] == best]["target_ppl"])
    summary = pd.read_csv(study / "_report" / "summary.csv")
    cell = summary.set_index("method").loc["lora", "target_ppl"]
    assert cell.startswith(f"{expected:.4g} [")
    assert "method.optim.lr chosen per arm by the lowest geometric mean val_target_ppl" in out
    assert "Relative to method=zero_shot" in out and "2 x " in out
    assert "All numbers from commit " in out
    # The expected grid's missing points (seed 2 was never launched) are named.
    assert "2 point(s) of the expected grid have no run record" in out
    assert "method=lora,method.optim.lr=0.001" in out and "seed=2" in out
    # The HTML page: self-contained, with every table's numbers and every figure inline.
    page = (study / "_report" / "report.html").read_text()
    assert cell in page and "Relative to method=zero_shot" in page
    assert "http://" not in page and "https://" not in page and "<script" not in page
    figures = study / "_report" / "figures"
    stems = {p.stem for p in figures.glob("*.png")}
    assert stems == {p.stem for p in figures.glob("*.pdf")} >= {
        "target_ppl_vs_method_optim_lr", "frontier", "loss"}
    assert page.count("src='data:image/png;base64,") == len(stems)
    import base64
    import io
    import re

    for data in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page):
        from matplotlib.image import imread as read_png

        assert read_png(io.BytesIO(base64.b64decode(data))).shape[0] > 100  # a real image
    from matplotlib.image import imread

    for png in figures.glob("*.png"):
        assert imread(png).std() > 0.01, png  # drawn, not blank


def test_rank_p_value():
    from transplant.results.stats import rank_p_value

    assert rank_p_value(2.0, [0.1 * i for i in range(19)]) == pytest.approx(1 / 20)
    assert rank_p_value(0.05, [0.1 * i for i in range(19)]) == pytest.approx(19 / 20)
    assert rank_p_value(10.0, [12.0, 9.0, 11.0], higher_is_better=False) == pytest.approx(2 / 4)


def test_gap_recovery_against_a_hand_computation():
    from transplant.results.stats import gap_recoveries

    runs = pd.DataFrame([
        {"run": "t", "method": "zero_shot", "seed": 0, "target_ppl": 100.0},
        {"run": "d0", "method": "full_ft", "seed": 0, "target_ppl": 25.0},
        {"run": "d1", "method": "full_ft", "seed": 1, "target_ppl": 40.0},
        {"run": "a0", "method": "organ", "seed": 0, "target_ppl": 50.0},
        {"run": "a1", "method": "organ", "seed": 1, "target_ppl": 100.0},
    ])
    gaps = gap_recoveries(runs, ["method"], runs[runs.method == "zero_shot"],
                          runs[runs.method == "full_ft"])
    assert list(gaps["method"]) == ["organ", "organ"]
    # seed 0: log(100/50) / log(100/25) = 0.5; seed 1: no move = 0 (deterministic target)
    assert gaps["gap_recovery_ppl"].tolist() == pytest.approx([0.5, 0.0])


def test_selection_takes_the_highest_accuracy_and_the_lowest_perplexity():
    from transplant.results.stats import select

    df = pd.DataFrame({"method": ["a"] * 4, "lr": [1, 1, 2, 2],
                       "val_target_acc": [0.6, 0.7, 0.5, 0.5],
                       "val_target_ppl": [10, 12, 9, 9], "seed": [0, 1, 0, 1]})
    assert select(df, "lr", "val_target_acc", ["method"],
                  specs=legacy(df)).chosen["lr"].tolist() == [1]
    assert select(df, "lr", "val_target_ppl", ["method"],
                  specs=legacy(df)).chosen["lr"].tolist() == [2]
    assert "highest" in select(df, "lr", "val_target_acc", ["method"], specs=legacy(df)).rule()


def test_selection_by_several_metrics_uses_each_arms_own():
    from transplant.results.stats import select

    df = pd.DataFrame({"data.objective": ["lm"] * 2 + ["task"] * 2,
                       "method.alpha": [0.5, 1.0] * 2, "seed": [0] * 4,
                       "val_target_ppl": [20.0, 10.0, None, None],
                       "val_target_acc": [None, None, 0.7, 0.6]})
    chosen = select(df, "method.alpha", "val_target_ppl,val_target_acc",
                    ["data.objective"], specs=legacy(df)).chosen
    alpha = dict(zip(chosen["data.objective"], chosen["method.alpha"], strict=True))
    assert alpha == {"lm": 1.0, "task": 0.5}  # the lower perplexity; the higher accuracy
    with pytest.raises(ValueError, match="'target_acc': selection must use a validation"):
        select(df, "method.alpha", "val_target_ppl,target_acc", ["data.objective"],
               specs=legacy(df))


def test_gap_recovery_takes_the_references_of_the_runs_own_model():
    from transplant.results.stats import gap_recoveries

    ref = pd.DataFrame({"run": ["z1", "z2", "f1", "f2"], "model": ["w1", "w2", "w1", "w2"],
                        "seed": [0, 0, 0, 0], "target_ppl": [100.0, 50.0, 10.0, 5.0]})
    runs = pd.DataFrame({"run": ["a", "b"], "model": ["w1", "w2"], "seed": [0, 0],
                         "arm": ["x", "x"], "target_ppl": [10 ** 1.5, 50.0]})
    out = gap_recoveries(runs, ["arm", "model"], ref.iloc[:2], ref.iloc[2:])
    # w1: halfway between 100 and 10 on the log scale; w2: still at its zero-shot 50.
    assert out["gap_recovery_ppl"].tolist() == pytest.approx([0.5, 0.0])
    # mid-study, the fine-tuned reference only on w1: w2's run has no gap, not w1's bound
    out = gap_recoveries(runs, ["arm", "model"], ref.iloc[:2], ref.iloc[2:3])
    assert out["model"].tolist() == ["w1"]
    assert out["gap_recovery_ppl"].tolist() == pytest.approx([0.5])


def test_gap_recovery_takes_the_references_of_the_runs_own_objective():
    from transplant.results.stats import gap_recoveries

    ref = pd.DataFrame({"run": ["zl", "zt", "fl", "ft"],
                        "method": ["zero_shot", "zero_shot", "full_ft", "full_ft"],
                        "data.objective": ["lm", "task", "lm", "task"], "seed": [0] * 4,
                        "target_ppl": [100.0, None, 10.0, None],
                        "target_acc": [None, 0.4, None, 0.8]})
    runs = pd.DataFrame({"run": ["l", "t"], "method": ["theseus"] * 2,
                         "data.objective": ["lm", "task"], "seed": [0, 0],
                         "target_ppl": [10 ** 1.5, None], "target_acc": [None, 0.7]})
    arms = ["method", "data.objective"]
    out = gap_recoveries(runs, arms, ref[ref.method == "zero_shot"],
                         ref[ref.method == "full_ft"]).set_index("data.objective")
    assert out.loc["lm", "gap_recovery_ppl"] == pytest.approx(0.5)
    assert out.loc["task", "gap_recovery_acc"] == pytest.approx((0.7 - 0.4) / (0.8 - 0.4))
    assert out.loc["task", "tir_acc"] == pytest.approx(0.7 / 0.4)
    assert pd.isna(out.loc["lm", "gap_recovery_acc"])


def test_paired_accuracy_difference_is_exact_and_its_interval_covers_it():
    from transplant.results.stats import paired_accuracy_difference

    labels = ["p", "n"] * 50
    ids = [str(i) for i in range(100)]
    right = {"doc_ids": ids, "labels": labels, "predicted": labels}
    wrong10 = {"doc_ids": ids, "labels": labels,
               "predicted": [("n" if y == "p" else "p") if i < 10 else y
                             for i, y in enumerate(labels)]}
    d = paired_accuracy_difference([right, right], [wrong10, wrong10])
    assert d["diff"] == pytest.approx(0.10) and d["ci_low"] <= 0.10 <= d["ci_high"]
    assert d["ci_low"] > 0  # ten examples always wrong on one side, never on the other
    assert paired_accuracy_difference([right], [right])["diff"] == 0


def test_a_multi_factor_reference_pairs_each_arm_with_its_own(tmp_path):
    # Two modules x two conditions x two seeds: "ported" of module m must be paired with
    # "scratch" of module m, not of the other module (their examples' outcomes differ).
    from transplant.results.pairing import paired_table

    labels = ["p", "n"] * 10
    ids = [str(i) for i in range(20)]
    rows = []
    for peft, scratch_right in (("lora", 20), ("prefix", 10)):
        for condition in ("ported", "scratch"):
            for seed in (0, 1):
                run = f"{peft}-{condition}-{seed}"
                right = 20 if condition == "ported" else scratch_right
                predicted = [y if i < right else ("n" if y == "p" else "p")
                             for i, y in enumerate(labels)]
                (tmp_path / run / "docs").mkdir(parents=True)
                (tmp_path / run / "docs" / "target.json").write_text(json.dumps(
                    {"doc_ids": ids, "labels": labels, "predicted": predicted}))
                rows.append({"run": run, "peft": peft, "method.condition": condition,
                             "seed": seed})
    df = pd.DataFrame(rows)
    table = paired_table(tmp_path, df, ["peft", "method.condition"],
                         "method.condition=scratch").set_index("peft")
    assert table.loc["lora", "target acc difference"].startswith("+0.0000")
    assert table.loc["prefix", "target acc difference"].startswith("+0.5000")


def test_a_choice_at_an_end_of_the_grid_is_flagged_in_numeric_order():
    # Run identities hold values as text; "10" is the largest of 2, 5, 10, not the smallest
    # after "1" sorts them. Arm a's validation keeps improving to the top: flagged.
    rows = [{"method": m, "alpha": a, "seed": 0, "val_target_ppl": v}
            for m, curve in (("a", {"2": 9.0, "5": 8.0, "10": 7.0}),
                             ("b", {"2": 9.0, "5": 6.0, "10": 7.0}))
            for a, v in curve.items()]
    selection = select(pd.DataFrame(rows), "alpha", "val_target_ppl", ["method"],
                       specs=legacy(rows))
    chosen = selection.chosen.set_index("method")
    assert chosen.loc["a", "alpha"] == "10" and chosen.loc["a", "edge"] == "yes"
    assert chosen.loc["b", "alpha"] == "5" and chosen.loc["b", "edge"] == "no"
    assert chosen.loc["a", "grid"] == "2,5,10"
    assert "1 of 2 arms chose an end of their grid" in selection.rule()


def test_summary_rows_follow_a_numeric_factor_in_numeric_order():
    # Run identities hold values as text: positions "10" and "15" must not come before "5",
    # and K = null (all modules) comes after every number.
    rows = [{"mode": m, "position": p, "seed": s, "target_ppl": 1.0 + s}
            for m in ("replace", "insert") for p in ("0", "10", "15", "5", None)
            for s in (0, 1)]
    table = summarize(pd.DataFrame(rows), ["target_ppl"], ["mode", "position"], specs=legacy(rows))
    assert list(table["mode"]) == ["insert"] * 5 + ["replace"] * 5
    assert list(table["position"][:4]) == ["0", "5", "10", "15"]
    assert pd.isna(table["position"][4])


def test_a_cell_shows_its_interval_unless_every_seed_gives_the_same_value():
    from transplant.results.tables import interval_table

    rows = [{"arm": "a", "seed": s, "target_ppl": p, "params_trainable": 7_046_272}
            for s, p in ((0, 10.0), (1, 12.0))]
    table = interval_table(pd.DataFrame(rows), ["target_ppl", "params_trainable"], ["arm"],
                           specs=legacy(rows))
    from scipy import stats

    logs = np.log([10.0, 12.0])
    low, high = np.exp(stats.t.interval(0.95, 1, loc=logs.mean(), scale=stats.sem(logs)))
    assert table.loc[0, "target_ppl"] == f"{math.sqrt(120):.4g} [{low:.4g}, {high:.4g}]"
    assert table.loc[0, "params_trainable"] == "7,046,272"  # not "7,046,272 [7,046,272, ...]"


def test_records_without_per_document_scores_are_paired_by_seed(tmp_path):
    # An archive saved --no-docs keeps metrics only: the arm is still compared with the
    # reference run of its own seed, the interval over seeds (a t-interval on the differences).
    from scipy import stats as sps

    from transplant.results.pairing import paired_table

    nll = {"transport": [8.9, 9.1, 9.0], "naive": [9.3, 9.2, 9.6]}
    rows = [{"run": f"{arm}-{s}", "arm": arm, "pair": "a", "seed": s,
             "target_nll": nll[arm][s], "retention_nll": 6.0 + 0.1 * s}
            for arm in nll for s in range(3)]
    rows.append({"run": "orphan-0", "arm": "transport", "pair": "b", "seed": 0,
                 "target_nll": 9.0, "retention_nll": 6.0})  # no naive run of pair b
    table = paired_table(tmp_path, pd.DataFrame(rows), ["arm", "pair"],
                         "arm=naive")
    assert list(table["pair"]) == ["a"]  # the orphan has nothing to be paired with
    d = np.subtract(nll["transport"], nll["naive"])
    low, high = sps.t.interval(0.95, 2, loc=d.mean(), scale=d.std(ddof=1) / np.sqrt(3))
    assert table.loc[0, "target ppl ratio"] == (
        f"{math.exp(d.mean()):.4f} [{math.exp(low):.4f}, {math.exp(high):.4f}]")
    assert table.loc[0, "target seeds x docs"] == "3 x (by seed)"
    assert table.loc[0, "retention ppl ratio"] == "1.0000 [1.0000, 1.0000]"  # same per seed


def test_accuracy_without_per_example_scores_is_a_difference_paired_by_seed(tmp_path):
    from transplant.results.pairing import paired_table

    rows = [{"run": f"{arm}-{s}", "arm": arm, "seed": s, "target_acc": acc[s]}
            for arm, acc in (("graft", [0.6, 0.7]), ("none", [0.5, 0.5])) for s in range(2)]
    table = paired_table(tmp_path, pd.DataFrame(rows), ["arm"], "arm=none")
    assert table.loc[0, "target acc difference"].startswith("+0.1500 [")
    assert "retention acc difference" not in table  # the records hold no retention score


def test_gap_recovery_refuses_two_references_for_one_run():
    # A reference arm run twice (untuned, then with a rate grid) must be named apart, not
    # silently drop the runs it would have served.
    from transplant.results.stats import gap_recoveries

    ref = pd.DataFrame({"run": ["z", "f", "f-tuned"], "method": ["zero_shot", "full_ft", "full_ft"],
                        "seed": [0, 0, 0], "target_ppl": [100.0, 10.0, 8.0]})
    runs = pd.concat([ref, pd.DataFrame({"run": ["a"], "method": ["theseus"], "seed": [0],
                                         "target_ppl": [50.0]})])
    with pytest.raises(ValueError, match=r"run a: 2 reference runs match it \(f, f-tuned\)"):
        gap_recoveries(runs, ["method"], ref.iloc[:1], ref.iloc[1:])
    out = gap_recoveries(runs, ["method"], ref.iloc[:1], ref.iloc[2:]).set_index("method")
    # against the tuned reference: log(100/50) / log(100/8); the untuned one is an arm now
    assert out.loc["theseus", "gap_recovery_ppl"] == pytest.approx(np.log(2) / np.log(12.5))
    assert out.loc["full_ft", "gap_recovery_ppl"] == pytest.approx(np.log(10) / np.log(12.5))


def _graft_runs(bottom_gain: list[float]) -> pd.DataFrame:
    """A ranked and a bottom-K graft on three donors (donor 0 leaves donor_seed unset), one
    seed each: metrics only, as an archive saved --no-docs keeps them."""
    rows = []
    for chosen, ppl, acc in (("activation", [110.0, 112.0, 115.0], [0.33, 0.34, 0.35]),
                             ("bottom", [120.0, 118.0, 126.0],
                              [a + g for a, g in zip([0.33, 0.34, 0.35], bottom_gain,
                                                     strict=True)])):
        for donor, p, a in zip((np.nan, 1, 2), ppl, acc, strict=True):
            rows.append({"run": f"{chosen}-{donor}", "select": chosen, "k": 8, "seed": 0,
                         "donor_seed": donor, "target_ppl": p, "target_acc": a})
    return pd.DataFrame(rows)


def test_a_replicated_reference_pairs_each_run_with_its_own_replicate(tmp_path):
    # Three donors, one seed: bottom-K on donor d against the ranked graft on donor d, from
    # the records' perplexity (log: mean NLL) and sentiment accuracy; a t-interval over donors.
    from scipy import stats as sps

    from transplant.results.pairing import paired_table

    df = _graft_runs([0.01, 0.05, 0.03])
    table = paired_table(tmp_path, df, ["select", "k"], "select=activation",
                         replicates=("donor_seed",))
    assert list(table["select"]) == ["bottom"]
    d = np.log([120 / 110, 118 / 112, 126 / 115])
    low, high = sps.t.interval(0.95, 2, loc=d.mean(), scale=d.std(ddof=1) / np.sqrt(3))
    assert table.loc[0, "target ppl ratio"] == (
        f"{math.exp(d.mean()):.4f} [{math.exp(low):.4f}, {math.exp(high):.4f}]")
    assert table.loc[0, "target acc difference"].startswith("+0.0300 [")
    assert table.loc[0, "target seeds x docs"] == "3 x (by seed)"


def test_a_reference_run_on_every_replicate_needs_the_replicate_named(tmp_path):
    from transplant.results.pairing import paired_table

    with pytest.raises(ValueError, match=r"3 reference runs share seed; they differ in a factor "
                                         r"the runs do not name \(a replicate factor"):
        paired_table(tmp_path, _graft_runs([0.0, 0.0, 0.0]), ["select", "k"],
                     "select=activation")
