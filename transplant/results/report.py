"""`transplant-report outputs/<study>`: one table of every run, as CSV, Markdown and LaTeX.

The CSV has every metric; Markdown and LaTeX show the headline columns. Failed and
incomplete runs are listed, never silently dropped.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from transplant.atomic import write_text
from transplant.results.records import StudyRecords, read_study

HEADLINE = ("target_domain", "target_ppl", "target_bpb", "retention_domain", "retention_ppl",
            "retention_bpb", "train_tokens", "params_trainable", "train_s", "peak_rss_mb",
            "wall_s")
NOT_IDENTITY = {"run", "method", "model", "seed"}


def headline_table(records: StudyRecords, columns: tuple[str, ...] = HEADLINE) -> pd.DataFrame:
    df = records.done
    if df.empty:
        return df
    ident = [c for c in df.columns if c not in NOT_IDENTITY and "=" not in c and
             c in _identity_columns(df)]
    cols = ["method", "model", "seed", *ident, *[c for c in columns if c in df.columns]]
    cols = list(dict.fromkeys(c for c in cols if c in df.columns))
    return df[cols].sort_values(cols[:3 + len(ident)]).reset_index(drop=True)


def _identity_columns(df: pd.DataFrame) -> list[str]:
    # Identity fields are override keys (dotted or group names) that vary across runs.
    return [c for c in df.columns if ("." in c or c in ("data", "experiment"))
            and df[c].nunique(dropna=False) > 1]


def protocol_note(df: pd.DataFrame) -> str:
    parts = []
    for role in ("target", "retention"):
        cols = [f"{role}_window", f"{role}_stride", f"{role}_tokens"]
        if all(c in df.columns for c in cols):
            uniq = df[cols].drop_duplicates()
            for _, r in uniq.iterrows():
                parts.append(f"{role}: window {r.iloc[0]}, stride {r.iloc[1]}, "
                             f"{r.iloc[2]} predicted tokens (test split)")
    return "; ".join(parts)


def write_report(study_dir: str | Path, out_dir: str | Path | None = None) -> str:
    """Write report.{csv,md,tex} and return the Markdown text."""
    study_dir = Path(study_dir)
    out_dir = Path(out_dir) if out_dir else study_dir / "_report"
    records = read_study(study_dir)
    table = headline_table(records)
    lines = [f"# {study_dir.name}: {len(records.done)} done, {len(records.failed)} failed, "
             f"{len(records.incomplete)} incomplete", ""]
    if not table.empty:
        lines += [table.to_markdown(index=False, floatfmt=".4g"), ""]
        note = protocol_note(records.done)
        if note:
            lines += [f"Perplexity protocol: {note}.", ""]
    for title, items in (("Failed", records.failed), ("Incomplete", records.incomplete)):
        if items:
            lines += [f"{title}:", *[f"- {run}: {why}" for run, why in items], ""]
    markdown = "\n".join(lines)
    write_text(out_dir / "report.md", markdown)
    write_text(out_dir / "report.csv", records.done.to_csv(index=False))
    latex = "" if table.empty else table.to_latex(index=False, float_format="%.4g", escape=True)
    write_text(out_dir / "report.tex", latex)
    return markdown


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study_dir", help="a study directory, e.g. outputs/demo")
    parser.add_argument("--out", help="where to write the tables (default <study_dir>/_report)")
    args = parser.parse_args(argv)
    try:
        print(write_report(args.study_dir, args.out))
    except FileNotFoundError as e:
        print(f"transplant-report: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
