"""The study plots, chosen by what the study varies (matplotlib, no display needed).

- a metric against a numeric axis the study sweeps (organ position, graft K, learning rate...),
  one line per arm with its 95% t-interval band over seeds (perplexities on their log);
- grouped bars with 95% intervals over the categorical axes it sweeps (portability: PEFT
  module x condition), the majority-class accuracy drawn where it is one number;
- the frontier: target against retention perplexity, one point per arm and value (a line
  per arm through the rates it swept, the chosen one ringed, a diverged run named);
- training-loss curves from the runs' CSV logs.

Each figure is returned as a matplotlib Figure; `save` writes it as PNG and PDF.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on a cluster's login node
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from transplant.atomic import replacing  # noqa: E402
from transplant.layout import RunLayout  # noqa: E402
from transplant.metrics import Direction, Kind  # noqa: E402
from transplant.results.specs import MetricSpecs  # noqa: E402
from transplant.results.stats import numbers_first, summarize  # noqa: E402


def _arm_name(row: pd.Series, arms: list[str]) -> str:
    return ", ".join(f"{row[a]}" if a == "method" else f"{a.split('.')[-1]}={row[a]}"
                     for a in arms if not pd.isna(row[a])) or "all runs"


def numeric_axes(df: pd.DataFrame, arms: list[str]) -> list[str]:
    """Arm columns that vary and are numbers: candidate x axes."""
    out = []
    for c in arms:
        if c not in df or df[c].nunique(dropna=True) < 2:
            continue
        values = pd.to_numeric(df[c].dropna(), errors="coerce")
        if values.notna().all():
            out.append(c)
    return out


def categorical_axes(df: pd.DataFrame, arms: list[str]) -> list[str]:
    """Arm columns that vary and are not numbers: candidate groups and bars."""
    return [a for a in arms if a in df and a not in numeric_axes(df, arms)
            and df[a].nunique(dropna=True) >= 2]


UNSET = "(none)"  # the bar of runs that do not have the bars' factor


def grouped_bars(df: pd.DataFrame, metric: str, groups: list[str], bars: str, *,
                 specs: MetricSpecs) -> Figure:
    """Mean of `metric` over seeds per (group, bar), with 95% t-interval error bars; the mean
    majority-class accuracy as a dashed line where all runs share it (one test split). Runs
    without a factor (a baseline has no width pair, a carried arm no model.name) keep their
    bar, named UNSET, and their group's label leaves the factor out."""
    df = df.copy()
    for c in [*groups, bars]:
        df[c] = df[c].astype(object).where(df[c].notna(), UNSET)
    summary = summarize(df, [metric], [*groups, bars], specs=specs)
    names = sorted(summary[bars].dropna().unique())
    keys = summary[groups].drop_duplicates().sort_values(groups, key=numbers_first) \
        if groups else None
    width = 0.8 / max(1, len(names))
    # wider with more bars, up to a page-wide 24 inches (a 60-cell study is not 54 inches)
    fig, ax = plt.subplots(figsize=(min(24, max(6, 0.9 * len(summary))), 4))
    n_groups = 1 if keys is None else len(keys)
    cells = {}  # (group, bar name) -> its summary row, for the bars each group has
    for i in range(n_groups):
        group = summary if keys is None else summary.merge(keys.iloc[[i]], on=groups)
        for _, row in group.iterrows():
            cells[i, row[bars]] = row
    for j, name in enumerate(names):
        x, heights, errors = [], [], [[], []]
        for i in range(n_groups):
            if (i, name) not in cells:
                continue
            present = [n for n in names if (i, n) in cells]  # centred on the group's tick
            x.append(i + (present.index(name) - (len(present) - 1) / 2) * width)
            row = cells[i, name]
            mean, low, high = (row[f"{metric}_{k}"] for k in ("mean", "ci_low", "ci_high"))
            heights.append(mean)
            errors[0].append(0 if pd.isna(low) else mean - low)
            errors[1].append(0 if pd.isna(high) else high - mean)
        ax.bar(x, heights, width, yerr=errors, capsize=3, color=f"C{j % 10}",
               label=str(name) if keys is not None else None)
    majority = f"{metric.removesuffix('_acc')}_majority_acc"  # beside it (methods/task.py)
    if specs[metric].kind == Kind.accuracy and majority in df and df[majority].nunique() == 1:
        ax.axhline(df[majority].iloc[0], ls="--", color="grey", lw=1, label="majority class")
    if keys is not None:
        ax.set_xticks(range(n_groups))
        ax.set_xticklabels([", ".join(str(v) for v in row if v != UNSET) or UNSET
                            for row in keys.values], rotation=30, ha="right", fontsize=8)
        ax.set_xlabel(", ".join(specs.label(g) for g in groups))
        ax.legend(title=specs.label(bars), fontsize=8)
    else:  # one group: each bar is named on the axis
        ax.set_xticks([(j - (len(names) - 1) / 2) * width for j in range(len(names))])
        ax.set_xticklabels([str(n) for n in names], fontsize=8)
        ax.set_xlabel(specs.label(bars))
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)  # the majority-class line
    ax.set_ylabel(specs.label(metric))
    ax.set_title("mean over seeds (perplexity: geometric); bars: 95% t-interval", fontsize=9)
    fig.tight_layout()
    return fig


