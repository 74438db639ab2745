import json
import math
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import REPO
from transplant.config import ConfigError
from transplant.results.records import read_study
from transplant.runs import RunRecord, identity, run_dir, run_id


def test_identity_keeps_only_overrides_that_change_the_result():
    ident = identity(["study=s", "experiment=demo", "method=lora", "paths.outputs=/x",
                      "logger=wandb", "trainer.enable_progress_bar=false", "seed=3",
                      "force=true", "trainer.max_steps=5", "hydra.verbose=true"])
    assert ident == {"method": "lora", "seed": "3", "trainer.max_steps": "5"}


def test_run_id_is_deterministic_safe_and_bounded():
    assert run_id({}) == "default"
    assert run_id({"method": "lora", "seed": "1"}) == "method=lora,seed=1"
    odd = run_id({"model.name": "/data/models/x y"})
    assert "/" not in odd and " " not in odd and odd == run_id({"model.name": "/data/models/x y"})
    assert odd != run_id({"model.name": "/data/models/x-y"})  # sanitising never merges runs
    long = run_id({f"k{i}": "v" * 20 for i in range(10)})
    assert len(long) <= 200 and long != run_id({f"k{i}": "v" * 20 for i in range(11)})
    # Whole pairs and a mark where pairs were left out, then the hash of the whole identity.
    assert long.startswith(",".join(f"k{i}={'v' * 20}" for i in range(7)) + ",...-")
    assert len(long.rsplit("-", 1)[1]) == 10


# The organ budget study's in-place run at 40 steps, as Hydra's sweep passes it: a name too
# long to keep whole, which keeps its pairs whole ("=40", never "=4") and hashes the rest.
IN_PLACE = {"method": "organ_in_place", "method.optim.lrs": "[0.0001,0.0003,0.001]",
            "method.optim.lrs_extend": "2", "method.organ.evaluate_wrapper": "False",
            "seed": "0", "trainer.max_steps": "40"}


def test_a_long_run_id_never_cuts_a_value(tmp_path):
    assert run_id(IN_PLACE) == (
        "method=organ_in_place,method.optim.lrs=-0.0001,0.0003,0.001-,method.optim.lrs_extend=2,"
        "method.organ.evaluate_wrapper=False,seed=0,trainer.max_steps=40-5159277e53")
    assert run_dir(tmp_path, IN_PLACE) == tmp_path / run_id(IN_PLACE)


def test_every_archived_run_is_under_the_name_its_identity_gives():
    # A relaunch finds an archived run only under this name (restore copies names as they are).
    for status in (REPO / "experiments").rglob("status.json"):
        identity = json.loads(status.read_text()).get("identity", {})
        assert status.parent.name == run_id(identity), status


def test_run_writes_the_contract(run):
    metrics, run_dir = run(["method=zero_shot"])
    assert sorted(p.name for p in run_dir.iterdir()) == ["config.yaml", "docs", "logs",
                                                         "metric_specs.json", "metrics.json",
                                                         "status.json"]
    specs = {s["name"]: s for s in json.loads((run_dir / "metric_specs.json").read_text())}
    assert set(specs) == set(metrics)  # every metric, and no other
    assert specs["target_ppl"] == {"name": "target_ppl", "kind": "perplexity",
                                   "direction": "lower", "level": "headline", "unit": "",
                                   "label": specs["target_ppl"]["label"]}
    for role in ("target", "retention", "val_target"):  # per-document NLL of each evaluation
        docs = json.loads((run_dir / "docs" / f"{role}.json").read_text())
        assert math.exp(sum(docs["nll"]) / sum(docs["tokens"])) == pytest.approx(
            metrics[f"{role}_ppl"], rel=1e-9)
        assert len(docs["doc_ids"]) == metrics[f"{role}_docs"] and \
            sum(docs["bytes"]) == metrics[f"{role}_bytes"]
    status = json.loads((run_dir / "status.json").read_text())
    assert status["status"] == "done" and status["identity"]["method"] == "zero_shot"
    assert json.loads((run_dir / "metrics.json").read_text())["target_ppl"] == metrics["target_ppl"]
    for key in ("wall_s", "peak_rss_mb", "params_trainable", "train_tokens", "target_bpb",
                "retention_ppl", "target_window", "target_stride"):
        assert key in metrics
    # the run's own CPU time: not the test process's since it started
    assert 0 < metrics["cpu_s"] <= metrics["wall_s"] * os.cpu_count() + 1


