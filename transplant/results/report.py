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
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from transplant.atomic import write_text
from transplant.results.grid import read_grid
from transplant.results.html import render as render_html
from transplant.results.records import read_study
from transplant.results.sections import ReportRequest, build_sections, to_markdown


def write_report(study_dir: str | Path, out_dir: str | Path | None = None, **options: Any
                 ) -> str:
    """Write report.{csv,md,tex} and summary.csv (with `html=True`: report.html and
    figures/*.png, *.pdf) and return the Markdown text; `options` are `ReportRequest`'s."""
    request = ReportRequest(Path(study_dir), Path(out_dir) if out_dir else None, **options)
    out_dir = request.out
    records = read_study(request.study_dir)
    title = (f"{request.study_dir.name}: {len(records.done)} done, {len(records.failed)} "
             f"failed, {len(records.incomplete)} incomplete")
    sections, summary = build_sections(request, records)
    markdown = to_markdown(title, sections)
    write_text(out_dir / "report.md", markdown)
    write_text(out_dir / "report.csv", records.done.to_csv(index=False))
    latex = "" if summary is None else _booktabs(summary)
    write_text(out_dir / "report.tex", latex)
    if summary is not None:
        write_text(out_dir / "summary.csv", summary.to_csv(index=False))
    if request.html:
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
        print(write_report(args.study_dir, args.out, select=args.select, by=args.by,
                           reference=args.reference, html=args.html, expect=expect or None,
                           gap=args.gap, control=args.control,
                           replicates=tuple(args.replicate)))
    except (FileNotFoundError, ValueError) as e:
        print(f"transplant-report: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
