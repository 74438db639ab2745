"""The grid a study was launched with, so the report can name the points never started.

`--expect "method=lora method.optim.lr=3e-4,1e-3 seed=0,1,2"` is parsed and expanded the way
Hydra's basic sweeper expands a multirun command line; each point's run id comes from the run
contract, as when it ran.
"""

from __future__ import annotations

import shlex

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser

from transplant.runs import identity, run_id


def expected_runs(commands: list[str]) -> list[str]:
    """Run ids of every point of the given multirun override lists (one string per launch)."""
    parser = OverridesParser.create()
    ids = []
    for command in commands:
        parsed = parser.parse_overrides(shlex.split(command))
        for batch in BasicSweeper.split_arguments(parsed, None):
            ids += [run_id(identity(job)) for job in batch]
    return list(dict.fromkeys(ids))
