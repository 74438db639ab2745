"""The graft_strength tables: activation-ranked vs random-K (mean and spread over seeds) vs
bottom-K, for each K and alpha.

    python experiments/graft/table.py [outputs/graft_strength]
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from transplant.results.records import read_study


def _cell(values: pd.Series, digits: int) -> str:
    if values.empty:
        return ""
    if len(values) == 1:
        return f"{values.iloc[0]:.{digits}f}"
    return f"{values.mean():.{digits}f} ± {values.std(ddof=1):.{digits}f}"


def table(done: pd.DataFrame, metric: str, digits: int) -> str:
    ks = sorted(done["k"].astype(int).unique())
    lines = ["| alpha | K | activation | random (3 seeds) | bottom |", "|---|---:|---:|---:|---:|"]
    for alpha in sorted(done["alpha"].astype(float).unique()):
        for k in ks:
            at = done[(done["alpha"].astype(float) == alpha) & (done["k"].astype(int) == k)]
            cells = [_cell(at[at["select"] == s][metric].astype(float), digits)
                     for s in ("activation", "random", "bottom")]
            if any(cells):
                lines.append(f"| {alpha:g} | {k} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    study = Path(sys.argv[1] if len(sys.argv) > 1 else "outputs/graft_strength")
    records = read_study(study)
    done = records.done
    done["grafted_mparams"] = done["grafted_params"].astype(float) / 1e6
    first = done.iloc[0]
    print(f"{len(done)} runs done, {len(records.failed)} failed, "
          f"{len(records.incomplete)} incomplete\n")
    print(f"target: ppl {first['target_ppl']:.2f}, accuracy {first['target_sentiment_acc']:.3f}; "
          f"donor: ppl {first['donor_ppl']:.2f}, accuracy {first['donor_sentiment_acc']:.3f}\n")
    for metric, title, digits in (("grafted_ppl", "Grafted tweet perplexity", 2),
                                  ("gap_recovery_ppl", "Gap recovery (perplexity)", 3),
                                  ("grafted_sentiment_acc", "Grafted sentiment accuracy", 3),
                                  ("grafted_mparams", "Grafted parameters (millions)", 1)):
        print(f"### {title}\n\n{table(done, metric, digits)}\n")


if __name__ == "__main__":
    main()
