"""Start-up cost of the command line: what a user waits for before anything happens.

Timed from a fresh process, median of N runs each:
- baseline: `python -c "import hydra"` (Hydra itself, what any Hydra app pays);
- `transplant --help`;
- a config error (`transplant trainer.max_steps=-1`): validation stops the run, so nothing
  heavy should have been imported yet.

Prints seconds and the ratio to the baseline. `--checkout DIR` (repeatable) times the
package of another working tree (e.g. `git worktree add /tmp/old <commit>`), run from there,
beside this one.

    python bench/startup.py [--runs 5] [--checkout /tmp/old --checkout .]
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


def median_seconds(command: list[str], runs: int, cwd: Path) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, cwd=cwd, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--checkout", action="append", type=Path,
                        help="a working tree to time (python -m transplant run from it)")
    args = parser.parse_args()
    for checkout in args.checkout or [REPO]:
        print(f"# {checkout.resolve()}")
        base = None
        for name, command in COMMANDS.items():
            seconds = median_seconds(command, args.runs, checkout)
            base = base or seconds
            print(f"{name:26s} {seconds:6.2f} s   x{seconds / base:5.1f} of the baseline")


if __name__ == "__main__":
    main()
