"""What a metric is travels with the run (metric_specs.json) and is all the report knows of it:
a new method's metric reaches the report with no edit in results/, and the report never
guesses a metric's direction from its name."""

from __future__ import annotations

import importlib
import textwrap

import pandas as pd
import pytest
from hydra.core.config_store import ConfigStore

from tests.conftest import REPO
from transplant.metrics import HIGHER, Direction, Kind, MetricSpec, resolve, spec
from transplant.results.records import read_study
from transplant.results.specs import MetricSpecs, legacy_spec
from transplant.results.stats import is_lower_better

# A method as a researcher adds one, outside the package: its file declares a metric the
# report has never seen (higher is better, though its name says nothing of it).
TOY = '''
from dataclasses import dataclass

from transplant.config import MethodConfig
from transplant.methods.common import load
from transplant.methods.method import Method
from transplant.metrics import HIGHER, SUMMARY, HEADLINE, Kind, spec


@dataclass
class ToyConfig(MethodConfig):
    name: str = "toy"
    noise: float = 0.0


def agreement(model, noise: float, seed: int) -> float:
    """How often the model's next-token argmax survives Gaussian noise on its weights."""
    import copy

    import torch

    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, model.config.vocab_size, (4, 16), generator=g)
    noisy = copy.deepcopy(model)
    with torch.no_grad():
        for p in noisy.parameters():
            p.add_(noise * torch.randn(p.shape, generator=g))
        same = model(ids).logits.argmax(-1) == noisy(ids).logits.argmax(-1)
    return float(same.float().mean())


def run(cfg, ctx):
    model, _ = load(cfg, ctx)
    return {"toy_agreement": agreement(model, cfg.method.noise, 100 + cfg.seed),
            "val_toy_agreement": agreement(model, cfg.method.noise, 200 + cfg.seed),
            "toy_layers": model.config.num_hidden_layers}


METHOD = Method("toy", ToyConfig, run, trains_on_target=False, metrics=(
    spec("toy_agreement", Kind.ratio, HIGHER, HEADLINE, label="argmax agreement under noise"),
    spec("val_toy_agreement", Kind.ratio, HIGHER, SUMMARY),
    spec("toy_layers", Kind.count, level=SUMMARY)))
'''


def test_a_new_method_reaches_the_report_through_its_specs(run, tmp_path, monkeypatch):
    from transplant.methods import METHODS
    from transplant.results.report import write_report

    (tmp_path / "toy_method.py").write_text(textwrap.dedent(TOY))
    monkeypatch.syspath_prepend(str(tmp_path))
    toy = importlib.import_module("toy_method").METHOD
    monkeypatch.setitem(METHODS, "toy", toy)
    ConfigStore.instance().store(group="method", name="toy", node=toy.schema)

    for noise in (0.0, 5.0):
        for seed in (0, 1):
            run(["method=toy", f"method.noise={noise}", f"seed={seed}"], study="toy")
    study = tmp_path / "out" / "toy"
    records = read_study(study)
    assert records.specs["toy_agreement"].direction == Direction.higher
    md = write_report(study, select="method.noise", by="val_toy_agreement", html=True)
    # Higher agreement wins: no noise (a rule by name would have taken the lower, 5.0).
    selection = md[md.index("## Selection"):md.index("## Arms")]
    assert "highest mean val_toy_agreement" in selection
    summary = pd.read_csv(study / "_report" / "summary.csv")
    assert summary["toy_agreement"].tolist() == [1.0]
    # Columns in the order the method declared them, the run's cost last.
    columns = [c for c in summary.columns if c.startswith(("toy", "val_toy", "wall"))]
    assert columns == ["toy_agreement", "val_toy_agreement", "toy_layers", "wall_s"]
    arms = md[md.index("## Arms"):].split("\n## ")[0]
    assert "toy_agreement" in arms and "toy_layers" in arms
    page = (study / "_report" / "report.html").read_text()
    assert "argmax agreement under noise" in page  # its label, on its figure


def test_the_report_ranks_gap_recovery_higher_is_better():
    # Declared by graft (and by the report, which also computes it), and read from old
    # records by the rules of their time, corrected: the old rule said lower-is-better.
    from transplant.methods import METHODS

    declared, _ = resolve({"gap_recovery_ppl": 0.5, "gap_recovery_acc": 0.1},
                          METHODS["graft"].metrics)
    specs = MetricSpecs(declared)
    for m in ("gap_recovery_ppl", "gap_recovery_acc"):
        assert not is_lower_better(specs[m])
        assert not is_lower_better(MetricSpecs()[m])  # the report's own derived spec
        assert legacy_spec(m).direction == HIGHER and not legacy_spec(m).geometric


def test_a_metric_without_a_direction_cannot_choose():
    specs = MetricSpecs({"train_tokens": spec("train_tokens", Kind.count)})
    with pytest.raises(ValueError, match=r"train_tokens \(count\) is not better or worse"):
        is_lower_better(specs["train_tokens"])


def test_resolve_takes_the_first_declared_spec_and_lists_the_undeclared():
    declared = [spec("target_ppl", Kind.perplexity, Direction.lower),
                spec("*_ppl_lr_*", Kind.perplexity, Direction.lower),
                spec("*_ppl", Kind.value)]
    specs, missing = resolve({"x": 1, "val_target_ppl_lr_0.001": 3.0, "target_ppl": 2.0,
                              "note": "text"}, declared)
    assert list(specs) == ["target_ppl", "val_target_ppl_lr_0.001", "x", "note"]
    assert specs["val_target_ppl_lr_0.001"] == MetricSpec(
        "val_target_ppl_lr_0.001", Kind.perplexity, Direction.lower)
    assert missing == ["x", "note"] and specs["note"].kind == Kind.text


def test_two_runs_ranking_a_metric_both_ways_are_named():
    up = {"score": spec("score", Kind.value, Direction.higher)}
    down = {"score": spec("score", Kind.value, Direction.lower)}
    with pytest.raises(ValueError, match="metric 'score' is declared higher-is-better by one"):
        MetricSpecs.merged([up, down])


ARCHIVES = ("graft/runs", "grow/runs", "grow/outside_grid", "not/runs/budget",
            "not/runs/positions", "theseus/runs/widths", "theseus/runs/task", "zoo/runs")


@pytest.mark.parametrize("archive", ARCHIVES)
def test_archived_records_still_read(archive):
    # Records archived before runs wrote specs: every metric gets a spec by the rules of
    # their time, and graft's sentiment scores read under today's names.
    folder = REPO / "experiments" / archive
    assert not any((p / "metric_specs.json").exists() for p in folder.iterdir())
    records = read_study(folder)
    assert not records.done.empty and records.failed == []
    assert "sentiment_acc" not in records.done
    headline = records.specs.headline(records.done.columns)
    assert headline in ("target_ppl", "target_acc")
    assert records.specs[headline].direction != Direction.none
    if "retention_ppl" in records.done:
        assert records.specs["retention_ppl"].geometric
    assert all(m in records.specs for m in records.done.columns
               if m not in records.identity and m != "run")
