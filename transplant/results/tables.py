"""The report's tables of arms: mean [95% t-interval] over seeds per arm, gap recovery,
controls' rank p-values, the frontier and the rates each run tried. Which runs form an arm is
said by their identity; what a metric is, by the study's metric specs."""

from __future__ import annotations

import functools
import math
import re

import pandas as pd

from transplant.metrics import Level, MetricSpec
from transplant.results import plots
from transplant.results.specs import DERIVED, MetricSpecs
from transplant.results.stats import (
    SEED,
    arm_columns,
    gap_recoveries,
    is_lower_better,
    numbers_first,
    rank_p_value,
    seed_mean,
    summarize,
)


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


def _in_order(table: pd.DataFrame, arms: list[str]) -> pd.DataFrame:
    """Rows in the arms' order, numbers by number (as stats.summarize orders them)."""
    keys = [a for a in arms if a in table]
    return table.sort_values(keys, key=numbers_first, ignore_index=True) if keys else table


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
