"""Statistics over run records: seeds aggregated with t-intervals (perplexities on their log),
validation-only selection, and paired differences bootstrapped over documents and seeds.
pandas/numpy/scipy, no torch. What a metric is (its kind, its direction) comes from the study's
metric specs (results/specs.py), never from its name.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from transplant.layout import RunLayout
from transplant.metrics import Direction, Kind, MetricSpec
from transplant.results.specs import MetricSpecs

SEED = "seed"


def arm_columns(df: pd.DataFrame, identity: Iterable[str], exclude: tuple[str, ...] = ()
                ) -> list[str]:
    """The columns that name an arm: the runs' identity (their override keys: `method`,
    `peft`, `method.optim.lr`, ...) where it varies, except the seed and `exclude`."""
    keys = [c for c in identity if c in df and c not in (SEED, *exclude)
            and df[c].nunique(dropna=False) > 1]
    return keys or ["method"]


def mean_interval(values: pd.Series, confidence: float = 0.95, log: bool = False
                  ) -> dict[str, float]:
    """Mean, sample standard deviation, t-interval of the mean, and n (NaN interval if n=1).

    `log`: on the values' logarithm, mapped back: the geometric mean, the interval
    exponentiated, and the standard deviation as a factor (exp of the log's). For perplexity
    this is the mean NLL over seeds, where the interval stays positive: seeds that spread
    over orders of magnitude (a destroyed model) would give an arithmetic mean ruled by one
    seed and an interval below zero.
    """
    x = values.dropna().astype(float).to_numpy()
    if log:
        if (x <= 0).any():
            raise ValueError(f"a geometric mean needs positive values; got {sorted(x)[:3]}")
        s = mean_interval(pd.Series(np.log(x)), confidence)
        s = {k: (v if k == "n" else float(np.exp(v))) for k, v in s.items()}
        if len(x) and (x == x[0]).all():  # one run, or the same at every seed: exactly it
            s |= {k: float(x[0]) for k in ("mean", "ci_low", "ci_high") if not np.isnan(s[k])}
        return s
    n = len(x)
    same = n > 0 and bool((x == x[0]).all())  # exactly, not up to the mean's rounding
    mean = float(x[0]) if same else float(x.mean()) if n else float("nan")
    std = 0.0 if same and n > 1 else float(x.std(ddof=1)) if n > 1 else float("nan")
    if n > 1 and std > 0:
        low, high = stats.t.interval(confidence, n - 1, loc=mean, scale=std / np.sqrt(n))
    elif n > 1:
        low = high = mean
    else:
        low = high = float("nan")
    return {"mean": mean, "std": std, "ci_low": float(low), "ci_high": float(high), "n": n}


def seed_mean(values: pd.Series, spec: MetricSpec) -> float:
    """The mean over seeds `summarize` reports for a metric (geometric for a perplexity)."""
    return mean_interval(values, log=spec.geometric)["mean"]


def summarize(df: pd.DataFrame, metrics: list[str], arms: list[str],
              replicates: tuple[str, ...] = (), *, specs: MetricSpecs) -> pd.DataFrame:
    """One row per arm: `<metric>_mean/_std/_ci_low/_ci_high`, `n` (runs over seeds) and the
    seeds, one per run; perplexities on their log (`mean_interval(log=True)`). Where the arm's
    runs also replicate over `replicates` (the donor's seed), the seeds and each replicate
    factor list their distinct values ("-": not overridden), so an arm of seed 0 on three
    donors reads seeds 0 and donors -,1,2. A value each run chose on validation from a grid
    (kind `choice`: a rate, an alpha), whose mean says little, also has `<metric>_values`, one
    per run in seed order."""
    rows = []
    for key, group in df.groupby(arms, dropna=False, sort=True):
        row = dict(zip(arms, key if isinstance(key, tuple) else (key,), strict=True))
        for m in metrics:
            if m in group:
                s = mean_interval(group[m], log=specs[m].geometric)
                row.update({f"{m}_{k}": v for k, v in s.items() if k != "n"})
                row["n"] = s["n"]
                if specs[m].kind == Kind.choice:
                    by_seed = group.assign(_s=group[SEED].astype(int)).sort_values("_s")
                    row[f"{m}_values"] = by_seed[m].dropna().astype(float).tolist()
        seeds = sorted(group[SEED].astype(int))
        row["seeds"] = ",".join(str(s) for s in (sorted(set(seeds)) if replicates else seeds))
        for r in replicates:
            row[r] = ",".join(_distinct(group[r]) if r in group else ["-"])
        rows.append(row)
    return pd.DataFrame(rows).sort_values(arms, key=numbers_first, ignore_index=True) \
        if rows else pd.DataFrame(rows)


def numbers_first(values: pd.Series) -> pd.Series:
    """Sort key: a factor of numbers in numeric order (position 5 before 10, K = 8 before 128),
    the values that are not (K = null: all modules; unset) after them; a factor of names by
    name."""
    numbers = pd.to_numeric(values, errors="coerce")
    return numbers if numbers.notna().any() else values


def _distinct(values: pd.Series) -> list[str]:
    """Sorted distinct values as strings, numbers in numeric order; "-" (not overridden) first."""
    present = sorted({str(v) for v in values.dropna()},
                     key=lambda v: (0, float(v), v) if _is_number(v) else (1, 0.0, v))
    return (["-"] if values.isna().any() else []) + present


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Selection:
    param: str
    by: str
    lower_is_better: bool
    geometric: bool  # the first metric of `by` is averaged on its log (a perplexity)
    chosen: pd.DataFrame  # per arm: the chosen value and its mean validation metric
    runs: pd.DataFrame  # the chosen configuration's runs (all seeds)

    def rule(self) -> str:
        if "," in self.by:
            how = (f"the best mean over the seeds every value has (seeds) of the first of "
                   f"{self.by.replace(',', ', ')} "
                   "it has (lowest perplexity, highest accuracy or F1)")
        else:
            how = (f"the {'lowest' if self.lower_is_better else 'highest'} "
                   f"{'geometric ' if self.geometric else ''}mean {self.by} over the "
                   "seeds every value has (seeds)")
        edges = int((self.chosen.get("edge", pd.Series(dtype=str)) == "yes").sum())
        warning = (f". {edges} of {len(self.chosen)} arms chose an end of their grid (edge: "
                   "yes): the best value may lie beyond it" if edges else "")
        return (f"{self.param} chosen per arm by {how} (validation split); test metrics are of "
                f"the chosen value only{warning}")


def is_lower_better(spec: MetricSpec) -> bool:
    """Whether lower wins; a metric with no direction (a count, a cost) is an error."""
    if spec.direction == Direction.none:
        raise ValueError(f"{spec.name} ({spec.kind.value}) is not better or worse when higher: "
                         "expected a metric with a direction (a perplexity, an accuracy...)")
    return spec.direction == Direction.lower


def select(df: pd.DataFrame, param: str, by: str, arms: list[str], *, specs: MetricSpecs,
           lower_is_better: bool | None = None) -> Selection:
    """Per arm (the runs that agree on every column of `arms`), the value of `param` whose runs
    have the best mean validation metric `by`.

    `by` may list several metrics, comma-separated: each arm uses the first its runs have (a
    study of perplexity and accuracy arms: `val_target_ppl,val_target_acc`). Arms without the
    parameter (zero-shot) are kept as they are. Test columns are never read. The metric's spec
    says whether lower or higher wins (unless `lower_is_better` says).
    """
    metrics = by.split(",")
    for m in metrics:
        if not m.startswith("val_"):
            raise ValueError(f"--by {m!r}: selection must use a validation metric (val_*), "
                             "never a test metric")
    if not any(m in df for m in metrics):
        raise ValueError(f"--by {by!r}: no run has this metric; runs have "
                         f"{', '.join(c for c in df.columns if c.startswith('val_'))}")
    chosen, keep = [], []
    for key, group in df.groupby(arms, dropna=False, sort=True):
        if param not in group or group[param].isna().all():  # an arm without it: zero-shot
            keep.append(group)
            continue
        row = dict(zip(arms, key if isinstance(key, tuple) else (key,), strict=True))
        metric = next((m for m in metrics if m in group and group[m].notna().any()), None)
        if metric is None:
            raise ValueError(f"--by {by!r}: the runs of arm {row} have none of these metrics")
        lower = is_lower_better(specs[metric]) if lower_is_better is None else lower_is_better
        compared = _shared_seeds(group[group[metric].notna()], param)
        values = _in_grid_order(compared.groupby(param)[metric].agg(seed_mean,
                                                                    spec=specs[metric]))
        best = values.idxmin() if lower else values.idxmax()
        chosen.append({**row, param: best, f"mean {metric}": values[best],
                       "grid": ",".join(str(v) for v in values.index),
                       "edge": _on_edge(values.index, best),
                       **({"seeds": _seed_list(compared)} if SEED in compared else {})})
        keep.append(group[group[param] == best])
    return Selection(param, by, lower_is_better if lower_is_better is not None
                     else is_lower_better(specs[metrics[0]]), specs[metrics[0]].geometric,
                     pd.DataFrame(chosen), pd.concat(keep) if keep else df.iloc[:0])


def _shared_seeds(group: pd.DataFrame, param: str) -> pd.DataFrame:
    """The runs of the seeds every value of `param` has. A grid still running has more seeds
    at some values than at others, and a mean over different seeds is not a comparison; when
    no seed is shared yet, all runs."""
    if SEED not in group:
        return group
    shared = set.intersection(*(set(s) for _, s in group.groupby(param)[SEED]))
    return group[group[SEED].isin(shared)] if shared else group


def _seed_list(runs: pd.DataFrame) -> str:
    seeds = pd.Series(sorted(set(runs[SEED]), key=str))
    numeric = pd.to_numeric(seeds, errors="coerce")
    return ",".join(str(s) for s in (seeds[numeric.argsort()] if numeric.notna().all() else seeds))


def _in_grid_order(values: pd.Series) -> pd.Series:
    """Numbers in numeric order (run identities hold them as text: "10" after "2")."""
    numeric = pd.to_numeric(pd.Series(values.index), errors="coerce")
    return values.iloc[numeric.argsort().to_numpy()] if numeric.notna().all() else values


def _on_edge(grid: pd.Index, best: object) -> str:
    """"yes" when the choice is the smallest or largest of a numeric grid of three or more
    values (the best may lie beyond it), "no" inside it, "" for a grid without an order."""
    if len(grid) < 3 or pd.to_numeric(pd.Series(grid), errors="coerce").isna().any():
        return ""
    return "yes" if best in (grid[0], grid[-1]) else "no"


def load_docs(study_dir: Path, run: str, role: str) -> dict | None:
    """A run's per-document scores: docs/<role>.json, or gzipped as `transplant-archive`
    keeps them."""
    layout = RunLayout(study_dir / run)
    path, packed = layout.doc(role), layout.packed_doc(role)
    if path.exists():
        return json.loads(path.read_text())
    return json.loads(gzip.decompress(packed.read_bytes())) if packed.exists() else None


def paired_log_ppl_difference(a: list[dict], b: list[dict], resamples: int = 2000,
                              seed: int = 0) -> dict[str, float]:
    """Arm a minus arm b in log perplexity, paired by seed (a[i] with b[i]) and by document.

    Each element holds one run's per-document `nll` and `tokens` on the same documents. The
    interval is a percentile bootstrap that resamples seeds, then documents, with the same
    draws for both arms, so what the arms share (which documents are hard) cancels.
    """
    if len(a) != len(b) or not a:
        raise ValueError("paired runs must come in equal, non-zero numbers")
    for x, y in zip(a, b, strict=True):
        if x["doc_ids"] != y["doc_ids"]:
            raise ValueError("paired runs must be scored on the same documents")
    na = np.array([r["nll"] for r in a])  # seeds x documents
    nb = np.array([r["nll"] for r in b])
    tok = np.array([r["tokens"] for r in a], dtype=float)

    def diff(seeds: np.ndarray, docs: np.ndarray) -> float:
        t = tok[seeds][:, docs].sum()
        return (na[seeds][:, docs].sum() - nb[seeds][:, docs].sum()) / t

    return _bootstrap(diff, len(a), na.shape[1], resamples, seed)


def _bootstrap(diff, n_seeds: int, n_docs: int, resamples: int, seed: int) -> dict[str, float]:
    """`diff(seeds, docs)` on all of them, and its 95% percentile interval over resampled
    seeds, then documents (the same draws for both arms, inside `diff`)."""
    all_seeds, all_docs = np.arange(n_seeds), np.arange(n_docs)
    rng = np.random.default_rng(seed)
    draws = np.array([diff(rng.choice(all_seeds, n_seeds), rng.choice(all_docs, n_docs))
                      for _ in range(resamples)])
    low, high = np.percentile(draws, [2.5, 97.5])
    return {"diff": diff(all_seeds, all_docs), "ci_low": float(low), "ci_high": float(high),
            "seeds": n_seeds, "docs": n_docs}


def paired_accuracy_difference(a: list[dict], b: list[dict], resamples: int = 2000,
                               seed: int = 0) -> dict[str, float]:
    """Arm a minus arm b in accuracy, paired by seed (a[i] with b[i]) and by example; each
    element holds one run's per-example `predicted` and `labels` on the same examples. The
    same percentile bootstrap as for perplexity: seeds, then examples, the same draws for both."""
    if len(a) != len(b) or not a:
        raise ValueError("paired runs must come in equal, non-zero numbers")
    for x, y in zip(a, b, strict=True):
        if x["doc_ids"] != y["doc_ids"]:
            raise ValueError("paired runs must be scored on the same examples")
    ca = np.array([[p == t for p, t in zip(r["predicted"], r["labels"], strict=True)]
                   for r in a], dtype=float)
    cb = np.array([[p == t for p, t in zip(r["predicted"], r["labels"], strict=True)]
                   for r in b], dtype=float)

    def diff(seeds: np.ndarray, docs: np.ndarray) -> float:
        return float(ca[seeds][:, docs].mean() - cb[seeds][:, docs].mean())

    return _bootstrap(diff, len(a), ca.shape[1], resamples, seed)


def paired_seed_difference(a: list[float], b: list[float]) -> dict[str, float]:
    """Arm a minus arm b, paired by seed only (a[i] with b[i]: one number per run, e.g. mean
    NLL or accuracy): the mean difference and its t-interval over seeds. For records that keep
    no per-document scores; documents cannot be resampled then, so the interval is over seeds
    alone (and NaN with one)."""
    if len(a) != len(b) or not a:
        raise ValueError("paired runs must come in equal, non-zero numbers")
    d = mean_interval(pd.Series(np.subtract(a, b)))
    return {"diff": d["mean"], "ci_low": d["ci_low"], "ci_high": d["ci_high"],
            "seeds": d["n"]}


def rank_p_value(observed: float, controls: list[float], higher_is_better: bool = True) -> float:
    """One-sided permutation-style p-value of `observed` against random-control draws:
    (1 + controls at least as good) / (1 + draws). With 19 draws the smallest is 0.05."""
    if not controls:
        raise ValueError("a rank p-value needs at least one control draw")
    as_good = sum((c >= observed) if higher_is_better else (c <= observed) for c in controls)
    return (1 + as_good) / (1 + len(controls))


def gap_recoveries(df: pd.DataFrame, arms: list[str], target: pd.DataFrame,
                   donor: pd.DataFrame) -> pd.DataFrame:
    """Per run of every other arm: gap recovery on log perplexity, and on accuracy with TIR
    (`target_acc`), between the reference arms `target`
    (untouched) and `donor` (upper bound). Each run's references are those on the same model
    (where they span several, e.g. one per target width), agreeing with it on every factor in
    `arms` that both name (the objective of a study that has several) except those that tell
    the two references apart (method), at the same seed (or their only run)."""
    exclude = {a for a in arms if a in target and a in donor
               and set(target[a].astype(str)) != set(donor[a].astype(str))}
    # A model either reference ran on is matched exactly (a width the fine-tuned reference has
    # not reached yet has none, not another width's); a model neither ran on (a grown model)
    # takes the references' only model.
    known = {m for ref in (target, donor) if "model" in ref for m in ref["model"].dropna()}

    def reference(ref: pd.DataFrame, run: pd.Series) -> pd.Series | None:
        if "model" in ref and (run.get("model") in known or ref["model"].nunique() > 1):
            ref = ref[ref["model"] == run.get("model")]
        for a in arms:
            if a not in exclude and a in ref and not pd.isna(run.get(a)):
                named = ref[a].notna()
                ref = ref[~named | (ref[a].astype(str) == str(run[a]))]
        if len(ref) == 1:
            return ref.iloc[0]
        match = ref[ref[SEED].astype(int) == int(run[SEED])]
        if len(match) > 1:  # e.g. a reference arm run twice, untuned and tuned
            raise ValueError(f"run {run['run']}: {len(match)} reference runs match it "
                             f"({', '.join(match['run'])}); name the reference arm by more "
                             "factors, e.g. method=full_ft&method.optim.lrs=[...]")
        return match.iloc[0] if len(match) == 1 else None

    rows = []
    refs = set(target["run"]) | set(donor["run"])
    for _, run in df[~df["run"].isin(refs)].iterrows():
        t, d = reference(target, run), reference(donor, run)
        if t is None or d is None:
            continue
        row = {a: run[a] for a in arms} | {SEED: run[SEED]}
        if not pd.isna(run.get("target_ppl")):
            gap = np.log(d["target_ppl"]) - np.log(t["target_ppl"])
            row["gap_recovery_ppl"] = ((np.log(run["target_ppl"]) - np.log(t["target_ppl"]))
                                       / gap if gap else np.nan)
        if "target_acc" in run and not pd.isna(run["target_acc"]):
            acc, before, after = run["target_acc"], t["target_acc"], d["target_acc"]
            row["gap_recovery_acc"] = (acc - before) / (after - before) if after != before \
                else np.nan
            row["tir_acc"] = acc / before
        rows.append(row)
    return pd.DataFrame(rows)
