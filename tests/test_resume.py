"""Kill-and-resume for real: sweeps SIGKILLed part-way, runs signalled mid-training, and two
processes racing for one cache entry."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd

from tests.conftest import REPO
from transplant.results.records import read_study
from transplant.runs import identity, run_id

TINY = ["model=tiny_llama", "data.block_size=32", "trainer.batch_size=2", "eval.max_tokens=128",
        "eval.window=64", "eval.stride=32", "trainer.enable_progress_bar=false"]


def _launch(args: list[str], tmp_path: Path) -> subprocess.Popen:
    env = {**os.environ, "TRANSPLANT_CACHE": str(tmp_path / "cache"), "TQDM_DISABLE": "1"}
    return subprocess.Popen([sys.executable, "-m", "transplant", *args, *TINY,
                             f"paths.outputs={tmp_path / 'out'}"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _statuses(study: Path) -> dict[str, dict]:
    out = {}
    for path in study.glob("*/status.json"):
        with contextlib.suppress(FileNotFoundError):  # a run directory being created
            out[path.parent.name] = json.loads(path.read_text())
    return out


def _wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None):
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"exited ({proc.returncode}) before {what}: "
                                 f"{proc.stderr.read()[-2000:]}")
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_sweep_killed_with_sigkill_completes_on_relaunch_each_run_once(tmp_path):
    study = tmp_path / "out" / "kill"
    sweep = ["-m", "study=kill", "method=lora", "trainer.max_steps=40", "seed=0,1,2,3,4,5"]
    proc = _launch(sweep, tmp_path)

    def two_done_one_running():
        states = [s["status"] for s in _statuses(study).values()]
        return states.count("done") >= 2 and "running" in states

    _wait_for(two_done_one_running, 300, "two runs done and a third running", proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()

    before = _statuses(study)
    killed = [name for name, s in before.items() if s["status"] == "running"]
    done = {name: (study / name / "metrics.json").stat().st_mtime_ns
            for name, s in before.items() if s["status"] == "done"}
    assert len(killed) == 1 and len(done) >= 2
    assert not (study / killed[0] / "metrics.json").exists()  # no partial result
    records = read_study(study)
    assert sorted(records.done["run"]) == sorted(done)
    assert [name for name, _ in records.incomplete] == killed

    relaunch = _launch(sweep, tmp_path)
    assert relaunch.wait(timeout=600) == 0, relaunch.stderr.read()[-3000:]
    after = _statuses(study)
    assert len(after) == 6 and all(s["status"] == "done" for s in after.values())
    for name, mtime in done.items():  # finished runs were skipped, not redone
        assert (study / name / "metrics.json").stat().st_mtime_ns == mtime
    assert after[killed[0]]["pid"] == relaunch.pid  # the dead `running` one was redone
    records = read_study(study)
    assert len(records.done) == 6 and not records.failed and not records.incomplete
    assert sorted(records.done["seed"].astype(int)) == [0, 1, 2, 3, 4, 5]


def test_sigterm_outside_training_records_the_run_as_interrupted_not_running(tmp_path):
    # Training checkpoints on SIGTERM (below); anywhere else in a run (here: scoring a long
    # test split) the record must say what happened, and no result may be written.
    args = ["study=term", "method=zero_shot", "eval.max_tokens=null", "data=python_code"]
    proc = _launch(args, tmp_path)
    study = tmp_path / "out" / "term"
    _wait_for(lambda: any(s["status"] == "running" for s in _statuses(study).values()), 300,
              "the run to start", proc)
    time.sleep(1)  # into the evaluation
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=120) != 0
    [(name, status)] = _statuses(study).items()
    assert status["status"] == "failed"
    assert status["error"] == ("interrupted (SIGTERM): no result was written; a relaunch runs "
                               "it again")
    assert not (study / name / "metrics.json").exists()
    assert read_study(study).failed == [(name, status["error"])]


def test_run_signalled_mid_training_resumes_to_the_uninterrupted_result(tmp_path):
    """SIGUSR1 (SLURM's warning before a time limit): checkpoint, `preempted`, exit; the
    relaunch resumes and ends with exactly the metrics of a run never interrupted."""
    train = ["method=full_ft", "trainer.max_steps=300", "trainer.log_every_n_steps=1"]
    whole = _launch(["study=whole", *train], tmp_path)
    assert whole.wait(timeout=600) == 0, whole.stderr.read()[-3000:]

    proc = _launch(["study=cut", *train], tmp_path)
    run_dir = tmp_path / "out" / "cut" / run_id(identity([*train, *TINY]))
    # The CSV logger writes its file at its first flush (step 100): 200 steps from the end.
    _wait_for(lambda: (run_dir / "logs" / "metrics.csv").exists(), 300, "logged steps", proc)
    os.kill(proc.pid, signal.SIGUSR1)
    assert proc.wait(timeout=300) != 0  # stopped, not finished
    status = json.loads((run_dir / "status.json").read_text())
    assert status["status"] == "preempted", status
    assert (run_dir / "resume" / "train" / "resume.ckpt").exists()
    assert not (run_dir / "metrics.json").exists()
    spent = status["spent"]
    assert 0 < spent["wall_s"] < status["end"] - status["start"] and spent["cpu_s"] > 0

    relaunch = _launch(["study=cut", *train], tmp_path)
    assert relaunch.wait(timeout=600) == 0, relaunch.stderr.read()[-3000:]
    resumed = json.loads((run_dir / "metrics.json").read_text())
    # Its cost is both attempts': the first's, recorded when it stopped, and the second's.
    second = json.loads((run_dir / "status.json").read_text())
    assert 0 < resumed["wall_s"] - spent["wall_s"] <= second["end"] - second["start"]
    assert resumed["cpu_s"] > spent["cpu_s"]
    reference = json.loads((tmp_path / "out" / "whole" / run_dir.name / "metrics.json")
                           .read_text())
    assert 0 < resumed["resumed_step"] < 300
    for key in ("train_steps", "train_tokens", "target_ppl", "retention_ppl"):
        assert resumed[key] == reference[key], key
    assert not (run_dir / "resume").exists()


def test_rate_grid_killed_between_rates_trains_only_what_it_lacks_on_relaunch(tmp_path):
    """method.optim.lrs with SIGKILL (no checkpoint: a lost node, a session's end) after some
    rates were scored: the relaunch trains the rates not scored, and the chosen rate again if
    an earlier attempt scored it, and ends with the uninterrupted run's result."""
    grid = (1e-4, 1e-1, 1.0)  # 1e-1 wins (1.0 diverges): the kill lands after it was scored
    args = ["method=full_ft", "trainer.max_steps=20", "trainer.log_every_n_steps=1",
            "eval.validation=true", "method.optim.lrs=[1e-4,1e-1,1]"]
    whole = _launch(["study=whole", *args], tmp_path)
    assert whole.wait(timeout=600) == 0, whole.stderr.read()[-3000:]
    reference = json.loads((tmp_path / "out" / "whole" / run_id(identity([*args, *TINY]))
                            / "metrics.json").read_text())

    proc = _launch(["study=cut", *args], tmp_path)
    run_dir = tmp_path / "out" / "cut" / run_id(identity([*args, *TINY]))
    scores = run_dir / "resume" / "lr-scores"
    _wait_for(lambda: len(list(scores.glob("*.json"))) >= 2, 300, "two rates scored", proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    scored = {float(p.stem) for p in scores.glob("*.json")}
    assert scored == {1e-4, 1e-1}, scored  # killed before the last was scored

    relaunch = _launch(["study=cut", *args], tmp_path)
    assert relaunch.wait(timeout=600) == 0, relaunch.stderr.read()[-3000:]
    resumed = json.loads((run_dir / "metrics.json").read_text())
    for key in ("lr", "lr_on_edge", "target_ppl", "val_target_ppl", "retention_ppl",
                *(f"val_target_ppl_lr_{lr:g}" for lr in grid)):
        assert resumed[key] == reference[key], key
    # The relaunch's log (a fresh one per attempt) holds the rates it trained, no others.
    log = pd.read_csv(run_dir / "logs" / "metrics.csv")
    trained = {float(c.split("/")[0].removeprefix("lr_")) for c in log if c.endswith("/loss")}
    assert reference["lr"] == 1e-1
    assert trained == {1.0, 1e-1}  # the rate never scored; the chosen one, for its test
    assert not (run_dir / "resume").exists()


def test_two_processes_needing_one_cache_entry_build_it_once(tmp_path):
    go, log = tmp_path / "go", tmp_path / "builds.log"
    code = textwrap.dedent(f"""
        import os, time
        from pathlib import Path
        from transplant.cache import cached_dir
        def build(out):
            with open({str(log)!r}, "a") as f:
                f.write(f"{{os.getpid()}}\\n")
            time.sleep(1.0)  # long enough for the other process to arrive and wait
            (out / "value.txt").write_text("built")
        while not Path({str(go)!r}).exists():
            time.sleep(0.01)
        entry = cached_dir("organs", {{"organ": "shared"}}, build, root={str(tmp_path / "c")!r})
        print(entry, (entry / "value.txt").read_text())
    """)
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE,
                              text=True) for _ in range(2)]
    time.sleep(1.0)  # both imported and waiting
    go.touch()
    outputs = [p.communicate(timeout=120)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert outputs[0] == outputs[1] and outputs[0][1] == "built"
    assert len(log.read_text().split()) == 1  # built by one of them, reused by the other
