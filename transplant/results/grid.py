"""The grid a study was launched with, so the report can name the points never started.

A study's grid is a file of launches, `experiments/<study>/grid`: one multirun override list
per line (`#` starts a comment). `experiments/sweep.sh` launches it and
`transplant-report --grid` reads the same file, so the two cannot disagree. Each launch is
expanded the way Hydra's basic sweeper expands a multirun command line, including the sweep a
study config declares (`hydra.sweeper.params` of `experiment=<study>`); each point's run id
comes from the run contract, as when it ran.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override

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


def config_sweep(overrides: list[Override]) -> list[str]:
    """The sweep the composed config declares (`hydra.sweeper.params`, e.g. a study config's),
    as overrides, less the keys the command line sets: as Hydra's basic sweeper combines them."""
    from hydra import compose, initialize_config_dir

    from transplant.schemas import CONF_DIR, register_schemas

    register_schemas()
    fixed = [o.input_line for o in overrides if not o.is_sweep_override()]
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        params = compose("config", overrides=fixed, return_hydra_config=True
                         ).hydra.sweeper.params or {}
    given = {o.get_key_element() for o in overrides}
    return [f"{k}={v}" for k, v in params.items() if k not in given]


def grid_points(commands: list[str]) -> list[list[str]]:
    """Every job of the given multirun override lists (one string per launch), as the override
    list Hydra's basic sweeper gives that job."""
    parser = OverridesParser.create()
    points = []
    for command in commands:
        parsed = parser.parse_overrides(shlex.split(command))
        parsed = parser.parse_overrides(config_sweep(parsed)) + parsed
        for batch in BasicSweeper.split_arguments(parsed, None):
            points += [list(job) for job in batch]
    return points


def expected_runs(commands: list[str]) -> list[str]:
    """Run ids of every point of the given multirun override lists (one string per launch)."""
    return list(dict.fromkeys(run_id(identity(job)) for job in grid_points(commands)))
