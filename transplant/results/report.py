"""`transplant-report outputs/<study>`: the study's tables, as CSV, Markdown and LaTeX.

- Arms (runs that differ only in their seed) as mean, standard deviation and 95% t-interval
  over seeds, with n.
- `--select method.optim.lr --by val_target_ppl`: per arm, the value with the best mean
  validation metric over the seeds every value has; only that value's test numbers are
  reported (and the rule is printed).
- `--reference method=zero_shot`: every other arm's perplexity relative to it, paired by
  seed and document, with a 95% bootstrap interval over documents and seeds.
- `--control method.graft.select=random_matched`: every other arm's headline metrics against
  the control's random draws that share its other factors, with a rank p-value.
- `--replicate method.graft.donor_seed`: a factor whose values are replicates like the seed
  (the donor's fine-tuning seed): runs that differ only in it and the seed are one arm.
- A frontier (target against retention perplexity for every arm and value) in two-domain
  studies, the commits behind the numbers (a warning when they are mixed), and every failed or
  incomplete run. report.csv holds every run and metric.
"""

from __future__ import annotations

import argparse
import functools
import math
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from transplant.atomic import write_text
from transplant.layout import RunLayout
from transplant.metrics import Level, MetricSpec
from transplant.provenance import run_code_differences
from transplant.results import plots
from transplant.results.grid import expected_runs, read_grid
from transplant.results.html import Section
from transplant.results.html import render as render_html
from transplant.results.plots import numeric_axes
from transplant.results.records import StudyRecords, read_study
from transplant.results.specs import DERIVED, MetricSpecs
from transplant.results.stats import (
    SEED,
    arm_columns,
    gap_recoveries,
    is_lower_better,
    load_docs,
    numbers_first,
    paired_accuracy_difference,
    paired_log_ppl_difference,
    paired_seed_difference,
    rank_p_value,
    seed_mean,
    select,
    summarize,
)


def protocol_note(df: pd.DataFrame) -> str:
    parts = []
    for role, split in (("target", "test"), ("retention", "test"), ("val_target", "validation")):
        cols = [f"{role}_window", f"{role}_stride", f"{role}_tokens"]
        if all(c in df.columns for c in cols):
            uniq = df[cols].dropna().drop_duplicates()
            for _, r in uniq.iterrows():
                docs = df.get(f"{role}_docs")
                of_docs = (f" of {int(docs.dropna().iloc[0])} documents"
                           if docs is not None and docs.notna().any() else "")
                parts.append(f"{role}: window {int(r.iloc[0])}, stride {int(r.iloc[1])}, "
                             f"{int(r.iloc[2])} predicted tokens{of_docs} ({split} split)")
    return "; ".join(parts)


def commits_note(df: pd.DataFrame) -> tuple[str, bool]:
    """('commit abc1234', mixed?): the code behind the numbers; dirty trees are named."""
    if "code_commit" not in df:
        return "code version not recorded (runs older than provenance)", False
    versions = df[["code_commit", "code_dirty"]].astype(str).drop_duplicates()
    names = sorted(f"{c[:10]}{' (dirty tree)' if d == 'True' else ''}"
                   for c, d in versions.itertuples(index=False))
    if len(names) == 1:
        return "commit " + names[0], False
    dirty = (versions["code_dirty"] == "True").any()
    return ("commits " + ", ".join(names)
            + _differences(sorted(set(versions["code_commit"])), dirty)), True


def _differences(commits: list[str], dirty: bool) -> str:
    """What the mixed commits change in the code that computed the runs' numbers."""
    if dirty:  # uncommitted code is in no commit: git cannot say what it changed
        return " (a dirty tree's code is in no commit: what differs is unknown)"
    changed = run_code_differences(commits)
    if changed is None:
        return " (this is not a git checkout holding them all: what differs is unknown)"
    if not changed:
        return (" (they differ in nothing a run executes: only the report, documentation, "
                "tests or run records)")
    shown = ", ".join(changed[:8]) + (f" and {len(changed) - 8} more" if len(changed) > 8 else "")
    return f" (the code a run executes differs between them in {shown})"


