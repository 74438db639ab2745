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
    sections: list[Section] = []
    summary = None
    if not records.done.empty:
        study = Study(request, records)
        sections += [study.code(), *study.selection()]
        summary = study.arms_table()
        sections += [study.arms_section(summary), *study.rates_tried(), *study.gap_recovery(),
                     *study.paired(), *study.controlled(), *study.frontier()]
        if request.html:
            sections += _figures(request.study_dir, records.done, records.specs,
                                 study.identity, study.chosen, study.arms, request.select,
                                 study.two_domains, request.out / "figures", request.gap,
                                 study.gapped)
        sections += study.protocol()
    return sections + _unfinished(request, records), summary


class Study:
    """A study's finished runs as the report reads them: the runs chosen on validation (all
    without `--select`), their arms, and each section drawn from them."""

    def __init__(self, request: ReportRequest, records: StudyRecords) -> None:
        self.request, self.df, self.specs = request, records.done, records.specs
        self.identity = tuple(k for k in records.identity if k not in request.replicates)
        self.over = " and ".join(("seeds", *request.replicates))
        self.chosen, self.choice = self.df, None
        if request.select:
            self.choice = select(self.df, request.select, request.by or "val_target_ppl",
                                 arm_columns(self.df, self.identity, exclude=(request.select,)),
                                 specs=self.specs)
            self.chosen = self.choice.runs
        self.arms = arm_columns(self.chosen, self.identity,
                                 exclude=(request.select,) if request.select else ())
        self.gapped = (gap_runs(self.chosen, self.arms, *request.gap) if request.gap
                       else None)
        self.two_domains = ("retention_ppl" in self.df and self.df["retention_ppl"].notna().any()
                            and plots.frontier_target(self.df) is not None)

    def code(self) -> Section:
        code, mixed = commits_note(self.df)
        if mixed:
            print(f"transplant-report: warning: one table mixes {code}", file=sys.stderr)
        return Section("Code", text=(f"Warning: this table mixes {code}." if mixed
                                     else f"All numbers from {code}.") + compute_note(self.df))

    def selection(self) -> list[Section]:
        if self.choice is None:
            return []
        return [Section("Selection", self.choice.chosen, text=f"{self.choice.rule()}.")]

    def arms_table(self) -> pd.DataFrame:
        return summary_table(self.chosen, self.arms, self.specs, self.request.replicates)

    def arms_section(self, summary: pd.DataFrame) -> Section:
        costs = [m for m in summary.columns if m in self.specs and not self.specs[m].interval]
        alone = f" ({', '.join(costs)}: the mean alone)" if costs else ""
        return Section("Arms", summary, text=f"Mean [95% t-interval] over {self.over}, n runs"
                                             f"{alone}; {GEOMETRIC}."
                                             + defaults_note(self.request.study_dir,
                                                             self.chosen, self.arms))

    def rates_tried(self) -> list[Section]:
        tried = rates_tried_table(self.chosen, self.arms, self.specs)
        if tried.empty:
            return []
        return [Section("Rates tried", tried,
                        text="Each rate of the runs' own grid and the validation score it "
                             "reached there, mean [95% t-interval] over seeds; "
                             f"{GEOMETRIC}. Each run kept its best.")]

    def gap_recovery(self) -> list[Section]:
        gap = self.request.gap
        if not gap:
            return []
        return [Section("Gap recovery", gap_table(self.gapped, self.arms),
                        text=f"Between {gap[0]} (0) and {gap[1]} (1): on log perplexity, and "
                             "on accuracy with TIR where runs have it; mean [95% t-interval] "
                             "over seeds.")]

    def paired(self) -> list[Section]:
        reference, control = self.request.reference, self.request.control
        if not reference:
            return []
        # a random control's draws are ranked (controlled), not paired: its seed is a draw
        drawn = (runs_of(self.chosen, control, "--control", allow_empty=True)["run"]
                 if control else [])
        paired = paired_table(self.request.study_dir,
                              self.chosen[~self.chosen["run"].isin(drawn)], self.arms,
                              reference, self.request.replicates)
        if paired.empty:
            return []
        over = self.over
        return [Section(f"Relative to {reference}", paired,
                        text=f"Perplexity ratio to (or accuracy minus) the reference arm, "
                             f"paired by {over} and document; 95% bootstrap interval over "
                             f"documents and {over}. Where the records keep no per-document "
                             f"scores (`x (by seed)`), paired by {over} alone: 95% t-interval "
                             "over them.")]

    def controlled(self) -> list[Section]:
        control = self.request.control
        if not control:
            return []
        if runs_of(self.chosen, control, "--control", allow_empty=True).empty:
            # a study in progress: its tables so far, and what the comparison waits for
            return [Section(f"Against {control}",
                            text=f"No run of {control} has finished yet.")]
        table = control_table(self.chosen, self.arms, control, self.specs,
                              self.request.replicates)
        if table.empty:
            return []
        return [Section(f"Against {control}", table,
                        text="Each arm's mean against the control's draws sharing its other "
                             "factors: their mean [min, max] and the one-sided rank p-value "
                             "(1 + draws at least as good) / (1 + draws).")]

    def frontier(self) -> list[Section]:
        if not self.two_domains:
            return []
        return [Section("Frontier", frontier_table(self.df, self.identity, self.request.select,
                                                   self.specs),
                        text="Every arm and value (descriptive: nothing is chosen from test "
                             "numbers). Test perplexity (or accuracy), mean [95% "
                             f"t-interval]; {GEOMETRIC}.")]

    def protocol(self) -> list[Section]:
        note = protocol_note(self.df)
        return [Section("Protocol", text=f"Perplexity: {note}.")] if note else []


def _unfinished(request: ReportRequest, records: StudyRecords) -> list[Section]:
    """Every run that failed or is incomplete, and every expected point never started."""
    out = [Section(title, pd.DataFrame(items, columns=["run", "why"]))
           for title, items in (("Failed", records.failed), ("Incomplete", records.incomplete))
           if items]
    if request.expect:
        seen = {*records.done.get("run", []),
                *(r for r, _ in records.failed + records.incomplete)}
        missing = [r for r in expected_runs(request.expect) if r not in seen]
        if missing:
            out.append(Section("Never started", pd.DataFrame({"run": missing}),
                               text=f"{len(missing)} point(s) of the expected grid have no run "
                                    "record: relaunch the sweep to run them."))
    return out


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
