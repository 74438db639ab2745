"""Start-up cost of the command line: what a user waits for before anything happens.

Timed from a fresh process, median of N runs each:
- baseline: `python -c "import hydra"` (Hydra itself, what any Hydra app pays);
- `transplant --help`;
- a config error (`transplant trainer.max_steps=-1`): validation stops the run, so nothing
  heavy should have been imported yet.

Prints seconds and the ratio to the baseline.

    python bench/startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
COMMANDS = {
    "import hydra (baseline)": [sys.executable, "-c", "import hydra"],
    "transplant --help": [sys.executable, "-m", "transplant", "--help"],
    "config error": [sys.executable, "-m", "transplant", "model=tiny_llama",
                     "trainer.max_steps=-1"],
}


def median_seconds(command: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, cwd=REPO, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    base = None
    for name, command in COMMANDS.items():
        seconds = median_seconds(command, args.runs)
        base = base or seconds
        print(f"{name:26s} {seconds:6.2f} s   x{seconds / base:5.1f} of the baseline")


if __name__ == "__main__":
    main()