def compute_note(df: pd.DataFrame) -> str:
    """What the numbers cost: the finished runs' wall time summed (each run holds the whole
    machine; runs that shared it with other work count their slower time), and their CPU time
    (`cpu_s`: all threads, not counting pauses) where the runs record it."""
    if "wall_s" not in df or df["wall_s"].isna().all():
        return ""
    timed = df["wall_s"].dropna()
    cpu = df["cpu_s"].dropna() if "cpu_s" in df else pd.Series(dtype=float)
    of = "" if len(cpu) == len(timed) else f" over the {len(cpu)} runs that record it"
    cpu_note = f", {cpu.sum() / 3600:.2f} CPU hours (sum of cpu_s{of})" if len(cpu) else ""
    return (f" Compute: {len(timed)} runs, {timed.sum() / 3600:.2f} hours of run wall time "
            f"(sum of wall_s, median {timed.median():.0f} s a run){cpu_note}.")


def defaults_note(study_dir: Path, df: pd.DataFrame, arms: list[str]) -> str:
    """What a blank factor means: the runs that leave it unset ran at their config's value
    (`method.organ.trained: True`), read from each such run's resolved config.yaml; a factor
    their configs lack (a LoRA rank of full fine-tuning) stays unexplained, as it is absent."""
    notes = []
    for key in arms:
        values: set[str] = set()
        for run in df.loc[df[key].isna(), "run"]:
            path = RunLayout(study_dir / run).config
            node = yaml.safe_load(path.read_text()) if path.exists() else None
            for part in key.split("."):
                node = node.get(part) if isinstance(node, dict) else None
            if node is not None and not isinstance(node, dict | list):
                values.add(str(node))
        if values:
            notes.append(f"{key} {' or '.join(sorted(values, key=str))}")
    return f" A blank factor is the config's value: {'; '.join(notes)}." if notes else ""


def _cell(row: pd.Series, metric: str, spec: MetricSpec) -> str:
    mean = row.get(f"{metric}_mean")
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return ""
    # Bookkeeping (a run's time depends on what else the machine ran): the mean alone, as an
    # interval over seeds would read as a property of the method (two runs gave [-219, 1,498]).
    if not spec.interval:
        return _number(mean)
    chosen = row.get(f"{metric}_values")
    if isinstance(chosen, list) and len(set(chosen)) > 1:  # grid points: each seed's, not a mean
        return ", ".join(_number(v) for v in chosen)
    low, high = row.get(f"{metric}_ci_low"), row.get(f"{metric}_ci_high")
    if low is None or math.isnan(low) or low == high:  # one run, or the same at every seed
        return _number(mean)
    return f"{_number(mean)} [{_number(low)}, {_number(high)}]"


def _number(x: float) -> str:
    """4 significant digits; whole numbers of 1,000 or more in full (token and parameter
    counts), never in scientific notation."""
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.4g}"


def interval_table(df: pd.DataFrame, metrics: list[str], keys: list[str],
                   replicates: tuple[str, ...] = (), *, specs: MetricSpecs) -> pd.DataFrame:
    """One row per group of `keys`: each metric as "mean [95% t-interval]" (a value chosen
    from a grid, such as the learning rate: each seed's, in seed order, where they differ),
    then n, the seeds and the values of each replicate factor."""
    summary = summarize(df, metrics, keys, replicates, specs=specs)
    out = summary[keys].astype(object).where(summary[keys].notna(), "")
    for m in metrics:
        out[m] = summary.apply(lambda r, m=m: _cell(r, m, specs[m]), axis=1)
    out["n"] = summary["n"]
    for c in ("seeds", *replicates):
        out[c] = summary[c]
    return out


def summary_table(df: pd.DataFrame, arms: list[str], specs: MetricSpecs,
                  replicates: tuple[str, ...] = ()) -> pd.DataFrame:
    """The Arms table: every headline and summary metric the runs have."""
    metrics = [m for m in specs.at_least(Level.summary) if m in df]
    return interval_table(df, metrics, arms, replicates, specs=specs)


