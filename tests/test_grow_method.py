import pytest

from tests.conftest import compose_cfg
from transplant.config import ConfigError
from transplant.validation import validate


def test_grow_freeze_learns_without_touching_the_original_function(run):
    metrics, _ = run(["method=grow", "trainer.max_steps=20", "method.optim.lr=3e-3",
                      "method.optim.warmup_steps=0"])
    # Before training the grown model equals the original: `before_*` are its perplexities.
    zero, _ = run(["method=zero_shot"])
    assert metrics["before_target_ppl"] == pytest.approx(zero["target_ppl"], rel=1e-5)
    # 4 layers x (gate + up rows + down columns) of 128 new units at hidden 64
    assert metrics["params_trainable"] == 4 * 3 * 128 * 64
    assert metrics["params_added"] == 4 * 3 * 128 * 64
    # It learns: only the new units train, and 20 steps take a fifth off the target
    # perplexity (258 -> 201 here); a growth whose copies never reached the output would not.
    assert metrics["target_ppl"] < 0.85 * metrics["before_target_ppl"]


def test_the_evaluation_before_growth_is_shared_by_runs_from_the_same_model(run, tmp_path):
    # Every run of a sweep starts from the same model: its `before_*` evaluation is computed
    # once per model, data and evaluation settings and read back by the others.
    import json

    first, _ = run(["method=grow", "trainer.max_steps=1"])
    entries = list((tmp_path / "out" / "cache" / "evals").glob("*/reference.json"))
    assert len(entries) == 1
    stored = json.loads(entries[0].read_text())
    assert stored["target_ppl"] == first["before_target_ppl"]
    # Marked, the entry shows up in the next run's numbers: it was read, not recomputed.
    entries[0].write_text(json.dumps({**stored, "target_ppl": 1234.5}))
    second, _ = run(["method=grow_train", "trainer.max_steps=1"])
    assert second["before_target_ppl"] == 1234.5
    # Other evaluation settings are another model evaluation, computed afresh.
    other, _ = run(["method=grow", "trainer.max_steps=1", "eval.stride=16"])
    assert other["before_target_ppl"] not in (1234.5, first["before_target_ppl"])
    assert len(list((tmp_path / "out" / "cache" / "evals").glob("*/reference.json"))) == 2


def test_mlp_ft_control_trains_the_mlps_without_growing(run):
    metrics, _ = run(["method=mlp_ft", "trainer.max_steps=2"])
    zero, _ = run(["method=zero_shot"])
    # 4 layers x (gate + up + down) at hidden 64, 128 units: G-Train's weights before growth
    assert metrics["params_trainable"] == 4 * 3 * 128 * 64
    assert metrics["params_total"] == zero["params_total"]
    assert metrics["target_ppl"] != zero["target_ppl"]


def test_grow_depth_adds_and_trains_exactly_two_blocks(run):
    from transplant.models import decoder_layers, load_model

    metrics, _ = run(["method=grow_depth", "method.grow.layers=first:2", "trainer.max_steps=2"])
    block = sum(p.numel() for p in decoder_layers(load_model("tiny_llama")[0])[0].parameters())
    assert metrics["params_added"] == metrics["params_trainable"] == 2 * block


@pytest.mark.parametrize("override,message", [
    ("method.grow.copies=1", "method.grow.copies=1 is invalid: expected an integer >= 2"),
    ("method.optim.weight_decay=0.1", "method.optim.weight_decay=0.1 is invalid: expected 0 "
                                      "with method.grow.policy=freeze"),
    ("method.grow.layers=even:9", "method.grow.layers='even:9' is invalid: layer rule"),
    ("method.grow.layers=bogus", "method.grow.layers='bogus' is invalid: layer rule 'bogus': "
                                 "expected all, first:N, last:N, even:N"),
    ("method.grow.layers=first:9", "method.grow.layers='first:9' is invalid: layer rule"),
])
def test_bad_grow_config_names_the_key(override, message):
    cfg = compose_cfg(["model=tiny_llama", "method=grow", override])
    with pytest.raises(ConfigError) as err:
        validate(cfg)
    assert message in str(err.value)


def test_bad_mlp_ft_layers_names_the_key():
    cfg = compose_cfg(["model=tiny_llama", "method=mlp_ft", "method.trainable.layers=last:9"])
    with pytest.raises(ConfigError, match=r"method.trainable.layers='last:9' is invalid: layer "
                                          r"rule 'last:9'"):
        validate(cfg)