def test_relaunched_run_is_skipped_and_untouched(run):
    _, run_dir = run(["method=lora"])
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in run_dir.rglob("*") if p.is_file()}
    again, _ = run(["method=lora"])
    assert again is None
    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in run_dir.rglob("*") if p.is_file()}
    assert after == before


def test_force_reruns_a_done_run(run):
    _, run_dir = run(["method=zero_shot"])
    first = json.loads((run_dir / "status.json").read_text())["start"]
    metrics, _ = run(["method=zero_shot", "force=true"])
    assert metrics is not None
    assert json.loads((run_dir / "status.json").read_text())["start"] > first


def test_done_run_with_another_config_is_not_reused(run):
    # An experiment file edited after a run finished: same identity, different result config.
    _, run_dir = run(["method=lora"])
    config = run_dir / "config.yaml"
    config.write_text(config.read_text().replace("lr: 0.001", "lr: 0.002"))
    with pytest.raises(ConfigError, match=r"method.optim.lr: 0.002 -> 0.001.*force=true"):
        run(["method=lora"])


def test_options_added_to_the_schema_later_do_not_invalidate_done_runs(run):
    _, run_dir = run(["method=lora"])
    config = run_dir / "config.yaml"
    text = config.read_text()
    assert "  trainable:\n" in text
    config.write_text(text.replace("  trainable:\n", "  trainable_from_an_older_version:\n"))
    again, _ = run(["method=lora"])
    assert again is None  # still done, still skipped


def test_diverging_run_is_marked_failed_and_sweep_goes_on(run):
    metrics, run_dir = run(["method=full_ft", "method.optim.lr=1e12", "trainer.max_steps=6",
                            "trainer.gradient_clip_val=null"], multirun=True)
    assert metrics is None
    status = json.loads((run_dir / "status.json").read_text())
    assert status["status"] == "failed"
    assert "DivergenceError" in status["error"] or "FloatingPointError" in status["error"]
    assert not (run_dir / "metrics.json").exists()


def test_failure_outside_a_sweep_raises(run):
    with pytest.raises(Exception, match="training loss is nan|metric .* is"):
        run(["method=full_ft", "method.optim.lr=1e12", "trainer.max_steps=6",
             "trainer.gradient_clip_val=null"])


def test_killed_write_leaves_no_metrics_file(tmp_path):
    # A child writes metrics.json atomically but is SIGKILLed mid-write (inside fsync).
    target = tmp_path / "run" / "metrics.json"
    code = textwrap.dedent(f"""
        import os, sys, time
        from transplant import atomic
        def hang(fd):
            print("writing", flush=True); time.sleep(60)
        os.fsync = hang
        atomic.write_json({str(target)!r}, {{"target_ppl": 1.0, "pad": "x" * 100000}})
    """)
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "writing"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert not target.exists()
    leftovers = list(target.parent.iterdir())
    assert len(leftovers) == 1 and leftovers[0].name.endswith(".tmp")  # never a metrics.json


def test_run_killed_while_running_is_reported_incomplete_and_redone(run, tmp_path):
    _, run_dir = run(["method=zero_shot"])
    status = json.loads((run_dir / "status.json").read_text())
    (run_dir / "metrics.json").unlink()
    status.update(status="running", pid=2**22 + 12345)  # a pid that no longer exists
    (run_dir / "status.json").write_text(json.dumps(status))
    records = read_study(run_dir.parent)
    assert records.done.empty and [r for r, _ in records.incomplete] == [run_dir.name]
    metrics, _ = run(["method=zero_shot"])
    assert metrics is not None and read_study(run_dir.parent).incomplete == []