@functools.cache
def _override_value(key: str, text: str) -> object:
    """An override's value as Hydra parses it: `[3e-4,1e-3]` and the `[0.0003,0.001]` a
    multirun sweep records are one value. Text Hydra cannot parse stays text."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        return OverridesParser.create().parse_override(f"{key}={text}").value()
    except Exception:  # Hydra's OverrideParseException: not an override value
        return text


def runs_of(df: pd.DataFrame, arm: str, flag: str, allow_empty: bool = False) -> pd.DataFrame:
    """The runs of `key=value` (several joined by '&': `method=full_ft&method.optim.lrs=[...]`;
    an empty value: the runs that leave the key unset), values compared as Hydra parses
    them. None is an error unless `allow_empty` (a key no run has always is)."""
    runs = df
    for condition in arm.split("&"):
        key, _, value = condition.partition("=")
        if key not in df:
            raise ValueError(f"{flag} {arm!r}: runs have no column {key!r}")
        if value == "":
            runs = runs[runs[key].isna()]
            continue
        wanted = _override_value(key, value)
        same = [not pd.isna(v) and _override_value(key, str(v)) == wanted for v in runs[key]]
        runs = runs[same]
    if runs.empty and not allow_empty:
        raise ValueError(f"{flag} {arm!r}: no finished run has {arm.replace('&', ' and ')}")
    return runs


def gap_runs(df: pd.DataFrame, arms: list[str], target: str, donor: str) -> pd.DataFrame:
    """Every run's gap recovery between two reference arms (`--gap method=zero_shot
    method=full_ft`)."""
    return gap_recoveries(df, arms, runs_of(df, target, "--gap"), runs_of(df, donor, "--gap"))


def gap_table(per_run: pd.DataFrame, arms: list[str]) -> pd.DataFrame:
    """Gap recovery per arm (from `gap_runs`), with intervals over seeds."""
    if per_run.empty:
        return per_run
    metrics = [m for m in DERIVED if m in per_run]
    return interval_table(per_run, metrics, arms, specs=MetricSpecs())


GEOMETRIC = ("perplexities: the geometric mean (exp of the mean log perplexity) and the "
             "t-interval of the log, exponentiated")


def _sharing(runs: pd.DataFrame, row: dict, shared: list[str]) -> pd.DataFrame:
    """The runs that agree with an arm (`row`) on every factor in `shared`."""
    for a in shared:
        runs = runs[runs[a].astype(str) == str(row[a])]
    return runs


def control_table(df: pd.DataFrame, arms: list[str], control: str, specs: MetricSpecs,
                  replicates: tuple[str, ...] = ()) -> pd.DataFrame:
    """Every arm against the random draws of a control arm that share its other factors (the
    parameter-matched random graft of the same K and alpha): the arm's mean, the draws' mean
    and range, and the one-sided rank p-value of the arm among the draws (each seed of the
    control is one draw). Where the arm has replicates (`replicates`: the donor's seed) the
    draws lack, only its runs on the draws' replicates count: like is ranked against like.
    The metrics ranked are the study's headline metrics."""
    ctl = runs_of(df, control, "--control")
    key = control.partition("=")[0]
    shared = [a for a in arms if a != key and a in ctl and ctl[a].notna().any()]
    metrics = [m for m in specs.at_least(Level.headline) if m in df and df[m].notna().any()]
    rows = []
    for name, group in df.groupby(arms, dropna=False, sort=True):
        if group["run"].isin(ctl["run"]).all():
            continue
        row = dict(zip(arms, name if isinstance(name, tuple) else (name,), strict=True))
        draws = _sharing(ctl, row, shared)
        for r in (r for r in replicates if r in df):
            group = group[group[r].astype(str).isin(draws[r].astype(str))]
        if draws.empty or group.empty:
            continue
        for m in metrics:
            observed, values = seed_mean(group[m], specs[m]), draws[m].dropna()
            p = rank_p_value(observed, list(values),
                             higher_is_better=not is_lower_better(specs[m]))
            row[m] = _number(observed)
            row[f"{m} control"] = (f"{_number(seed_mean(values, specs[m]))} "
                                   f"[{_number(values.min())}, "
                                   f"{_number(values.max())}]")
            row[f"{m} p"] = f"{p:.3f}"
        row["draws"] = len(draws)
        rows.append(row)
    return _in_order(pd.DataFrame(rows), arms)


def paired_table(study_dir: Path, df: pd.DataFrame, arms: list[str],
                 reference: str, replicates: tuple[str, ...] = ()) -> pd.DataFrame:
    """Every arm against the reference arm, paired by seed and document and bootstrapped: the
    perplexity ratio, or the accuracy difference for runs scored by example. In a study of
    several factors the reference run is the one that shares the arm's other factors (the
    scratch run of the same module and host pair), and where runs have replicates
    (`replicates`: the donor's seed) the one of the same replicate too: a graft on donor 1 is
    paired with the reference graft on donor 1."""
    ref = runs_of(df, reference, "--reference")
    key = reference.partition("=")[0]
    shared = [a for a in arms if a != key and a in ref and ref[a].notna().any()]
    by = ["seed", *(r for r in replicates if r in df)]
    rows = []
    for name, group in df.groupby(arms, dropna=False, sort=True):
        if group["run"].isin(ref["run"]).all():
            continue
        row = dict(zip(arms, name if isinstance(name, tuple) else (name,), strict=True))
        pairs = _pairs(group, _sharing(ref, row, shared), by)
        cells = {k: v for role in ("target", "retention") if pairs
                 for k, v in _paired_cells(study_dir, df.set_index("run"), pairs, role).items()}
        if cells:  # an arm with no reference run of its own factors is not compared
            rows.append({**row, **cells})
    # a factor an arm does not have: blank, as above
    return _in_order(pd.DataFrame(rows), arms).fillna("")


def _in_order(table: pd.DataFrame, arms: list[str]) -> pd.DataFrame:
    """Rows in the arms' order, numbers by number (as stats.summarize orders them)."""
    keys = [a for a in arms if a in table]
    return table.sort_values(keys, key=numbers_first, ignore_index=True) if keys else table


def _paired_cells(study_dir: Path, runs: pd.DataFrame, pairs: list[tuple[str, str]],
                  role: str) -> dict[str, str]:
    """One role's paired difference: by seed and document where every run of `pairs` kept
    its per-document scores, else by seed alone from the records' metrics (accuracy and mean
    NLL, whichever the runs have)."""
    a = [load_docs(study_dir, x, role) for x, _ in pairs]
    b = [load_docs(study_dir, y, role) for _, y in pairs]
    if all(d is not None for d in a + b):
        accuracy = "predicted" in a[0]
        d = (paired_accuracy_difference if accuracy else paired_log_ppl_difference)(a, b)
        return _paired_cell(role, accuracy, d, f"{d['seeds']} x {d['docs']}")
    cells = {}
    for accuracy, kind in ((True, "acc"), (False, "nll")):
        values = _seed_metric(runs, pairs, role, kind)
        if values is not None:
            d = paired_seed_difference(*values)
            cells |= _paired_cell(role, accuracy, d, f"{d['seeds']} x (by seed)")
    return cells


def _paired_cell(role: str, accuracy: bool, d: dict[str, float], paired: str
                 ) -> dict[str, str]:
    if accuracy:
        cell = f"{d['diff']:+.4f} [{d['ci_low']:+.4f}, {d['ci_high']:+.4f}]"
        return {f"{role} acc difference": cell, f"{role} seeds x docs": paired}
    cell = (f"{math.exp(d['diff']):.4f} [{math.exp(d['ci_low']):.4f}, "
            f"{math.exp(d['ci_high']):.4f}]")
    return {f"{role} ppl ratio": cell, f"{role} seeds x docs": paired}


def _seed_metric(runs: pd.DataFrame, pairs: list[tuple[str, str]], role: str, kind: str
                 ) -> tuple[list[float], list[float]] | None:
    """One number per run of `pairs` from the records' metrics: the role's accuracy or mean NLL
    (the log of its perplexity where a run records only that); None where some run lacks it."""
    names = {x for pair in pairs for x in pair}
    if kind == "acc":
        acc = f"{role}_acc"
        if acc not in runs or not runs.loc[list(names), acc].notna().all():
            return None
        value = runs[acc]
    else:
        nll, ppl = f"{role}_nll", f"{role}_ppl"
        if nll in runs and runs.loc[list(names), nll].notna().all():
            value = runs[nll]
        elif ppl in runs and runs.loc[list(names), ppl].notna().all():
            value = np.log(runs[ppl].astype(float))
        else:
            return None
    return [value[x] for x, _ in pairs], [value[y] for _, y in pairs]


def _pairs(group: pd.DataFrame, ref: pd.DataFrame, by: list[str]) -> list[tuple[str, str]]:
    """(run, reference run) by seed and replicates (`by`); a reference run once
    (deterministic) pairs with all."""
    if len(ref) == 1:
        return [(r, ref["run"].iloc[0]) for r in group["run"]]

    def keys(runs: pd.DataFrame) -> list[tuple[str, ...]]:
        # the seed as a number ("01" is seed 1); a replicate a run leaves unset is "-"
        return [(str(int(row["seed"])), *("-" if pd.isna(row[k]) else str(row[k])
                                          for k in by[1:]))
                for _, row in runs.iterrows()]

    ref_keys = keys(ref)
    if len(set(ref_keys)) < len(ref_keys):
        raise ValueError(f"--reference: {len(ref)} reference runs share {' and '.join(by)}; "
                         "they differ in a factor the runs do not name (a replicate factor: "
                         "--replicate)")
    by_key = dict(zip(ref_keys, ref["run"], strict=True))
    return [(r, by_key[k]) for r, k in zip(group["run"], keys(group), strict=True)
            if k in by_key]


def frontier_table(df: pd.DataFrame, identity: tuple[str, ...], param: str | None,
                   specs: MetricSpecs) -> pd.DataFrame:
    """Target test perplexity (or a task's accuracy, plots.frontier_target) and retention test
    perplexity for every arm and value of `param` (descriptive: nothing is chosen from it)."""
    arms = arm_columns(df, identity, exclude=(param,) if param else ())
    keys = [*arms, param] if param and param in df else arms
    return interval_table(df, [plots.frontier_target(df), "retention_ppl"], keys, specs=specs)


# A run that chose its own rate (`method.optim.lrs`) keeps the validation curve it chose on.
_TRIED = re.compile(r"^(?P<metric>.+)_lr_(?P<rate>[0-9.]+(e[+-]?[0-9]+)?)$")


def rates_tried_table(df: pd.DataFrame, arms: list[str], specs: MetricSpecs) -> pd.DataFrame:
    """Per arm, each rate its runs tried on their own grid (`method.optim.lrs`) and the
    validation metric they chose on there, mean [95% t-interval] over seeds: the curve behind
    each run's choice (the Arms table has only the chosen point)."""
    tables = []
    for metric in dict.fromkeys(m["metric"] for c in df.columns if (m := _TRIED.match(c))):
        tried = [c for c in df.columns if (m := _TRIED.match(c)) and m["metric"] == metric]
        long = df[[*arms, SEED, *tried]].melt(id_vars=[*arms, SEED], var_name="rate",
                       value_name=metric).dropna(subset=[metric])
        long["rate"] = long["rate"].map(lambda c: float(_TRIED.match(c)["rate"]))
        table = interval_table(long, [metric], [*arms, "rate"], specs=specs)
        tables.append(table.rename(columns={metric: "validation"})
                      .assign(**{"chosen on": metric}))
    if not tables:
        return pd.DataFrame()
    out = pd.concat(tables, ignore_index=True)
    out["rate"] = out["rate"].map(lambda r: f"{r:.3g}")
    return out[["chosen on", *arms, "rate", "validation", "n", "seeds"]]


def build_sections(study_dir: Path, records: StudyRecords, select_param: str | None,
                   by: str | None, reference: str | None, plots_dir: Path | None = None,
                   expect: list[str] | None = None, gap: list[str] | None = None,
                   control: str | None = None, replicates: tuple[str, ...] = ()
                   ) -> tuple[list[Section], pd.DataFrame | None]:
    """The report's sections (text, tables, and with `plots_dir` figures written there as PNG
    and PDF), and the arms' summary table (for LaTeX). A factor in `replicates` names no arm:
    its values are replicates, as the seed's are."""
    df, specs = records.done, records.specs
    identity = tuple(k for k in records.identity if k not in replicates)
    sections: list[Section] = []
    summary = None
    if not df.empty:
        code, mixed = commits_note(df)
        if mixed:
            print(f"transplant-report: warning: one table mixes {code}", file=sys.stderr)
        sections.append(Section("Code", text=(f"Warning: this table mixes {code}." if mixed
                                              else f"All numbers from {code}.")
                                + compute_note(df)))
        chosen = df
        if select_param:
            selection = select(df, select_param, by or "val_target_ppl",
                               arm_columns(df, identity, exclude=(select_param,)), specs=specs)
            chosen = selection.runs
            sections.append(Section("Selection", selection.chosen,
                                    text=f"{selection.rule()}."))
        arms = arm_columns(chosen, identity, exclude=(select_param,) if select_param else ())
        summary = summary_table(chosen, arms, specs, replicates)
        over = " and ".join(("seeds", *replicates))
        costs = [m for m in summary.columns if m in specs and not specs[m].interval]
        alone = f" ({', '.join(costs)}: the mean alone)" if costs else ""
        sections.append(Section("Arms", summary, text=f"Mean [95% t-interval] over {over}, "
                                                      f"n runs{alone}; {GEOMETRIC}."
                                                      + defaults_note(study_dir, chosen, arms)))
        tried = rates_tried_table(chosen, arms, specs)
        if not tried.empty:
            sections.append(Section("Rates tried", tried,
                                    text="Each rate of the runs' own grid and the validation "
                                         "score it reached there, mean [95% t-interval] over "
                                         f"seeds; {GEOMETRIC}. Each run kept its best."))
        gapped = gap_runs(chosen, arms, *gap) if gap else None
        if gap:
            sections.append(Section("Gap recovery", gap_table(gapped, arms),
                                    text=f"Between {gap[0]} (0) and {gap[1]} (1): on log "
                                         "perplexity, and on accuracy with TIR where runs have "
                                         "it; mean [95% t-interval] over seeds."))
        if reference:
            # a random control's draws are ranked (below), not paired: its seed is a draw
            drawn = (runs_of(chosen, control, "--control", allow_empty=True)["run"]
                     if control else [])
            paired = paired_table(study_dir, chosen[~chosen["run"].isin(drawn)], arms,
                                  reference, replicates)
            if not paired.empty:
                sections.append(Section(
                    f"Relative to {reference}", paired,
                    text=f"Perplexity ratio to (or accuracy minus) the reference arm, paired "
                         f"by {over} and document; 95% bootstrap interval over documents and "
                         f"{over}. Where the records keep no per-document scores (`x (by "
                         f"seed)`), paired by {over} alone: 95% t-interval over them."))
        if control and runs_of(chosen, control, "--control", allow_empty=True).empty:
            # a study in progress: its tables so far, and what the comparison waits for
            sections.append(Section(f"Against {control}",
                                    text=f"No run of {control} has finished yet."))
        elif control:
            controlled = control_table(chosen, arms, control, specs, replicates)
            if not controlled.empty:
                sections.append(Section(
                    f"Against {control}", controlled,
                    text="Each arm's mean against the control's draws sharing its other "
                         "factors: their mean [min, max] and the one-sided rank p-value "
                         "(1 + draws at least as good) / (1 + draws)."))
        two_domains = "retention_ppl" in df and df["retention_ppl"].notna().any() \
            and plots.frontier_target(df) is not None
        if two_domains:
            sections.append(Section("Frontier", frontier_table(df, identity, select_param, specs),
                                    text="Every arm and value (descriptive: nothing is "
                                         "chosen from test numbers). Test perplexity (or "
                                         "accuracy), mean [95% t-interval]; "
                                         f"{GEOMETRIC}."))
        if plots_dir is not None:
            sections += _figures(study_dir, df, specs, identity, chosen, arms, select_param,
                                 two_domains, plots_dir, gap, gapped)
        note = protocol_note(df)
        if note:
            sections.append(Section("Protocol", text=f"Perplexity: {note}."))
    for title, items in (("Failed", records.failed), ("Incomplete", records.incomplete)):
        if items:
            sections.append(Section(title, pd.DataFrame(items, columns=["run", "why"])))
    if expect:
        seen = {*df.get("run", []), *(r for r, _ in records.failed + records.incomplete)}
        missing = [r for r in expected_runs(expect) if r not in seen]
        if missing:
            sections.append(Section("Never started", pd.DataFrame({"run": missing}),
                                    text=f"{len(missing)} point(s) of the expected grid have "
                                         "no run record: relaunch the sweep to run them."))
    return sections, summary


