"""Framework overhead of a sweep: what each job costs beyond the method's own work.

A grid of `zero_shot` runs on the tiny model with a 64-token evaluation (a no-op-sized method)
is launched three ways, each timed end to end from the command line:

- basic launcher, 1 point and N points: the per-job overhead is the N-point wall time minus
  the 1-point wall time (the one-off cost of starting Python and importing torch) minus the
  extra points' own in-method time (`wall_s` in their metrics), over N - 1;
- the same N-point sweep relaunched once finished: every point is skipped;
- submitit's local launcher (`hydra/launcher=local`), M points: each job is its own process,
  so the one-off start is paid per job (M is small: it starts every point at once).

Baseline in the same run: the method's own time. Goal: basic launcher overhead < 0.5 s/job.

    python bench/sweep_overhead.py [--points 50] [--local-points 8]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TINY = ["method=zero_shot", "model=tiny_llama", "eval.max_tokens=64", "eval.window=64",
        "eval.stride=32", "eval.retention=null", "trainer.enable_progress_bar=false"]


def sweep(out: Path, study: str, seeds: int, launcher: list[str] = ()) -> float:
    """Wall seconds of `transplant -m ... seed=0..seeds-1`; fails loudly if a run failed."""
    grid = ",".join(str(s) for s in range(seeds))
    env = {**os.environ, "TRANSPLANT_CACHE": str(out / "cache"), "TQDM_DISABLE": "1"}
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "transplant", "-m", *launcher, *TINY,
                             f"seed={grid}", f"study={study}", f"paths.outputs={out}"],
                            cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"sweep {study} failed:\n{result.stderr[-3000:]}")
    done = list((out / study).glob("*/metrics.json"))
    if len(done) != seeds:
        sys.exit(f"sweep {study}: {len(done)} of {seeds} runs done")
    return wall


def method_seconds(out: Path, study: str) -> list[float]:
    return [json.loads(p.read_text())["wall_s"] for p in (out / study).glob("*/metrics.json")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--points", type=int, default=50)
    ap.add_argument("--local-points", type=int, default=8)
    args = ap.parse_args()
    n, m = args.points, args.local_points

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        sweep(out, "warm", 1)  # builds the cached token streams; imports into the page cache
        one = sweep(out, "one", 1)
        (one_method,) = method_seconds(out, "one")
        many = sweep(out, "basic", n)
        methods = method_seconds(out, "basic")
        relaunch = sweep(out, "basic", n)
        local = sweep(out, "local", m, ["hydra/launcher=local"])
        local_methods = method_seconds(out, "local")

    startup = one - one_method
    per_job = (many - one - (sum(methods) - one_method)) / (n - 1)
    mean_method = sum(methods) / n
    print(f"basic launcher, {n} points: {many:.1f} s wall; one-off start {startup:.1f} s; "
          f"method {mean_method:.3f} s/job")
    print(f"  framework overhead per job: {per_job:.3f} s "
          f"(goal < 0.5 s: {'met' if per_job < 0.5 else 'MISSED'}); "
          f"overhead / method time: {per_job / mean_method:.2f}")
    print(f"relaunch of the finished sweep: {relaunch:.1f} s wall, "
          f"{(relaunch - startup) / n:.3f} s/job after the one-off start")
    local_per_job = local / m
    print(f"submitit local launcher, {m} points at once: {local:.1f} s wall, "
          f"{local_per_job:.2f} s/job; method {sum(local_methods) / m:.3f} s/job "
          f"(run concurrently); per job vs basic launcher: "
          f"{local_per_job / (per_job + mean_method):.1f}x")


if __name__ == "__main__":
    main()