def metric_vs_axis(df: pd.DataFrame, axis: str, metric: str, arms: list[str], *,
                   specs: MetricSpecs) -> Figure:
    """Mean of `metric` over seeds against `axis`, one line and 95% band per arm."""
    data = df.dropna(subset=[axis]).copy()  # arms without the axis (zero-shot) have no line
    data[axis] = pd.to_numeric(data[axis])
    others = [a for a in arms if a != axis]
    summary = summarize(data, [metric], [*others, axis] if others else [axis], specs=specs)
    groups = list(summary.groupby(others, dropna=False)) if others else [((), summary)]
    many = len(groups) > 6  # the legend goes beside the axes, as in the frontier
    fig, ax = plt.subplots(figsize=(9.5 if many else 6, 4))
    for i, (key, group) in enumerate(groups):
        group = group.sort_values(axis)
        row = dict(zip(others, key if isinstance(key, tuple) else (key,), strict=False))
        name = _arm_name(pd.Series(row), others)
        colour = f"C{i % 10}"  # past the colour cycle's 10, another marker
        ax.plot(group[axis], group[f"{metric}_mean"], marker=MARKERS[i // 10 % len(MARKERS)],
                color=colour, label=name)
        if group[f"{metric}_ci_low"].notna().any():
            ax.fill_between(group[axis], group[f"{metric}_ci_low"], group[f"{metric}_ci_high"],
                            color=colour, alpha=0.2)
    steps = data[axis].drop_duplicates()
    if axis.endswith(".lr") or (steps.min() > 0 and steps.max() / steps.min() >= 10):
        _log_scale(ax, ax.xaxis)  # a rate or a budget grid: each step a factor, evenly spaced
    if _over_orders(summary[f"{metric}_mean"], specs[metric].geometric):
        _log_scale(ax, ax.yaxis)
    ax.set_xlabel(specs.label(axis))
    ax.set_ylabel(specs.label(metric))
    ax.set_title("mean over seeds (perplexity: geometric); band: 95% t-interval", fontsize=9)
    _legend(ax, beside=many)
    fig.tight_layout()
    return fig


def frontier_target(df: pd.DataFrame) -> str | None:
    """What a frontier reads learning by: target perplexity, or a task's accuracy where the
    runs have no perplexity (a study on a labelled task alone); None: neither."""
    return next((m for m in ("target_ppl", "target_acc") if m in df and df[m].notna().any()),
                None)


OFF_SCALE = 30  # a point this many times the median of all points on an axis: a diverged run


def frontier(df: pd.DataFrame, arms: list[str], along: str | None = None,
             chosen: pd.DataFrame | None = None, *, specs: MetricSpecs) -> Figure:
    """Target (perplexity, or a task's accuracy) against retention test perplexity: learning
    (left, or right for accuracy) and forgetting (down). With `along` (a value the study
    sweeps per arm, such as the learning rate) each arm is one line through its values, each
    point labelled with its value and the runs of `chosen` (the values validation chose)
    ringed, and a second panel zooms on the chosen points, where arms tuned alike are
    compared and which the whole sweep's range squeezes into a corner. A point beyond
    OFF_SCALE x the median of a perplexity axis (a diverged run) is named in the title
    instead of squeezing every other point into a corner."""
    target = frontier_target(df)
    assert target is not None, "a frontier needs target_ppl or target_acc"
    summary = summarize(df, [target, "retention_ppl"], arms, specs=specs)
    off = pd.Series(False, index=summary.index)
    for m in (target, "retention_ppl"):
        if specs[m].geometric:
            off |= summary[f"{m}_mean"] > OFF_SCALE * summary[f"{m}_mean"].median()
    shown = summary[~off]
    lines = [a for a in arms if a != along] if along in arms else None
    if lines is None:  # every arm and value a point of its own
        groups = [shown.iloc[[i]] for i in range(len(shown))]
    else:  # one line an arm, through its values
        groups = [g for _, g in shown.groupby(lines, dropna=False, sort=False)] if lines \
            else [shown]
        groups = [g.sort_values(along, key=numbers_first) for g in groups]
    picked = (set() if chosen is None or along is None
              else {_key(row, arms) for _, row in chosen.iterrows()})
    is_picked = pd.Series([_key(row, arms) in picked and not pd.isna(row[along])  # not zero-shot
                           for _, row in shown.iterrows()], index=shown.index, dtype=bool)
    zoom = int(is_picked.sum()) >= 2
    many = len(groups) > 6  # the legend goes beside the axes, where it hides no point
    fig, axes = plt.subplots(1, 2 if zoom else 1, squeeze=False,
                             figsize=((13 if many else 11) if zoom else (9.5 if many else 6),
                                      4.5 if many else 4))
    numbered = lines is None and len(groups) > 10  # colours repeat: points carry their number
    for ax in axes[0]:
        _draw_frontier(ax, groups, target, arms, lines, along, numbered, is_picked)
        better = "lower" if specs[target].direction == Direction.lower else "higher"
        ax.set_xlabel(f"{specs.label(target)} ({better}: learned more)")
        ax.set_ylabel(f"{specs.label('retention_ppl')}\n(lower: forgot less)")
    ax = axes[0][0]
    for axis, metric in ((ax.xaxis, target), (ax.yaxis, "retention_ppl")):
        if _over_orders(shown[f"{metric}_mean"], specs[metric].geometric):
            _log_scale(ax, axis)
    title = "mean over seeds (perplexity: geometric); bars: 95% t-interval"
    if is_picked.any():
        title += f"; ringed: the {specs.label(along)} validation chose"
    hidden = [f"{_arm_name(row, arms)} ({row[f'{target}_mean']:,.0f} / "
              f"{row['retention_ppl_mean']:,.0f})" for _, row in summary[off].iterrows()]
    if hidden:
        title += "\noff the axes (diverged): " + "; ".join(hidden)
    ax.set_title(title, fontsize=8)
    if zoom:
        near = axes[0][1]
        rows = shown[is_picked]
        for setter, metric in ((near.set_xlim, target), (near.set_ylim, "retention_ppl")):
            setter(*_padded(rows, metric))
        near.set_title(f"near the chosen {specs.label(along)}s", fontsize=8)
    _legend(axes[0][-1], beside=many)
    fig.tight_layout()
    return fig


def _legend(ax, beside: bool) -> None:
    """Many arms: the legend beside the axes, where it hides no point; few: inside."""
    if beside:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0)
    else:
        ax.legend(fontsize=7)