def _figures(study_dir: Path, df: pd.DataFrame, specs: MetricSpecs, identity: tuple[str, ...],
             chosen: pd.DataFrame, arms: list[str], select_param: str | None,
             two_domains: bool, out: Path, gap: list[str] | None = None,
             gapped: pd.DataFrame | None = None) -> list[Section]:
    figs = []
    metric = specs.headline(df.columns)
    if metric is None:
        return figs
    # the organ in its training wrapper too, where the runs score it (the paper's number)
    curves = [metric, *(m for m in ("wrapper_target_ppl",) if m in df and df[m].notna().any())]
    for axis in numeric_axes(df, arm_columns(df, identity)):
        others = arm_columns(df, identity, exclude=(axis,))
        for m in curves:
            fig = plots.metric_vs_axis(df.dropna(subset=[m]), axis, m, others, specs=specs)
            name = f"{m}_vs_{axis.replace('.', '_')}"
            figs.append(Section(f"{specs.label(m)} against {specs.label(axis)}",
                                png=plots.save(fig, out / name),
                                text=f"figures/{name}.png/.pdf"))
    figs += _bars(chosen, metric, arms, out, "the reported runs", specs)
    if gap:  # the headline of a study with references: each arm's share of the gap
        for m in ("gap_recovery_ppl", "gap_recovery_acc"):
            if m in gapped:
                figs += _bars(gapped.dropna(subset=[m]), m, arms, out,
                              f"per run, between {gap[0]} (0) and {gap[1]} (1)", specs)
    if two_domains:
        keys = [*arm_columns(df, identity, exclude=(select_param,) if select_param else ()),
                *([select_param] if select_param and select_param in df else [])]
        fig = plots.frontier(df, keys, along=select_param,
                             chosen=chosen if select_param else None, specs=specs)
        figs.append(Section("Frontier plot", png=plots.save(fig, out / "frontier"),
                            text="figures/frontier.png/.pdf"))
    fig = plots.loss_curves(study_dir, chosen, arms)
    if fig is not None:
        figs.append(Section("Training loss", png=plots.save(fig, out / "loss"),
                            text="figures/loss.png/.pdf (the reported runs)"))
    return figs


