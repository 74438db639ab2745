"""A run's console carries the run's progress, not library noise (known-harmless warnings and
transformers' weight-loading bar are silenced where the run starts)."""

import subprocess
import sys

from tests.conftest import FAST, REPO

NOISE = ("The `srun` command is available", "LeafSpec", "Loading weights", "Warning:")


def test_a_training_run_prints_no_library_noise(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "transplant", *FAST, "method=lora", "study=console",
         f"paths.outputs={tmp_path / 'out'}", f"paths.cache={tmp_path / 'cache'}"],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    console = out.stdout + out.stderr
    assert "done " in console  # the run's own summary line is there
    assert [n for n in NOISE if n in console] == [], console
