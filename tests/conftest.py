from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from transplant.app import CONF_DIR
from transplant.models.tokenizer import byte_tokenizer
from transplant.results.specs import MetricSpecs

REPO = Path(__file__).resolve().parent.parent


def pytest_configure(config):
    # The warnings a run silences (transplant/console.py) are silenced in tests too.
    from transplant.console import HARMLESS

    for message in HARMLESS:
        config.addinivalue_line("filterwarnings", f"ignore:{message}")


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch, request):
    """Each fast test gets its own cache; slow tests share the repo cache (dequantised models)."""
    if "slow" not in request.keywords:
        monkeypatch.setenv("TRANSPLANT_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def tokenizer():
    return byte_tokenizer()


def compose_cfg(overrides: list[str]) -> DictConfig:
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose("config", overrides=overrides, return_hydra_config=False)


FAST = ["model=tiny_llama", "trainer.max_steps=2", "trainer.batch_size=2", "data.block_size=32",
        "eval.max_tokens=256", "eval.window=64", "eval.stride=32",
        "trainer.enable_progress_bar=false"]


@pytest.fixture(autouse=True)
def every_metric_is_declared(caplog):
    """Whatever a test runs, each metric it records has a spec its method declared (app.py
    warns of the others): the whole suite checks every method's declarations."""
    yield
    undeclared = [r.getMessage() for r in caplog.records
                  if r.getMessage().startswith("metrics without a spec")]
    assert undeclared == []


@pytest.fixture
def run(tmp_path):
    """Run one job in-process the way the CLI does; returns (metrics, run_dir)."""
    from transplant.app import run_job
    from transplant.runs import identity, run_id

    def _run(overrides: list[str], study: str = "t", multirun: bool = False):
        ovr = [*FAST, f"study={study}", f"paths.outputs={tmp_path / 'out'}", *overrides]
        cfg = compose_cfg(ovr)
        metrics = run_job(cfg, ovr, multirun=multirun)
        return metrics, tmp_path / "out" / study / run_id(identity(ovr))

    return _run


def legacy(frame: Any) -> MetricSpecs:
    """The specs a study of records older than metric specs gets (results/specs.py), for
    frames (or lists of row dicts) built by hand in their style."""
    import pandas as pd

    frame = frame if isinstance(frame, pd.DataFrame) else pd.DataFrame(frame)
    return MetricSpecs.legacy(frame.columns)