def _bars(runs: pd.DataFrame, metric: str, arms: list[str], out: Path, what: str,
          specs: MetricSpecs) -> list[Section]:
    """`metric` in bars by the arms a study compares (its method's condition or arm: ported /
    scratch / sampled, transport / naive / random) side by side, else by its last varying
    categorical factor, grouped by every other factor that varies (numbers too: a bar never
    pools graft strengths 0.25 and 1); none where no categorical factor varies."""
    categorical = plots.categorical_axes(runs, arms)
    if not categorical:
        return []
    compared = [a for a in ("method.condition", "method.arm") if a in categorical]
    bars = compared[0] if compared else categorical[-1]
    groups = [a for a in arms if a != bars
              and (a in categorical or a in plots.numeric_axes(runs, arms))]
    name = f"{metric}_bars"
    return [Section(f"{specs.label(metric)} by {specs.label(bars)}",
                    png=plots.save(plots.grouped_bars(runs, metric, groups, bars, specs=specs),
                                   out / name),
                    text=f"figures/{name}.png/.pdf ({what})")]


def to_markdown(title: str, sections: list[Section]) -> str:
    lines = [f"# {title}", ""]
    for s in sections:
        if s.png is not None:
            continue  # figures: in the HTML page and as files
        lines += [f"## {s.title}", ""]
        if s.text:
            lines += [s.text, ""]
        if s.table is not None and not s.table.empty:
            lines += [s.table.to_markdown(index=False, floatfmt=".4g"), ""]
    return "\n".join(lines)


