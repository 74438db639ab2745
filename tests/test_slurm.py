"""Sweeps on a real one-node SLURM cluster on this machine (scripts/slurm-local.sh), launched
through Hydra's submitit launcher. CI runs these as root; elsewhere they need a running
cluster (`sudo scripts/slurm-local.sh start`)."""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.test_resume import TINY, _statuses, _wait_for
from transplant.results.records import read_study

pytestmark = pytest.mark.slurm

LAUNCHER = ["hydra/launcher=slurm", "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=2",
            "hydra.launcher.timeout_min=20"]


def _cluster_answers() -> bool:
    if shutil.which("sinfo") is None:
        return False
    result = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True)
    return result.returncode == 0 and any(s in result.stdout for s in ("idle", "mix", "alloc"))


@pytest.fixture(scope="module")
def cluster():
    if not _cluster_answers():
        if os.geteuid() != 0:
            pytest.skip("no SLURM cluster answers and starting one needs root "
                        "(sudo scripts/slurm-local.sh start)")
        subprocess.run([str(REPO / "scripts" / "slurm-local.sh"), "start"], check=True)
    assert _cluster_answers()


def _state(job: str) -> str:
    return subprocess.run(["squeue", "-h", "-j", job, "-o", "%T"], capture_output=True,
                          text=True).stdout.strip()


def _sweep(args: list[str], out: Path) -> subprocess.Popen:
    env = {**os.environ, "TRANSPLANT_CACHE": str(out / "cache"), "TQDM_DISABLE": "1"}
    return subprocess.Popen([sys.executable, "-m", "transplant", "-m", *LAUNCHER, *args, *TINY,
                             f"paths.outputs={out}"], cwd=REPO, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_four_point_sweep_through_submitit_slurm(cluster, tmp_path):
    proc = _sweep(["study=sl", "method=zero_shot,lora", "seed=0,1", "trainer.max_steps=4"],
                  tmp_path)
    log = proc.communicate(timeout=900)[0]
    assert proc.returncode == 0, log[-3000:]
    statuses = _statuses(tmp_path / "sl")
    assert len(statuses) == 4 and all(s["status"] == "done" for s in statuses.values())
    # Each grid point ran as its own SLURM job (an array task), not in the launching process.
    assert len({s["slurm_job_id"] for s in statuses.values()}) == 4
    assert all(s["pid"] != proc.pid for s in statuses.values())

    report = subprocess.run([sys.executable, "-m", "transplant.results.report",
                             str(tmp_path / "sl")], cwd=REPO, capture_output=True, text=True)
    assert report.returncode == 0, report.stderr
    table = (tmp_path / "sl" / "_report" / "report.csv").read_text().splitlines()
    assert len(table) == 1 + 4
    records = read_study(tmp_path / "sl")
    points = zip(records.done["method"], records.done["seed"].astype(int), strict=True)
    assert sorted(points) == [("lora", 0), ("lora", 1), ("zero_shot", 0), ("zero_shot", 1)]


def test_time_limit_signal_checkpoints_requeues_and_resumes(cluster, tmp_path):
    """USR2 is what submitit asks SLURM to send before the time limit. The job checkpoints at
    the next step, requeues itself, and the requeued job resumes to the result of a run that
    was never interrupted (computed here, outside SLURM)."""
    train = ["study=rq", "method=full_ft", "trainer.max_steps=300", "trainer.log_every_n_steps=1"]
    proc = _sweep(train, tmp_path)
    study = tmp_path / "rq"
    _wait_for(lambda: any(study.glob("*/logs/metrics.csv")), 600, "training to start")
    run_dir = next(study.glob("*/logs/metrics.csv")).parent.parent
    job = json.loads((run_dir / "status.json").read_text())["slurm_job_id"]
    subprocess.run(["scancel", f"--signal={signal.SIGUSR2.name[3:]}", job], check=True)

    def preempted() -> bool:
        return json.loads((run_dir / "status.json").read_text())["status"] == "preempted"

    _wait_for(preempted, 300, "the job to checkpoint")
    # Slurm holds a requeued job for two minutes before it is eligible again; don't wait. The
    # hold is set when the job is requeued, which follows `preempted`: lift it after that.
    _wait_for(lambda: _state(job) == "PENDING", 300, "the job to requeue")
    subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], check=True)
    log = proc.communicate(timeout=900)[0]
    assert proc.returncode == 0, log[-3000:]

    status = json.loads((run_dir / "status.json").read_text())
    assert (status["status"], status["slurm_restart_count"], status["attempts"]) == ("done", "1", 2)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert 0 < metrics["resumed_step"] < 300

    env = {**os.environ, "TRANSPLANT_CACHE": str(tmp_path / "cache")}
    whole = subprocess.run([sys.executable, "-m", "transplant", *train[1:], "study=whole", *TINY,
                            f"paths.outputs={tmp_path}"], cwd=REPO, env=env,
                           capture_output=True, text=True)
    assert whole.returncode == 0, whole.stderr[-3000:]
    reference = json.loads((tmp_path / "whole" / run_dir.name / "metrics.json").read_text())
    for key in ("train_steps", "train_tokens", "target_ppl", "retention_ppl"):
        assert metrics[key] == reference[key], key


def test_portability_points_on_slurm_share_one_origin_module(cluster, tmp_path):
    # The three conditions of one grid cell as one job array: array tasks that run at once race
    # for the origin module; the cache's lock lets one build it and the others reuse it.
    proc = _sweep(["study=port", "method=peft_port", "method.module.kind=lora",
                   "data=movie_reviews", "method.origin.data=movie_reviews",
                   "method.val_items=16", "method.test_items=32", "trainer.max_steps=2",
                   "method.condition=ported,sampled,scratch"], tmp_path)
    log = proc.communicate(timeout=900)[0]
    assert proc.returncode == 0, log[-3000:]
    records = read_study(tmp_path / "port").done
    assert sorted(records["method.condition"]) == ["ported", "sampled", "scratch"]
    assert len({s["slurm_job_id"] for s in _statuses(tmp_path / "port").values()}) == 3
    modules = [p for p in (tmp_path / "cache" / "peft_modules").iterdir() if p.is_dir()]
    assert len(modules) == 1
    # Ported and sampled read the same origin module and score it identically.
    ported = records[records["method.condition"] == "ported"].iloc[0]
    sampled = records[records["method.condition"] == "sampled"].iloc[0]
    assert ported["origin_acc"] == sampled["origin_acc"] and ported["origin_n"] == 32
