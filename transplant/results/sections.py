"""The report's sections, in order: what code and compute, the selection, the arms, the
rates tried, gap recovery, pairings, controls, the frontier, figures, the protocol, and every
run that failed, is incomplete or never started. `ReportRequest` is what was asked."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from transplant.metrics import Level
from transplant.results import plots
from transplant.results.grid import expected_runs
from transplant.results.html import Section
from transplant.results.notes import commits_note, compute_note, defaults_note, protocol_note
from transplant.results.pairing import paired_table
from transplant.results.plots import numeric_axes
from transplant.results.records import StudyRecords
from transplant.results.specs import MetricSpecs
from transplant.results.stats import (
    arm_columns,
    select,
)
from transplant.results.tables import (
    GEOMETRIC,
    control_table,
    frontier_table,
    gap_runs,
    gap_table,
    rates_tried_table,
    runs_of,
    summary_table,
)


@dataclass(frozen=True)
class ReportRequest:
    """What a report is asked for (`transplant-report`'s options)."""

    study_dir: Path
    out_dir: Path | None = None  # default <study_dir>/_report
    select: str | None = None  # a factor chosen per arm on validation (method.optim.lr)
    by: str = "val_target_ppl"  # the validation metric(s) that choose it
    reference: str | None = None  # the arm every other is paired with (method=zero_shot)
    html: bool = False  # also report.html and figures/
    expect: list[str] | None = None  # launches whose points without a record are listed
    gap: list[str] | None = None  # two reference arms: target (0) and donor (1)
    control: str | None = None  # a random control whose seeds are draws
    replicates: tuple[str, ...] = ()  # factors whose values are replicates, like the seed

    @property
    def out(self) -> Path:
        return self.out_dir if self.out_dir is not None else self.study_dir / "_report"


def build_sections(request: ReportRequest, records: StudyRecords
                   ) -> tuple[list[Section], pd.DataFrame | None]:
    """The report's sections (text, tables, and with `request.html` figures written to
    <out>/figures as PNG and PDF), and the arms' summary table (for LaTeX). A factor in
    `replicates` names no arm: its values are replicates, as the seed's are."""
    study_dir, select_param, by, reference = (request.study_dir, request.select, request.by,
                                              request.reference)
    expect, gap, control, replicates = (request.expect, request.gap, request.control,
                                        request.replicates)
    plots_dir = request.out / "figures" if request.html else None
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
    # every headline metric of the main one's kind (the organ in its training wrapper too: the
    # paper's number), not each of them (a task's macro-F1 beside its accuracy)
    curves = [m for m in specs.at_least(Level.headline)
              if m in df and df[m].notna().any() and specs[m].kind == specs[metric].kind]
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