def write_report(study_dir: str | Path, out_dir: str | Path | None = None,
                 select_param: str | None = None, by: str | None = None,
                 reference: str | None = None, html: bool = False,
                 expect: list[str] | None = None, gap: list[str] | None = None,
                 control: str | None = None, replicates: tuple[str, ...] = ()) -> str:
    """Write report.{csv,md,tex} and summary.csv (with `html`: report.html and figures/*.png,
    *.pdf) and return the Markdown text."""
    study_dir = Path(study_dir)
    out_dir = Path(out_dir) if out_dir else study_dir / "_report"
    records = read_study(study_dir)
    title = (f"{study_dir.name}: {len(records.done)} done, {len(records.failed)} failed, "
             f"{len(records.incomplete)} incomplete")
    sections, summary = build_sections(study_dir, records, select_param, by, reference,
                                       out_dir / "figures" if html else None, expect, gap,
                                       control, replicates)
    markdown = to_markdown(title, sections)
    write_text(out_dir / "report.md", markdown)
    write_text(out_dir / "report.csv", records.done.to_csv(index=False))
    latex = "" if summary is None else _booktabs(summary)
    write_text(out_dir / "report.tex", latex)
    if summary is not None:
        write_text(out_dir / "summary.csv", summary.to_csv(index=False))
    if html:
        write_text(out_dir / "report.html", render_html(title, sections))
    return markdown


