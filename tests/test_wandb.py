import json
import os
import subprocess
import sys

from tests.conftest import REPO
from transplant.results.wandb_offline import run_summary


def test_multirun_logs_every_job_as_its_own_offline_wandb_run(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "transplant", "-m", "method=zero_shot,lora", "model=tiny_llama",
         "logger=wandb", "logger.tags=[paper]", "study=wb", f"paths.outputs={tmp_path}",
         "trainer.max_steps=2",
         "trainer.batch_size=2", "data.block_size=32", "eval.max_tokens=128", "eval.window=64",
         "eval.stride=32", "trainer.enable_progress_bar=false"],
        cwd=REPO, capture_output=True, text=True,
        env={**os.environ, "WANDB_SILENT": "true", "TRANSPLANT_CACHE": str(tmp_path / "c")})
    assert out.returncode == 0, out.stderr[-3000:]
    for method in ("zero_shot", "lora"):
        run_dirs = [p for p in (tmp_path / "wb").glob("*/status.json")
                    if json.loads(p.read_text())["identity"]["method"] == method]
        run_dirs = [p.parent for p in run_dirs]
        assert len(run_dirs) == 1
        files = list(run_dirs[0].glob("logs/wandb/offline-run-*/run-*.wandb"))
        assert len(files) == 1  # one W&B run per job, finished before the next began
        summary = run_summary(files[0])
        metrics = json.loads((run_dirs[0] / "metrics.json").read_text())
        assert (summary["group"], summary["job_type"]) == ("wb", method)
        assert summary["tags"] == ["paper", method, "model:tiny_llama"]
        assert summary["exit_code"] == 0
        assert summary["config"]["identity"]["method"] == method
        assert summary["summary"]["target_ppl"] == metrics["target_ppl"]
        assert summary["summary"]["params_trainable"] == metrics["params_trainable"]
        if method == "lora":  # the adapter, saved beside the run and logged as an artifact
            adapter = run_dirs[0] / "adapter"
            assert metrics["adapter"] == str(adapter)
            (artifact,) = summary["artifacts"]
            assert artifact["type"] == "adapter" and len(artifact["name"]) <= 128
            assert artifact["name"].startswith("adapter-data.block_size-32-eval.max_tokens-128")
            assert artifact["files"] == sorted(p.name for p in adapter.iterdir())
            assert "adapter_model.safetensors" in artifact["files"]
        else:
            assert summary["artifacts"] == []
