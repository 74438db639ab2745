"""The README's result tables of the Theseus study, from its run records, computed as
report.sh computes them (the same intervals, the same pairing), in the README's layout:

    python experiments/theseus/tables.py [outputs/theseus/widths] [--objective lm|task]
    python experiments/theseus/tables.py outputs/theseus/task   # the task study (its objective)

References per target width, carried arms per width pair (alpha chosen per seed, transport
paired with naive), and gap recovery against full and projections-only fine-tuning: on test
perplexity for language modelling, on test accuracy for the sentiment task. The
references are the tuned ones (method.optim.lrs) once the study has any, as in report.sh
(`--references fixed`: those at the fixed rate 1e-3); a width they have not reached is blank.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from transplant.results.pairing import paired_table
from transplant.results.records import read_study
from transplant.results.stats import arm_columns, gap_recoveries, summarize
from transplant.results.tables import runs_of

TUNED = "method.optim.lrs=[3e-4,1e-3,3e-3]&method.optim.lrs_extend=2"
WIDTH = re.compile(r"llama-(w\d+)-s0")


@dataclass(frozen=True)
class Metric:
    """What an objective's tables read: the test metric, its format, its gap recovery and its
    paired comparison (report.paired_table's column)."""
    column: str
    fmt: str
    gap: str
    paired: str
    label: str
    vs: str  # how the paired cell compares transport with a control


METRICS = {
    "lm": Metric("target_ppl", "{:,.0f}", "gap_recovery_ppl", "target ppl ratio", "test ppl",
                 "/"),
    "task": Metric("target_acc", "{:.3f}", "gap_recovery_acc", "target acc difference",
                   "test acc", "-"),
}


def cell(row: pd.Series, metric: str, fmt: str) -> str:
    mean, low, high = (row[f"{metric}_{k}"] for k in ("mean", "ci_low", "ci_high"))
    if pd.isna(low):
        return fmt.format(mean)
    return f"{fmt.format(mean)} [{fmt.format(low)}, {fmt.format(high)}]"


def pair_name(widths: str) -> str:
    a, b = widths.split("_")
    return f"{a[1:]} -> {b[1:]}"


def three_decimals(text: str) -> str:
    return re.sub(r"\d+\.\d+", lambda m: f"{float(m.group()):.3f}", text)


def references(df: pd.DataFrame, method: str, tuned: bool) -> pd.DataFrame:
    """The runs of one reference arm: at the rate chosen on validation (the grid TUNED) or at
    the fixed rate (no grid); none (empty) while the study has not run them."""
    if not (df["method"] == method).any():
        return df.iloc[:0]
    if tuned:
        has_grid = "method.optim.lrs_extend" in df
        return runs_of(df, f"method={method}&{TUNED}", "--gap") if has_grid and (
            (df["method"] == method) & df["method.optim.lrs_extend"].notna()).any() \
            else df.iloc[:0]
    fixed = f"method={method}" + ("&method.optim.lrs=" if "method.optim.lrs" in df else "")
    return runs_of(df, fixed, "--gap")


def tables(study: Path, objective: str | None = None, tuned: bool | None = None) -> str:
    """The README's tables; `tuned`: gaps against the references at the rate chosen on
    validation (None: once the study has any), else against those at the fixed rate 1e-3."""
    records = read_study(study)
    specs = records.specs
    if objective is None:  # the study's one objective
        present = set(records.done["data.objective"].dropna())
        objective = present.pop() if len(present) == 1 else "lm"
    df = records.done[records.done["data.objective"] == objective]
    arms = arm_columns(df, records.identity)
    metric = METRICS[objective]
    if tuned is None:
        tuned = "method.optim.lrs_extend" in df and df["method.optim.lrs_extend"].notna().any()
    zero = runs_of(df, "method=zero_shot", "--gap")
    ref_runs = {m: references(df, m, tuned) for m in ("full_ft", "projections_ft")}
    out = [f"{len(df)} finished {objective} runs; references: "
           f"{'rate chosen on validation' if tuned else 'rate 1e-3'}", ""]
    if "target_majority_acc" in zero and zero["target_majority_acc"].notna().any():
        # the test split's, the same for every width: the line a classifier must clear
        out[0] += f"; majority class: {zero['target_majority_acc'].max():.3f}"

    # References per target width (a width the tuned references have not reached: blank)
    per = {"zero_shot": zero, **ref_runs}
    stats = {m: summarize(r, [metric.column, "retention_ppl"], ["model.name"], specs=specs)
             .set_index("model.name") if not r.empty else pd.DataFrame() for m, r in per.items()}
    bound = gap_recoveries(pd.concat([zero, ref_runs["projections_ft"]]), ["model.name"],
                           zero, ref_runs["full_ft"])
    bound = summarize(bound, [metric.gap], ["model.name"], specs=specs).set_index(
        "model.name") if not bound.empty else pd.DataFrame()
    rates = {m: r.sort_values("seed").groupby("model.name")["lr"].agg(
        lambda a: ", ".join(f"{x:g}" for x in a)) for m, r in ref_runs.items() if tuned}

    def ref_cell(table: pd.DataFrame, model: str, metric: str, fmt: str) -> str:
        return cell(table.loc[model], metric, fmt) if model in table.index else ""

    out += ["| target | zero-shot | full fine-tuning | projections only | projections-only's "
            "gap recovery | retention: zero-shot / full / projections |"
            + (" rates chosen: full; projections |" if tuned else ""),
            "|---|---:|---:|---:|---:|---|" + ("---|" if tuned else "")]
    for model in sorted(stats["zero_shot"].index, key=lambda m: int(WIDTH.search(m)[1][1:])):
        retention = " / ".join(f"{stats[m].loc[model, 'retention_ppl_mean']:,.0f}"
                               if model in stats[m].index else "-" for m in stats)
        line = (f"| {WIDTH.search(model)[1]} | "
                + " | ".join(ref_cell(stats[m], model, metric.column, metric.fmt)
                             for m in stats)
                + f" | {ref_cell(bound, model, metric.gap, '{:.3f}')} | {retention} |")
        if tuned:
            line += " " + "; ".join(rates[m].get(model, "-") for m in rates) + " |"
        out.append(line)

    # Carried arms per pair
    if "method.arm" not in df or df["method.arm"].isna().all():
        return "\n".join(out + ["", "(no carried run has finished yet)"])
    carried = df[df["method.arm"].notna()]
    cross = carried[carried["widths"].map(lambda w: len(set(w.split("_"))) == 2)]
    s = summarize(cross, [metric.column, "retention_ppl"], ["widths", "method.arm"],
                  specs=specs)
    s = s.set_index(["widths", "method.arm"])
    alphas = (cross.sort_values("seed").groupby(["widths", "method.arm"])["alpha"]
              .agg(lambda a: ", ".join(f"{x:g}" for x in a)))
    shown = [a for a in ("naive", "random", "transport") if (cross["method.arm"] == a).any()]
    controls = [c for c in shown if c != "transport"]
    paired = {c: paired_table(study, df, arms, f"method.arm={c}")
              .set_index(["widths", "method.arm"]) for c in controls}
    out += ["", "| pair (source -> target) | "
            + " | ".join(f"{a}: {metric.label} | alpha" for a in shown)
            + "".join(f" | transport {metric.vs} {c}, paired" for c in controls)
            + f" | retention: {' / '.join(shown)} |",
            "|---|" + "---:|---|" * len(shown) + "---:|" * len(controls) + "---|"]
    for widths in sorted({w for w, _ in s.index}):
        if (widths, "transport") not in s.index:
            continue
        row = [f"{cell(s.loc[(widths, a)], metric.column, metric.fmt)} | {alphas[(widths, a)]}"
               if (widths, a) in s.index else " | " for a in shown]
        for c in controls:
            if (widths, "transport") in paired[c].index:
                ratio = paired[c].loc[(widths, "transport")]
                by_seed = " (by seed)" if "by seed" in ratio["target seeds x docs"] else ""
                row.append(three_decimals(ratio[metric.paired]) + by_seed)
            else:
                row.append("")
        retention = " / ".join(f"{s.loc[(widths, a), 'retention_ppl_mean']:,.0f}"
                               if (widths, a) in s.index else "-" for a in shown)
        out.append(f"| {pair_name(widths)} | " + " | ".join(row) + f" | {retention} |")

    # Gap recovery against both bounds, every carried arm
    def gap(ref: pd.DataFrame) -> pd.DataFrame:
        per_run = gap_recoveries(df, arms, zero, ref) if not ref.empty else pd.DataFrame()
        if "widths" in per_run:
            per_run = per_run.dropna(subset=["widths"])
        if per_run.empty:  # no carried run has its reference yet
            return pd.DataFrame()
        return summarize(per_run, [metric.gap], ["widths", "method.arm"],
                         specs=specs).set_index(["widths", "method.arm"])

    gaps = {m: gap(r) for m, r in ref_runs.items()}
    arm_names = sorted(carried["method.arm"].unique())
    out += ["", "| pair | " + " | ".join(f"{a} / full | {a} / projections only"
                                         for a in arm_names) + " |",
            "|---|" + "---:|" * (2 * len(arm_names))]
    for widths in sorted(carried["widths"].unique()):
        row = []
        for arm in arm_names:
            for m in ("full_ft", "projections_ft"):
                g = gaps[m]
                row.append(cell(g.loc[(widths, arm)], metric.gap, "{:.3f}")
                           if (widths, arm) in g.index else "")
        out.append(f"| {pair_name(widths)} | " + " | ".join(row) + " |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", nargs="?", default="outputs/theseus/widths", type=Path)
    parser.add_argument("--objective", choices=("lm", "task"),
                        help="default: the study's one objective (lm where it has both)")
    parser.add_argument("--references", choices=("tuned", "fixed"), default=None,
                        help="the gaps' references: at the rate chosen on validation, or at "
                             "the fixed rate 1e-3 (default: tuned once the study has any)")
    args = parser.parse_args()
    tuned = None if args.references is None else args.references == "tuned"
    print(tables(args.study, args.objective, tuned))


if __name__ == "__main__":
    main()