def test_lora_runs_are_bit_reproducible_and_seeded(run):
    # LoRA's adapter is initialised at random: seeded at the start of the run, the same
    # config gives the same numbers whatever ran before, and another seed gives others.
    first, _ = run(["method=lora"], study="a")
    run(["method=full_ft"], study="b")  # consumes random numbers in between
    again, _ = run(["method=lora"], study="c")
    other, _ = run(["method=lora", "seed=1"], study="d")
    keys = ("target_ppl", "retention_ppl", "val_target_ppl")
    assert [first[k] for k in keys] == [again[k] for k in keys]
    assert first["target_ppl"] != other["target_ppl"]


def test_run_records_code_and_library_versions(run):
    import torch
    import transformers

    metrics, run_dir = run(["method=zero_shot"])
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                          text=True).stdout.strip()
    assert metrics["code_commit"] == head and isinstance(metrics["code_dirty"], bool)
    assert metrics["torch_version"] == torch.__version__
    assert metrics["transformers_version"] == transformers.__version__
    status = json.loads((run_dir / "status.json").read_text())
    assert status["code_commit"] == head


def test_code_is_dirty_when_the_package_changes_not_when_a_run_archive_does(tmp_path):
    # A study's sweep rewrites its run records in git (experiments/<study>/runs) while it runs;
    # that must not mark its own runs' code as dirty. A changed module or config must.
    from transplant.provenance import code_state

    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    files = {"transplant/m.py": "x = 1\n", "conf/config.yaml": "a: 1\n",
             "experiments/s/runs/r/metrics.json": "{}\n", "README.md": "r\n"}
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c")
    head = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "HEAD"],
                          capture_output=True, text=True).stdout.strip()
    assert code_state(tmp_path) == (head, False)
    (tmp_path / "experiments/s/runs/r/metrics.json").write_text('{"ppl": 1}\n')
    (tmp_path / "README.md").write_text("results\n")
    (tmp_path / "untracked.py").write_text("")
    assert code_state(tmp_path) == (head, False)
    for name in ("transplant/m.py", "conf/config.yaml"):
        (tmp_path / name).write_text("changed\n")
        assert code_state(tmp_path) == (head, True)
        git("checkout", "--", name)
    assert code_state(tmp_path / "experiments") == (None, None)  # not a checkout's root


def test_mixed_commits_are_told_apart_by_the_code_a_run_executes(tmp_path):
    # A table of runs from several commits says which of the run's code differs between them:
    # documentation, run records and the report's own code compute no run's number.
    from transplant.provenance import run_code_differences

    def git(*args):
        return subprocess.run(["git", "-C", str(tmp_path), *args], check=True,
                              capture_output=True, text=True).stdout.strip()

    def commit(name, text):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
        git("add", ".")
        git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", name)
        return git("rev-parse", "HEAD")

    git("init", "-q")
    first = commit("transplant/methods/m.py", "lr = 1\n")
    docs = commit("README.md", "r\n")
    report = commit("transplant/results/report.py", "table = 1\n")
    runs = commit("experiments/s/runs/r/metrics.json", "{}\n")
    assert run_code_differences([first, docs, report, runs], tmp_path) == []
    method = commit("transplant/methods/m.py", "lr = 2\n")
    config = commit("conf/method/m.yaml", "lr: 2\n")
    assert run_code_differences([docs, method], tmp_path) == ["transplant/methods/m.py"]
    assert run_code_differences([method, config, first], tmp_path) == [
        "conf/method/m.yaml", "transplant/methods/m.py"]
    assert run_code_differences([first, "0" * 40], tmp_path) is None  # not in this checkout
    assert run_code_differences([first, method], tmp_path / "experiments") is None


