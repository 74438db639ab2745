"""The grid a study was launched with, so the report can name the points never started.

A study's grid is a file of launches, `experiments/<study>/grid`: one multirun override list
per line (`#` starts a comment). `experiments/sweep.sh` launches it and
`transplant-report --grid` reads the same file, so the two cannot disagree. Each launch is
expanded the way Hydra's basic sweeper expands a multirun command line; each point's run id
comes from the run contract, as when it ran.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser

from transplant.runs import identity, run_id


def read_grid(path: str | Path) -> list[str]:
    """The launches of a grid file; a line Hydra cannot parse is named by file and line."""
    parser = OverridesParser.create()
    launches = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = line.partition("#")[0].strip()
        if not line:
            continue
        try:
            parser.parse_overrides(shlex.split(line))
        except Exception as e:  # Hydra's OverrideParseException, shlex's ValueError
            raise ValueError(f"{path}:{number}: not a list of Hydra overrides ({e})") from e
        launches.append(line)
    if not launches:
        raise ValueError(f"{path}: no launch in the grid file (one override list per line)")
    return launches


def expected_runs(commands: list[str]) -> list[str]:
    """Run ids of every point of the given multirun override lists (one string per launch)."""
    parser = OverridesParser.create()
    ids = []
    for command in commands:
        parsed = parser.parse_overrides(shlex.split(command))
        for batch in BasicSweeper.split_arguments(parsed, None):
            ids += [run_id(identity(job)) for job in batch]
    return list(dict.fromkeys(ids))