def _booktabs(table: pd.DataFrame) -> str:
    """A LaTeX table that compiles as it is with \\usepackage{booktabs}."""
    return table.to_latex(index=False, escape=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study_dir", help="a study directory, e.g. outputs/demo")
    parser.add_argument("--out", help="where to write the tables (default <study_dir>/_report)")
    parser.add_argument("--select", metavar="PARAM",
                        help="a swept override chosen per arm on validation, e.g. "
                             "method.optim.lr")
    parser.add_argument("--by", default="val_target_ppl",
                        help="the validation metric for --select (the better of its direction "
                             "wins: lowest perplexity, highest accuracy)")
    parser.add_argument("--reference", metavar="KEY=VALUE",
                        help="the arm others are compared with, e.g. method=zero_shot")
    parser.add_argument("--expect", action="append", metavar="OVERRIDES",
                        help="the overrides of a launch, e.g. 'method=lora seed=0,1,2' "
                             "(repeatable): points of it without a run record are listed")
    parser.add_argument("--grid", metavar="FILE",
                        help="the study's grid file (one launch per line, as experiments/"
                             "sweep.sh runs it): its points without a run record are listed")
    parser.add_argument("--gap", nargs=2, metavar=("TARGET", "DONOR"),
                        help="gap recovery of every arm between two reference arms, e.g. "
                             "--gap method=zero_shot method=full_ft (several factors joined "
                             "by '&'; 'key=' for runs that leave key unset)")
    parser.add_argument("--control", metavar="KEY=VALUE",
                        help="a random control whose seeds are draws, e.g. method.graft."
                             "select=random_matched: every arm gets a rank p-value among them")
    parser.add_argument("--replicate", action="append", default=[], metavar="KEY",
                        help="a factor whose values are replicates like the seed (repeatable), "
                             "e.g. method.graft.donor_seed: runs differing only in it are one "
                             "arm")
    parser.add_argument("--html", action="store_true",
                        help="also write report.html (self-contained) and figures/ (PNG, PDF)")
    args = parser.parse_args(argv)
    try:
        expect = [*(args.expect or []), *(read_grid(args.grid) if args.grid else [])]
        print(write_report(args.study_dir, args.out, args.select, args.by, args.reference,
                           args.html, expect or None, args.gap, args.control,
                           tuple(args.replicate)))
    except (FileNotFoundError, ValueError) as e:
        print(f"transplant-report: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