def test_a_saved_adapter_loads_with_plain_peft_from_anywhere(run, tmp_path, monkeypatch):
    from peft import AutoPeftModelForCausalLM

    from transplant.models import load_model

    model, tok = load_model("tiny_qwen2")
    model.save_pretrained(tmp_path / "base")
    tok.save_pretrained(tmp_path / "base")
    metrics, run_dir = run([f"model.name={tmp_path / 'base'}", "method=lora"])
    config = json.loads((run_dir / "adapter" / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str((tmp_path / "base").resolve())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    loaded = AutoPeftModelForCausalLM.from_pretrained(run_dir / "adapter")
    trained = {k: v for k, v in loaded.state_dict().items() if "lora_B" in k}
    assert trained and any(v.abs().sum() > 0 for v in trained.values())  # trained, not init


def test_results_are_written_with_the_umask_permissions(tmp_path):
    # Atomic writes go through a temporary file (mkstemp makes it 0600): the result must get
    # the permissions the umask gives, so teammates on a shared filesystem can read it.
    from transplant.atomic import replacing, write_json

    old = os.umask(0o022)
    try:
        write_json(tmp_path / "metrics.json", {"x": 1})
        with replacing(tmp_path / "adapter", directory=True) as tmp:
            (tmp / "f").write_text("w")
    finally:
        os.umask(old)
    assert (tmp_path / "metrics.json").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "adapter").stat().st_mode & 0o777 == 0o755


def test_a_failed_write_leaves_no_temporary_and_the_old_content(tmp_path):
    from transplant.atomic import replacing

    (tmp_path / "adapter").mkdir()
    (tmp_path / "adapter" / "old").write_text("previous")
    with pytest.raises(OSError, match="No space left"), \
            replacing(tmp_path / "adapter", directory=True) as tmp:
        (tmp / "half").write_text("partial")
        raise OSError(28, "No space left on device")
    assert [p.name for p in tmp_path.iterdir()] == ["adapter"]
    assert [p.name for p in (tmp_path / "adapter").iterdir()] == ["old"]


def test_a_rerun_never_shows_an_earlier_attempts_adapter(run, tmp_path):
    # An earlier attempt of this grid point left its adapter; this attempt diverges before
    # saving one: the old adapter must not remain beside the failed status.
    overrides = ["method=full_ft", "method.optim.lr=1e12", "trainer.gradient_clip_val=null",
                 "trainer.max_steps=6"]
    from tests.conftest import FAST
    from transplant.runs import identity, run_id

    run_dir = tmp_path / "out" / "t" / run_id(identity([*FAST, "study=t", *overrides]))
    (run_dir / "adapter").mkdir(parents=True)
    (run_dir / "adapter" / "adapter_model.safetensors").write_bytes(b"from an earlier attempt")
    metrics, _ = run(overrides, multirun=True)
    assert metrics is None and json.loads((run_dir / "status.json").read_text())["status"] == \
        "failed"
    assert not (run_dir / "adapter").exists()


def test_a_resumed_runs_cost_counts_the_preempted_attempts_it_resumes(tmp_path):
    record = RunRecord(tmp_path / "run", {"seed": "0"})
    record.start("seed: 0\n")
    record.preempt("SIGUSR1", {"cpu_s": 3.0, "wall_s": 2.0})
    (record.dir / "resume").mkdir()  # the checkpoint the next attempt resumes
    record.start("seed: 0\n")
    assert record.spent() == {"cpu_s": 3.0, "wall_s": 2.0}
    record.preempt("SIGUSR1", {"cpu_s": 0.5, "wall_s": 0.25})
    assert record.spent() == {"cpu_s": 3.5, "wall_s": 2.25}
    assert record.status()["attempts"] == 2

    # Without its checkpoint (removed as stale, or never written) nothing earlier is reused.
    (record.dir / "resume").rmdir()
    record.start("seed: 0\n")
    assert record.spent() == {}
    # Nor after a failure: a failed attempt's work is not what the next one continues.
    record.preempt("SIGUSR1", {"cpu_s": 1.0, "wall_s": 1.0})
    record.fail("boom")
    (record.dir / "resume").mkdir()
    record.start("seed: 0\n")
    assert record.spent() == {}