def _draw_frontier(ax, groups: list[pd.DataFrame], target: str, arms: list[str],
                   lines: list[str] | None, along: str | None, numbered: bool,
                   is_picked: pd.Series) -> None:
    """Every group (an arm's line, or a point) with its error bars, labels and rings."""
    for i, group in enumerate(groups):
        # Past the colour cycle's 10, another marker: no two arms look alike.
        name = _arm_name(group.iloc[0], lines if lines is not None else arms)
        colour, x, y = f"C{i % 10}", group[f"{target}_mean"], group["retention_ppl_mean"]
        ax.errorbar(x, y, xerr=_errors(group, target), yerr=_errors(group, "retention_ppl"),
                    fmt=("-" if lines else "") + MARKERS[i // 10 % len(MARKERS)],
                    color=colour, capsize=3, lw=1, label=f"{i + 1}: {name}" if numbered
                    else name)
        for index, row in group.iterrows():
            at = (row[f"{target}_mean"], row["retention_ppl_mean"])
            if pd.isna(at[0]) or pd.isna(at[1]):
                continue
            text = str(i + 1) if numbered else (
                _short(row[along]) if lines and not pd.isna(row[along]) else None)
            if text:
                ax.annotate(text, at, xytext=(3, 3), textcoords="offset points", fontsize=6,
                            color=colour)
            if is_picked[index]:
                ax.plot(*at, "o", ms=13, mfc="none", mec=colour, mew=1.2)


def _padded(rows: pd.DataFrame, metric: str, pad: float = 0.15) -> tuple[float, float]:
    """Axis limits holding every row's interval, with `pad` of their span either side."""
    low = rows[f"{metric}_ci_low"].fillna(rows[f"{metric}_mean"]).min()
    high = rows[f"{metric}_ci_high"].fillna(rows[f"{metric}_mean"]).max()
    span = (high - low) or abs(high) or 1.0
    return low - pad * span, high + pad * span


def _short(value) -> str:
    """A swept value as a point's label: 0.0003, 3e-05, a name as it is."""
    number = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
    return str(value) if pd.isna(number) else f"{number:g}"


def _key(row: pd.Series, arms: list[str]) -> tuple[str, ...]:
    """An arm's values as text: NaN (a factor the arm lacks) equal to NaN."""
    return tuple(str(row[a]) for a in arms)


MARKERS = ("o", "s", "^", "D", "v")


def _over_orders(values: pd.Series, geometric: bool) -> bool:
    """Perplexities (`geometric`) spread by more than x4: a log axis, on which ratios read
    evenly."""
    values = values.dropna()
    return (geometric and len(values) > 0 and values.min() > 0
            and values.max() / values.min() > 4)


def _log_scale(ax, axis) -> None:
    """A log axis ticked at 1, 2, 5 x 10^k in plain numbers (1,000 rather than 10^3)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    (ax.set_xscale if axis is ax.xaxis else ax.set_yscale)("log")
    axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def _errors(rows: pd.DataFrame, metric: str) -> list[list[float]]:
    """Error bars from each row's interval: below and above the mean, apart (a geometric
    mean is not its interval's centre); 0 where a row has no interval (one run)."""
    mean, low, high = (rows[f"{metric}_{k}"] for k in ("mean", "ci_low", "ci_high"))
    return [(mean - low).fillna(0).tolist(), (high - mean).fillna(0).tolist()]


def loss_curves(study_dir: Path, runs: pd.DataFrame, arms: list[str]) -> Figure | None:
    """Training loss against optimizer step, one line per run (from logs/metrics.csv)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    drawn = 0
    for _, row in runs.iterrows():
        path = RunLayout(study_dir / row["run"]).loss_log
        if not path.exists():
            continue
        log = pd.read_csv(path)
        # A run that chose its rate from a grid logged each rate apart: draw the chosen one.
        chosen = row.get("lr")
        loss = ("train/loss" if "train/loss" in log or pd.isna(chosen)
                else f"lr_{chosen:g}/train/loss")
        if loss not in log:
            continue
        log = log.dropna(subset=[loss])
        ax.plot(log["step"], log[loss], lw=1,
                label=f"{_arm_name(row, arms)}, seed {row['seed']}")
        drawn += 1
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("training loss (nats per token)")
    if drawn <= 12:
        ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


def save(fig: Figure, stem: Path) -> bytes:
    """Write `stem`.png and `stem`.pdf (atomically), close the figure, return the PNG bytes."""
    out = {}
    for fmt in ("png", "pdf"):
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=120)
        out[fmt] = buf.getvalue()
        with replacing(stem.with_suffix(f".{fmt}")) as tmp:
            tmp.write_bytes(out[fmt])
    plt.close(fig)
    return out["png"]
