import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from scipy import stats

from tests.conftest import REPO, legacy
from transplant.results.report import main


def _done_run(study: Path, identity: dict[str, str], metrics: dict) -> None:
    """A finished run's records, named by its identity, as a sweep leaves them."""
    d = study / (",".join(f"{k}={v}" for k, v in identity.items()) or "run")
    d.mkdir(parents=True)
    (d / "status.json").write_text(json.dumps({"status": "done", "identity": identity}))
    (d / "metrics.json").write_text(json.dumps(metrics))


def test_report_tables_match_run_records_and_list_failures(run, tmp_path, capsys):
    m_zero, zero_dir = run(["method=zero_shot"], study="s")
    m_lora, _ = run(["method=lora"], study="s")
    _, bad_dir = run(["method=full_ft", "method.optim.lr=1e12", "trainer.max_steps=6",
                      "trainer.gradient_clip_val=null"], study="s", multirun=True)
    study = zero_dir.parent
    assert main([str(study)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("# s: 2 done, 1 failed, 0 incomplete")
    assert "## Failed" in printed and f"| {bad_dir.name}" in printed
    assert "window 64, stride 32, 256 predicted tokens" in printed

    table = pd.read_csv(study / "_report" / "report.csv").set_index("method")
    assert table.loc["zero_shot", "target_ppl"] == m_zero["target_ppl"]
    assert table.loc["lora", "retention_bpb"] == m_lora["retention_bpb"]
    assert table.loc["lora", "train_tokens"] == m_lora["train_tokens"] > 0
    md = (study / "_report" / "report.md").read_text()
    assert md == printed.rstrip("\n") + "\n" or md.strip() == printed.strip()
    tex = (study / "_report" / "report.tex").read_text()
    assert r"\begin{tabular}" in tex and r"target\_ppl" in tex
    assert r"\toprule" in tex and r"\bottomrule" in tex  # booktabs: compiles as it is


def test_report_of_missing_study_says_so(tmp_path, capsys):
    assert main([str(tmp_path / "nothing")]) == 2
    assert "no study directory" in capsys.readouterr().err


def test_results_layer_imports_no_torch():
    code = "import sys, transplant.results.report; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


def test_unreadable_status_is_listed_not_fatal(tmp_path):
    from transplant.results.records import read_study

    (tmp_path / "st" / "r1").mkdir(parents=True)
    (tmp_path / "st" / "r1" / "status.json").write_text("{not json")
    (tmp_path / "st" / "r2").mkdir()
    (tmp_path / "st" / "r2" / "status.json").write_text(json.dumps({"status": "done"}))
    records = read_study(tmp_path / "st")
    assert [r for r, _ in records.incomplete] == ["r1", "r2"]  # r2: done but no metrics.json


def test_arms_are_named_by_every_override_key_config_group_choices_included(tmp_path):
    # `peft=` and `hosts=` are config group choices (no dot in the key): two modules must be
    # two arms, not one arm of four runs (as a rule that took only dotted keys did).
    from transplant.results.report import write_report

    for peft, acc in (("lora", (0.8, 0.9)), ("prefix", (0.5, 0.6))):
        for seed in (0, 1):
            identity = {"hosts": "a_b", "peft": peft, "seed": str(seed)}
            d = tmp_path / "st" / f"hosts=a_b,peft={peft},seed={seed}"
            d.mkdir(parents=True)
            (d / "status.json").write_text(json.dumps({"status": "done", "identity": identity}))
            (d / "metrics.json").write_text(json.dumps({"method": "peft_port", "model": "b",
                                                        "target_acc": acc[seed],
                                                        "wall_s": 900.0 * (1 + seed),
                                                        **({"cpu_s": 3600.0} if seed else {})}))
    markdown = write_report(tmp_path / "st")
    # 2 x 900 s + 2 x 1800 s = 1.5 h; the median run took 1350 s; 2 runs record 1 CPU hour each
    assert ("Compute: 4 runs, 1.50 hours of run wall time (sum of wall_s, median 1350 s a run), "
            "2.00 CPU hours (sum of cpu_s over the 2 runs that record it).") in markdown
    summary = pd.read_csv(tmp_path / "st" / "_report" / "summary.csv").set_index("peft")
    assert summary["n"].tolist() == [2, 2]
    assert summary.loc["lora", "target_acc"].startswith("0.85 [")  # mean of 0.8 and 0.9
    assert summary.loc["prefix", "target_acc"].startswith("0.55 [")
    # a run's time is bookkeeping: its mean, with no interval over seeds
    assert summary["wall_s"].tolist() == ["1,350", "1,350"]


def test_grouped_bars_show_each_cells_mean_and_the_majority_class():
    from transplant.results.plots import categorical_axes, grouped_bars

    rows = []
    for peft in ("lora", "prefix"):
        for condition, base in (("ported", 0.8), ("scratch", 0.6), ("sampled", 0.55)):
            for seed in (0, 1, 2):
                rows.append({"peft": peft, "method.condition": condition, "seed": seed,
                             "target_acc": base + 0.01 * seed + (0.05 if peft == "lora" else 0),
                             "target_majority_acc": 0.51})
    df = pd.DataFrame(rows)
    assert categorical_axes(df, ["peft", "method.condition"]) == ["peft", "method.condition"]
    fig = grouped_bars(df, "target_acc", ["peft"], "method.condition", specs=legacy(df))
    ax = fig.axes[0]
    heights = sorted(round(p.get_height(), 6) for p in ax.patches)
    expected = sorted(round(v, 6) for v in
                      df.groupby(["peft", "method.condition"])["target_acc"].mean())
    assert heights == expected  # one bar per cell: the mean over seeds
    assert [t.get_text() for t in ax.get_xticklabels()] == ["lora", "prefix"]
    assert [line.get_ydata()[0] for line in ax.get_lines() if line.get_linestyle() == "--"] \
        == [0.51]
    assert ax.get_ylabel() == "target test accuracy"
    many = pd.DataFrame({"peft": [f"p{i:02d}" for i in range(60)], "method.condition": "x",
                         "seed": 0, "target_acc": 0.5})
    assert fig.get_figwidth() == 6  # 0.9 inch a cell, from 6 ...
    assert grouped_bars(many, "target_acc", ["peft"], "method.condition",
                        specs=legacy(many)).get_figwidth() == 24


def test_grouped_bars_keep_runs_that_lack_a_factor():
    # Theseus: carried arms have a width pair and no model.name, baselines the reverse; every
    # run must still be a bar, and a group's label must not read "nan".
    from transplant.results.plots import UNSET, grouped_bars

    rows = [{"arm": "transport", "widths": "w128_w192", "model.name": None, "seed": s,
             "target_ppl": 9000.0 + s} for s in range(3)]
    rows += [{"arm": None, "widths": None, "model.name": m, "seed": 0, "target_ppl": p}
             for m, p in (("w128", 11000.0), ("w192", 12000.0))]
    fig = grouped_bars(pd.DataFrame(rows), "target_ppl", ["arm", "widths"], "model.name",
                       specs=legacy(rows))
    ax = fig.axes[0]
    bars = sorted((p.get_height(), p.get_x() + p.get_width() / 2) for p in ax.patches)
    from scipy.stats import gmean

    # one bar per cell, no empties; a single run's bar is exactly its perplexity
    assert [h for h, _ in bars] == [pytest.approx(gmean([9000.0, 9001.0, 9002.0]), rel=1e-12),
                                    11000.0, 12000.0]
    assert [t.get_text() for t in ax.get_xticklabels()] == [UNSET, "transport, w128_w192"]
    # each group's bars sit around its own tick: the carried group's one bar on tick 1,
    # the baselines' two either side of tick 0
    centres = [round(x, 6) for _, x in bars]
    assert centres[0] == 1.0 and centres[1] + centres[2] == 0 and centres[1] < 0
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [UNSET, "w128", "w192"]


def test_control_table_ranks_each_arm_among_the_draws_sharing_its_factors():
    from transplant.results.stats import rank_p_value
    from transplant.results.tables import control_table

    runs = [{"run": "act-8", "method.graft.select": "activation", "method.graft.k": 8,
             "seed": 0, "target_ppl": 100.0, "target_acc": 0.50}]
    ppl8 = [101.0, 99.0, 103.0, 104.0]  # one draw (99) beats the activation arm's perplexity
    runs += [{"run": f"rnd-8-{s}", "method.graft.select": "random_matched",
              "method.graft.k": 8, "seed": s, "target_ppl": p, "target_acc": 0.40}
             for s, p in enumerate(ppl8)]
    # Draws at another K are not this arm's control.
    runs += [{"run": "rnd-16-0", "method.graft.select": "random_matched", "method.graft.k": 16,
              "seed": 0, "target_ppl": 50.0, "target_acc": 0.9}]
    table = control_table(pd.DataFrame(runs), ["method.graft.select", "method.graft.k"],
                          "method.graft.select=random_matched", legacy(runs))
    assert len(table) == 1
    row = table.iloc[0]
    assert row["draws"] == 4 and row["method.graft.k"] == 8
    assert row["target_ppl p"] == f"{rank_p_value(100.0, ppl8, higher_is_better=False):.3f}"
    assert row["target_ppl p"] == "0.400"  # (1 + 1) / (1 + 4)
    assert row["target_acc p"] == "0.200"  # no draw as accurate: 1 / 5
    from scipy.stats import gmean  # perplexities are averaged on their log

    assert row["target_ppl control"] == f"{gmean(ppl8):.4g} [99, 104]"  # 101.7


def test_replicate_donors_fold_into_one_arm_and_the_control_ranks_like_against_like(tmp_path):
    # The ranked graft on 3 donors (seeds of the donor's fine-tuning) is one arm of n = 3; the
    # random draws exist on donor 0 only, so only the donor-0 run is ranked among them.
    from transplant.results.report import write_report

    def record(name, identity, ppl):
        d = tmp_path / "st" / name
        d.mkdir(parents=True)
        (d / "status.json").write_text(json.dumps({"status": "done", "identity": identity}))
        (d / "metrics.json").write_text(json.dumps({"method": "graft", "seed": 0,
                                                    "target_ppl": ppl}))

    ranked = {"method.graft.select": "activation", "method.graft.k": "8", "seed": "0"}
    record("act-d0", ranked, 100.0)  # donor 0: the default, not overridden
    for donor, ppl in ((1, 110.0), (2, 120.0)):  # worse than every draw
        record(f"act-d{donor}", {**ranked, "method.graft.donor_seed": str(donor)}, ppl)
    draws = [101.0, 99.0, 103.0, 104.0]
    for s, ppl in enumerate(draws):
        record(f"rnd-{s}", {"method.graft.select": "random_matched", "method.graft.k": "8",
                            "seed": str(s)}, ppl)
    md = write_report(tmp_path / "st", control="method.graft.select=random_matched",
                      replicates=("method.graft.donor_seed",))
    summary = pd.read_csv(tmp_path / "st" / "_report" / "summary.csv")
    summary = summary.set_index("method.graft.select")
    assert len(summary) == 2  # the donors split no arm: one row each for ranked and random
    assert summary.loc["activation", "n"] == 3
    # the seed once, and the donors it replicates over ("-": the default, not overridden)
    assert summary.loc["activation", "seeds"] == "0"
    assert summary.loc["activation", "method.graft.donor_seed"] == "-,1,2"
    assert summary.loc["random_matched", "seeds"] == "0,1,2,3"
    from scipy.stats import gmean

    # the geometric mean of 100, 110 and 120 (109.7)
    assert summary.loc["activation", "target_ppl"].startswith(f"{gmean([100, 110, 120]):.4g} [")
    assert "over seeds and method.graft.donor_seed" in md
    section = md[md.index("## Against"):].split("\n## ")[0]
    row = [c.strip() for c in section.strip().splitlines()[-1].strip("|").split("|")]
    # the donor-0 run (100) among the 4 draws, one better: (1 + 1) / (1 + 4). The arm's mean
    # over donors (109.7) would have been beaten by all four: p = 1.
    assert row == ["activation", "100", f"{gmean(draws):.4g} [99, 104]", "0.4", "4"]


def test_a_control_with_no_finished_run_yet_leaves_the_rest_of_the_report(tmp_path):
    # A graft study in progress: the ranked cells are done, the random draws not yet.
    from transplant.results.report import write_report

    for k, ppl in (("8", 100.0), ("16", 90.0)):
        d = tmp_path / "st" / f"k={k}"
        d.mkdir(parents=True)
        identity = {"method.graft.select": "activation", "method.graft.k": k, "seed": "0"}
        (d / "status.json").write_text(json.dumps({"status": "done", "identity": identity}))
        (d / "metrics.json").write_text(json.dumps({"method": "graft", "target_ppl": ppl}))
    md = write_report(tmp_path / "st", control="method.graft.select=random_matched")
    assert "No run of method.graft.select=random_matched has finished yet." in md
    summary = pd.read_csv(tmp_path / "st" / "_report" / "summary.csv")
    assert sorted(summary["target_ppl"]) == [90, 100]  # one run an arm: no interval
    with pytest.raises(ValueError, match="runs have no column 'method.graft.selct'"):
        write_report(tmp_path / "st", control="method.graft.selct=random_matched")


def test_frontier_gives_every_arm_its_own_look_and_logs_a_wide_spread():
    from transplant.results.plots import frontier

    def plot(spread: float):
        rows = [{"arm": f"a{i:02d}", "seed": s, "target_ppl": 100.0 * spread ** (i / 11) + s,
                 "retention_ppl": 50.0 + i} for i in range(12) for s in range(2)]
        return frontier(pd.DataFrame(rows), ["arm"], specs=legacy(rows)).axes[0]

    ax = plot(spread=100.0)
    points = [(c.lines[0].get_xdata()[0], c.lines[0].get_color(), c.lines[0].get_marker())
              for c in ax.containers]
    seed_means = [math.sqrt(v * (v + 1)) for v in (100.0 * 100.0 ** (i / 11) for i in range(12))]
    assert [round(x, 6) for x, _, _ in points] == [round(m, 6) for m in seed_means]
    assert len({(color, marker) for _, color, marker in points}) == 12
    # past 10 arms each point is numbered as its legend entry is
    assert [t.get_text() for t in ax.texts] == [str(i + 1) for i in range(12)]
    assert ax.get_legend().get_texts()[11].get_text() == "12: arm=a11"
    assert ax.get_xscale() == "log" and ax.get_yscale() == "linear"  # 100x vs 1.2x
    assert plot(spread=2.0).get_xscale() == "linear"


def test_a_curve_logs_a_budget_axis_and_a_wide_spread_not_positions():
    # Budgets 40/160/640 are a factor apart each (log x); layer positions 0..25 are not.
    # Perplexities over orders (the organ implanted: 100 to 10^6) read on a log y.
    from transplant.results.plots import metric_vs_axis

    def plot(axis, values, ppl):
        rows = [{"arm": a, axis: v, "seed": s, "target_ppl": ppl(v) * (1 + s / 100)}
                for a in ("x", "y") for v in values for s in range(2)]
        return metric_vs_axis(pd.DataFrame(rows), axis, "target_ppl", ["arm", axis],
                              specs=legacy(rows)).axes[0]

    budget = plot("trainer.max_steps", [40, 160, 640], lambda v: 10 ** 8 / v ** 2)
    assert (budget.get_xscale(), budget.get_yscale()) == ("log", "log")
    positions = plot("method.organ.position", [0, 5, 10, 25], lambda v: 100 + v)
    assert (positions.get_xscale(), positions.get_yscale()) == ("linear", "linear")


def test_the_organ_in_its_wrapper_gets_its_own_budget_curve(tmp_path):
    from transplant.results.report import write_report

    for steps in (40, 160):
        for seed in (0, 1):
            _done_run(tmp_path / "st", {"seed": str(seed), "trainer.max_steps": str(steps)},
                      {"method": "organ", "seed": seed, "target_ppl": 10.0 ** 5,
                       "wrapper_target_ppl": 10.0 ** 4 / steps})
    write_report(tmp_path / "st", html=True)
    figures = {p.name for p in (tmp_path / "st" / "_report" / "figures").glob("*.png")}
    assert {"target_ppl_vs_trainer_max_steps.png",
            "wrapper_target_ppl_vs_trainer_max_steps.png"} <= figures


def test_a_task_study_reads_its_frontier_on_accuracy(tmp_path):
    # A study on a labelled task alone has no target perplexity: its frontier is accuracy
    # (higher: learned more) against retention, in the table and the figure.
    from transplant.results.plots import frontier
    from transplant.results.report import write_report

    rows = [("a", 0, 0.5, 400.0), ("a", 1, 0.6, 500.0), ("b", 0, 0.7, 9000.0),
            ("b", 1, 0.7, 11000.0)]
    for arm, seed, acc, retention in rows:
        d = tmp_path / "st" / f"method={arm},seed={seed}"
        d.mkdir(parents=True)
        identity = {"method": arm, "seed": str(seed)}
        (d / "status.json").write_text(json.dumps({"status": "done", "identity": identity}))
        (d / "metrics.json").write_text(json.dumps({"method": arm, "seed": seed,
                                                    "target_acc": acc,
                                                    "retention_ppl": retention}))
    write_report(tmp_path / "st", tmp_path / "out", html=True)
    md = (tmp_path / "out" / "report.md").read_text()
    section = md[md.index("## Frontier"):].split("\n## ")[0]
    assert "target_acc" in section and "| 0.55 [" in section
    assert (tmp_path / "out" / "figures" / "frontier.png").exists()
    df = pd.DataFrame([{"method": a, "seed": s, "target_acc": x, "retention_ppl": r}
                       for a, s, x, r in rows])
    ax = frontier(df, ["method"], specs=legacy(df)).axes[0]
    assert [round(c.lines[0].get_xdata()[0], 6) for c in ax.containers] == [0.55, 0.7]
    assert ax.get_xlabel().endswith("(higher: learned more)") and ax.get_xscale() == "linear"
    assert ax.get_yscale() == "log"  # retention spread 450 -> 10,000


def test_gap_recovery_is_drawn_per_arm_from_each_runs_own_references(tmp_path, monkeypatch):
    # Theseus-shaped: references per target width (model), carried arms per width pair.
    from transplant.results import plots
    from transplant.results.report import write_report

    def record(identity, metrics):
        _done_run(tmp_path / "st", identity, metrics)

    zero, tuned = {"w1": 1000.0, "w2": 400.0}, {"w1": 10.0, "w2": 4.0}
    for seed in (0, 1):
        for m in ("w1", "w2"):
            for method, ppl in (("zero_shot", zero[m]), ("full_ft", tuned[m])):
                record({"method": method, "model.name": m, "seed": str(seed)},
                       {"method": method, "model": m, "target_ppl": ppl})
        for arm, share in (("naive", 0.1), ("transport", 0.3)):
            for pair, m in (("w2_w1", "w1"), ("w1_w2", "w2")):
                ppl = zero[m] * (tuned[m] / zero[m]) ** (share + 0.1 * seed)  # known recovery
                record({"method.arm": arm, "seed": str(seed), "widths": pair},
                       {"method": "theseus", "model": m, "target_ppl": ppl})
    drawn = {}
    real_save = plots.save
    monkeypatch.setattr(plots, "save", lambda fig, path: drawn.setdefault(path.name, fig)
                        and real_save(fig, path))
    write_report(tmp_path / "st", gap=["method=zero_shot", "method=full_ft"], html=True)
    assert (tmp_path / "st" / "_report" / "figures" / "gap_recovery_ppl_bars.png").exists()
    ax = drawn["gap_recovery_ppl_bars"].axes[0]
    # one bar per (arm, pair): the mean over seeds 0 and 1 of share + 0.1 seed
    heights = sorted(round(p.get_height(), 9) for p in ax.patches)
    assert heights == [0.15, 0.15, 0.35, 0.35]
    # the arms compared side by side, in each pair's group
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["naive", "transport"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["w1_w2", "w2_w1"]
    assert ax.get_ylabel() == "gap recovery (log test perplexity)"


def test_a_reference_arm_is_named_by_several_factors_or_by_one_left_unset():
    from transplant.results.tables import runs_of

    df = pd.DataFrame({"run": ["f", "t", "z"], "method": ["full_ft", "full_ft", "zero_shot"],
                       "method.optim.lrs": [None, "[0.0003,0.001,0.003]", None]})
    # as a multirun sweep records the value, and as a user types it: one value
    tuned = runs_of(df, "method=full_ft&method.optim.lrs=[3e-4,1e-3,3e-3]", "--gap")
    assert tuned["run"].tolist() == ["t"]
    assert runs_of(df, "method.optim.lrs=[0.0003,0.001,0.003]", "--gap")["run"].tolist() == ["t"]
    assert runs_of(df, "method=full_ft&method.optim.lrs=", "--gap")["run"].tolist() == ["f"]
    with pytest.raises(ValueError, match=r"--gap 'method=lora&seed=0': runs have no column "
                                         r"'seed'"):
        runs_of(df, "method=lora&seed=0", "--gap")
    with pytest.raises(ValueError, match=r"no finished run has method=zero_shot and "
                                         r"method.optim.lrs=\[1\]"):
        runs_of(df, "method=zero_shot&method.optim.lrs=[1]", "--gap")


def test_bars_never_pool_a_numeric_factor_and_order_it_by_number(tmp_path, monkeypatch):
    # Graft strength alpha is a number, K a number or null (all modules): bars by select,
    # one group per (alpha, K) in numeric order, each bar one cell's mean.
    from transplant.results import plots
    from transplant.results.sections import _bars

    rows = [{"run": f"{a}-{k}-{sel}", "alpha": a, "k": k, "select": sel, "seed": 0,
             "target_ppl": 100 - 20 * float(a) - (0 if k == "null" else int(k) / 10)
             - (5 if sel == "bottom" else 0)}
            for a in ("0.5", "1.0") for k in ("8", "16", "128", "null")
            for sel in ("activation", "bottom")]
    drawn = {}
    monkeypatch.setattr(plots, "save", lambda fig, path: drawn.setdefault(path.name, fig))
    _bars(pd.DataFrame(rows), "target_ppl", ["alpha", "k", "select"], tmp_path, "runs",
          legacy(rows))
    ax = drawn["target_ppl_bars"].axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "0.5, 8", "0.5, 16", "0.5, 128", "0.5, null", "1.0, 8", "1.0, 16", "1.0, 128",
        "1.0, null"]
    assert sorted(round(p.get_height(), 6) for p in ax.patches) == sorted(
        round(r["target_ppl"], 6) for r in rows)  # 16 cells, 16 bars: nothing pooled


def test_a_blank_factor_is_named_by_the_config_value_its_runs_ran_at(tmp_path):
    # `method.organ.trained=false` names the control; the trained runs leave the key unset and
    # ran at the config's True, which the Arms text must say (a blank cell alone reads "?"). A
    # method whose config has no such key (LoRA) adds nothing to the note.
    from transplant.results.report import write_report

    runs = {"method.organ.trained=False": ("organ", {"trained": False}, "False"),
            "seed=0": ("organ", {"trained": True}, None),
            "method=lora": ("lora", {}, None)}
    for name, (method, organ, trained) in runs.items():
        d = tmp_path / "st" / name
        d.mkdir(parents=True)
        identity = {"method.organ.trained": trained} if trained else {}
        identity |= {"method": "lora"} if method == "lora" else {}
        (d / "status.json").write_text(json.dumps({"status": "done", "identity": identity}))
        (d / "metrics.json").write_text(json.dumps({"method": method, "seed": 0,
                                                    "target_ppl": 10.0}))
        method_cfg = {"name": method, **({"organ": organ} if organ else {})}
        (d / "config.yaml").write_text(json.dumps({"seed": 0, "method": method_cfg}))
    markdown = write_report(tmp_path / "st")
    assert "A blank factor is the config's value: method.organ.trained True." in markdown


def test_the_arms_table_gives_the_organs_perplexity_in_its_wrapper(tmp_path):
    # The organ's budget study reads the paper's organ perplexity (in the training wrapper), the
    # one its rate was chosen on and what the wrapper keeps of the retention domain, beside the
    # implanted model's.
    from transplant.results.report import write_report

    for seed, wrapper, kept in ((0, 100.0, 1000.0), (1, 102.0, 4000.0)):
        _done_run(tmp_path / "st", {"seed": str(seed)}, {
            "method": "organ", "seed": seed, "target_ppl": 127.0, "wrapper_target_ppl": wrapper,
            "wrapper_val_target_ppl": wrapper + 1, "wrapper_retention_ppl": kept})
    markdown = write_report(tmp_path / "st")
    header, row = [line for line in markdown.splitlines() if "wrapper_target_ppl" in line
                   or line.startswith("| organ")][:2]
    cells = dict(zip([c.strip() for c in header.split("|")],
                     [c.strip() for c in row.split("|")], strict=True))
    assert cells["wrapper_target_ppl"].startswith("101 [")
    assert cells["wrapper_val_target_ppl"].startswith("102 [")
    assert cells["wrapper_retention_ppl"].startswith("2,000 [")  # geometric, as every ppl


def test_the_rates_each_run_tried_are_tabled_per_arm_with_their_seed_mean(tmp_path):
    # A run that chooses its own rate (method.optim.lrs) keeps the validation curve; the report
    # shows it per arm, rates in numeric order (1.1e-5 before 1e-4), perplexities geometric.
    from transplant.results.report import write_report

    curves = {0: {"1.11111e-05": 100.0, "0.0001": 50.0}, 1: {"1.11111e-05": 400.0, "0.0001": 50.0}}
    for seed, curve in curves.items():
        _done_run(tmp_path / "st", {"seed": str(seed)}, {
            "method": "lora", "seed": seed, "target_ppl": 60.0, "lr": 1e-4,
            "val_target_ppl": 50.0, **{f"val_target_ppl_lr_{r}": v for r, v in curve.items()}})
    markdown = write_report(tmp_path / "st")
    section = markdown.split("## Rates tried")[1].split("\n## ")[0]
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in section.splitlines()
            if line.startswith("| val_target_ppl")]
    assert [(r[2], r[3].split(" [")[0], r[4]) for r in rows] == [("1.11e-05", "200", "2"),
                                                                 ("0.0001", "50", "2")]


def test_runs_that_did_not_choose_their_own_rate_have_no_rates_tried_section(tmp_path):
    from transplant.results.report import write_report

    _done_run(tmp_path / "st", {"seed": "0"}, {"method": "lora", "seed": 0, "target_ppl": 60.0})
    assert "## Rates tried" not in write_report(tmp_path / "st")


def test_a_commit_beside_its_own_dirty_tree_is_not_called_the_same_code(tmp_path):
    # One commit, clean and dirty: git sees no difference between the commits, but the dirty
    # runs executed code that is in none of them.
    from transplant.provenance import code_state
    from transplant.results.report import write_report

    head = code_state()[0] or "a" * 40
    for seed, dirty in ((0, False), (1, True)):
        _done_run(tmp_path / "st", {"seed": str(seed)}, {
            "method": "lora", "seed": seed, "target_ppl": 60.0, "code_commit": head,
            "code_dirty": dirty})
    markdown = write_report(tmp_path / "st")
    assert f"mixes commits {head[:10]}, {head[:10]} (dirty tree) (a dirty tree's code is in " \
           "no commit: what differs is unknown)." in markdown


def test_a_table_of_mixed_commits_says_it_cannot_tell_what_differs_without_them(tmp_path):
    # Commits this checkout does not hold (a table from another clone) cannot be compared:
    # the warning says so rather than implying the code was the same.
    from transplant.results.report import write_report

    for seed, commit in ((0, "a" * 40), (1, "b" * 40)):
        _done_run(tmp_path / "st", {"seed": str(seed)}, {
            "method": "lora", "seed": seed, "target_ppl": 60.0, "code_commit": commit,
            "code_dirty": False})
    assert ("Warning: this table mixes commits aaaaaaaaaa, bbbbbbbbbb (this is not a git "
            "checkout holding them all: what differs is unknown).") in write_report(tmp_path / "st")


def test_a_frontier_along_the_rate_draws_each_arm_through_its_rates_and_names_divergence():
    # One line per arm through its rates in rate order, each point labelled with its rate,
    # the rate validation chose ringed; a diverged run (1000x the others) is named in the
    # title, not drawn, so the rest keep the axes.
    from matplotlib.colors import to_hex

    from transplant.results.plots import frontier

    rows = [{"method": m, "method.optim.lr": lr, "seed": s,
             "target_ppl": (10_000.0 if lr == 0.03 else 50.0 + 1000 * lr + k) + s,
             "retention_ppl": (9_000.0 if lr == 0.03 else 12.0 + 100 * lr) + s}
            for k, m in enumerate(("full_ft", "lora")) for lr in (0.01, 0.003, 0.03)
            if not (m == "full_ft" and lr == 0.03) for s in (0, 1)]
    rows.append({"method": "zero_shot", "method.optim.lr": float("nan"), "seed": 0,
                 "target_ppl": 127.0, "retention_ppl": 12.4})
    df = pd.DataFrame(rows)
    chosen = df[(df["method.optim.lr"] == 0.003) | (df["method"] == "zero_shot")]
    ax = frontier(df, ["method", "method.optim.lr"], along="method.optim.lr",
                  chosen=chosen, specs=legacy(df)).axes[0]
    lines = {c.get_label(): c.lines[0] for c in ax.containers}
    assert sorted(lines) == ["full_ft", "lora", "zero_shot"]

    def mean(*values):
        return math.exp(sum(map(math.log, values)) / len(values))

    assert list(lines["lora"].get_xdata()) == pytest.approx([mean(54, 55), mean(61, 62)])
    assert list(lines["full_ft"].get_ydata()) == pytest.approx([mean(12.3, 13.3),
                                                              mean(13, 14)])
    assert sorted(t.get_text() for t in ax.texts) == ["0.003", "0.003", "0.01", "0.01"]
    rings = [(line.get_xdata()[0], to_hex(line.get_markeredgecolor())) for line in ax.lines
             if line.get_markersize() == 13]  # zero-shot has no rate to choose: no ring
    assert rings == [(pytest.approx(mean(53, 54)), to_hex("C0")),
                     (pytest.approx(mean(54, 55)), to_hex("C1"))]
    assert "off the axes (diverged): lora, lr=0.03 (10,000 / 9,000)" in ax.get_title()
    assert ax.get_xlim()[1] < 1000

    # Beside it, the same lines zoomed on the chosen points: limits from their intervals
    # (t on the log of 2 seeds, exponentiated), 15% of the span either side.
    fig = frontier(df, ["method", "method.optim.lr"], along="method.optim.lr", chosen=chosen,
                   specs=legacy(df))
    near = fig.axes[1]
    assert near.get_title() == "near the chosen learning rates"
    assert sorted(c.get_label() for c in near.containers) == ["full_ft", "lora", "zero_shot"]

    def interval(*values):
        logs = [math.log(v) for v in values]
        half = stats.t.ppf(0.975, len(logs) - 1) * stats.sem(logs)
        return math.exp(sum(logs) / len(logs) - half), math.exp(sum(logs) / len(logs) + half)

    def padded(*intervals):
        low, high = min(i[0] for i in intervals), max(i[1] for i in intervals)
        return low - 0.15 * (high - low), high + 0.15 * (high - low)

    assert near.get_xlim() == pytest.approx(padded(interval(53, 54), interval(54, 55)))
    assert near.get_ylim() == pytest.approx(padded(interval(12.3, 13.3), interval(12.3, 13.3)))
    assert len(frontier(df, ["method", "method.optim.lr"], along="method.optim.lr",
                        specs=legacy(df)).axes) == 1
