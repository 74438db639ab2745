import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hydra.errors import ConfigCompositionException

from tests.conftest import FAST, REPO, compose_cfg
from transplant.config import ConfigError
from transplant.validation import validate

CONF_EXPERIMENTS = REPO / "conf" / "experiment"
EXPERIMENTS = sorted(CONF_EXPERIMENTS.rglob("*.yaml"))


def _name(path: Path) -> str:
    """`experiment=<name>`: the file's path in the group, `not/budget` for not/budget.yaml."""
    return path.relative_to(CONF_EXPERIMENTS).with_suffix("").as_posix()


def _sweep_methods(path: Path) -> list[str]:
    params = (yaml.safe_load(path.read_text()).get("hydra") or {}).get("sweeper", {})
    methods = params.get("params", {}).get("method")
    return methods.split(",") if methods else [None]


@pytest.mark.parametrize("path", EXPERIMENTS, ids=_name)
def test_experiment_names_its_command_first(path):
    lines = path.read_text().splitlines()
    assert lines[0] == "# @package _global_"  # Hydra reads the package only on the first lines
    assert lines[1].startswith("# ") and f"experiment={_name(path)}" in lines[1] + lines[2]


@pytest.mark.parametrize("path", EXPERIMENTS, ids=_name)
def test_a_study_is_one_folder_with_one_name(path):
    # experiment=not/budget writes study not/budget (outputs/not/budget); its grid, report and
    # README are in experiments/not (a second experiment of a study, theseus/baselines, writes
    # into theirs).
    name = _name(path)
    study = compose_cfg([f"experiment={name}", "model=tiny_llama"]).study
    folder = name.split("/")[0]
    assert study == name or study.split("/")[0] == folder
    assert (REPO / "experiments" / folder / "README.md").exists()


@pytest.mark.parametrize("path", EXPERIMENTS, ids=_name)
def test_every_experiment_runs_one_step_on_a_tiny_model(path, run):
    for method in _sweep_methods(path):
        overrides = [f"experiment={_name(path)}", *([f"method={method}"] if method else []),
                     "model=tiny_llama", "trainer.max_steps=1", "eval.max_tokens=64",
                     "eval.window=64", "eval.stride=32", "data.block_size=32"]
        name = compose_cfg(overrides).method.name
        if name == "pretrain":  # tiny shapes, byte tokenizer
            overrides += ["method.recipe.tokenizer=tiny_llama", "method.recipe.hidden=32"]
        if name == "graft":  # accuracy on a few tweets, not the whole test split
            overrides += ["method.graft.accuracy_items=16", "method.graft.workload_size=8"]
        if name == "peft_port":  # the tiny model on both sides; a few examples scored
            overrides += ["method.origin.model=null", "method.test_items=16",
                          "method.val_items=16"]
        if name == "theseus":  # the tiny model on both sides
            overrides += ["method.source=tiny_llama", "method.calibration_blocks=16"]
        overrides.append("model.name=tiny_llama")  # also where the study names its models
        metrics, run_dir = run(overrides, study=path.stem)
        assert metrics is not None and (run_dir / "metrics.json").exists()
        cfg = compose_cfg([*FAST, *overrides])
        trains = cfg.method.name not in ("zero_shot", "graft", "theseus")  # training-free
        if cfg.method.name == "peft_port":  # labelled examples: their tokens, unpadded
            assert metrics["train_steps"] == 1 and metrics["train_tokens"] > 0
        else:
            assert metrics["train_tokens"] == (cfg.trainer.batch_size * 32 if trains else 0)


@pytest.mark.parametrize("override,message", [
    ("trainer.max_steps=-1", "trainer.max_steps=-1 is invalid: expected an integer >= 0"),
    ("data.domain=klingon", "data.domain='klingon' is invalid: expected one of fortunes, "),
    ("eval.retention=nope", "eval.retention='nope' is invalid"),
    ("eval.window=100000", "eval.window=100000 is invalid: expected at most the model's "
                           "context length 512 (tiny_llama)"),
    ("eval.stride=300", "eval.stride=300 is invalid: expected less than eval.window=256"),
    ("method.optim.lr=0", "method.optim.lr=0.0 is invalid: expected a number > 0"),
    ("method.optim.lrs=[1e-4,0]", "method.optim.lrs=[0.0001, 0.0] is invalid: expected a "
                                  "non-empty list of numbers > 0"),
    ("method.optim.lrs=[]", "method.optim.lrs=[] is invalid: expected a non-empty list"),
    ("data.block_size=0", "data.block_size=0 is invalid: expected an integer > 0"),
])
def test_bad_value_names_the_key_and_accepted_values(override, message):
    cfg = compose_cfg(["model=tiny_llama", override])
    with pytest.raises(ConfigError) as err:
        validate(cfg)
    assert message in str(err.value)


@pytest.mark.parametrize("overrides,key,accepted", [
    (["method=lora", "method.trainable.name=some"], "method.trainable.name",
     "all, lora, mlp, projections, subset"),
    (["method=organ", "method.organ.mode=sideways"], "method.organ.mode", "replace, insert"),
    (["method=graft", "method.graft.select=best"], "method.graft.select",
     "activation, random, random_matched, bottom"),
    (["logger.name=tensorboard"], "logger.name", "csv, wandb, none"),
])
def test_a_fixed_choice_lists_what_it_accepts(overrides, key, accepted):
    with pytest.raises(ConfigCompositionException) as err:
        compose_cfg(overrides)
    text = f"{err.value} {err.value.__cause__}"
    assert key.split(".")[-1] in text and f"expected one of [{accepted}]" in text


def test_each_method_refuses_another_methods_keys():
    # Options belong to their method's schema: organ options do not exist under method=lora.
    with pytest.raises(ConfigCompositionException, match="method.organ.position"):
        compose_cfg(["method=lora", "method.organ.position=0"])
    with pytest.raises(ConfigCompositionException, match="method.trainable"):
        compose_cfg(["method=zero_shot", "method.trainable.name=lora"])


def test_lora_rank_is_checked():
    with pytest.raises(ConfigError, match="method.trainable.lora.r=0 is invalid: expected an "
                                          "integer > 0"):
        validate(compose_cfg(["model=tiny_llama", "method=lora", "method.trainable.lora.r=0"]))


def test_checks_read_model_facts_and_write_nothing(tmp_path):
    # An organ from SmolLM2 into Gemma-3 is refused from the embedded models' facts: nothing
    # is dequantised (that took most of a minute) and nothing is written, in paths.cache or
    # in the working directory.
    out = subprocess.run([sys.executable, "-m", "transplant", "model=smollm2_135m",
                          "method=organ", "method.organ.recipient=gemma3_270m",
                          "method.organ.position=999", f"paths.cache={tmp_path / 'cache'}",
                          f"paths.outputs={tmp_path / 'out'}"], cwd=tmp_path,
                         capture_output=True, text=True,
                         env={k: v for k, v in os.environ.items() if k != "TRANSPLANT_CACHE"})
    assert out.returncode == 2, out.stderr[-2000:]
    assert ("method.organ.recipient='gemma3_270m' is invalid: expected a model the donor's "
            "organ fits (donor vs recipient: family llama != gemma3; hidden 576 != 640") \
        in out.stderr
    assert not (tmp_path / "cache").exists() and not (tmp_path / "outputs").exists()
    assert [p.name for p in (tmp_path / "out" / "default").iterdir()] == ["_launches"]


def test_organ_position_is_checked_against_the_recipient():
    cfg = compose_cfg(["model=tiny_llama", "method=organ", "method.organ.recipient=tiny_mistral",
                       "method.organ.position=3"])
    with pytest.raises(ConfigError, match="family llama != mistral"):
        validate(cfg)
    cfg = compose_cfg(["model=tiny_llama", "method=organ", "method.organ.mode=insert",
                       "method.organ.position=5"])
    with pytest.raises(ConfigError, match=r"method.organ.position=5 is invalid: expected 0..4 "
                                          r"\(insert of a 3-layer organ, 4-layer recipient\)"):
        validate(cfg)


def test_paths_cache_is_where_everything_is_cached(tmp_path):
    # No TRANSPLANT_CACHE in the environment: the run must use paths.cache alone.
    out = subprocess.run([sys.executable, "-m", "transplant", "model=tiny_llama",
                          "method=lora", *FAST[1:], "trainer.max_steps=1",
                          f"paths.cache={tmp_path / 'c'}", f"paths.outputs={tmp_path / 'o'}"],
                         cwd=tmp_path, capture_output=True, text=True,
                         env={k: v for k, v in os.environ.items() if k != "TRANSPLANT_CACHE"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert (tmp_path / "c" / "tokens").is_dir() and not (tmp_path / "outputs").exists()


def test_unknown_key_is_named():
    with pytest.raises(ConfigCompositionException, match="max_stepz"):
        compose_cfg(["trainer.max_stepz=3"])


def test_wrong_type_is_named():
    with pytest.raises(ConfigCompositionException, match="max_steps"):
        compose_cfg(["trainer.max_steps=many"])


def test_unknown_group_option_lists_available_ones():
    out = subprocess.run([sys.executable, "-m", "transplant", "model=gpt9"], cwd=REPO,
                         capture_output=True, text=True)
    assert out.returncode != 0
    assert "Could not find 'model/gpt9'" in out.stderr
    assert "Available options in 'model'" in out.stderr and "tiny_llama" in out.stderr


def test_validation_happens_before_any_model_loads(tmp_path):
    # A model that does not exist is never reached: the bad value stops the run first.
    out = subprocess.run([sys.executable, "-m", "transplant", "model=tiny_llama",
                          "trainer.max_steps=-5", f"paths.outputs={tmp_path}"], cwd=REPO,
                         capture_output=True, text=True)
    assert out.returncode != 0 and "trainer.max_steps=-5 is invalid" in out.stderr
    assert [p.name for p in (tmp_path / "default").iterdir()] == ["_launches"]  # no run dir


def test_model_override_routes_paths_and_hub_ids_to_model_name(tmp_path):
    from transplant.app import CONF_DIR, route_model_override

    argv = ["model=tiny_llama", f"model={tmp_path}", "model=zoo/w128", "model=org/some-model",
            "model=gpt9", "model=a,b", "method=lora"]
    assert route_model_override(argv, CONF_DIR) == [
        "model=tiny_llama", f"model.name={tmp_path}", "model.name=zoo/w128",
        "model.name=org/some-model", "model=gpt9", "model=a,b", "method=lora"]


def test_cli_runs_a_model_directory(tmp_path):
    from transplant.models import load_model

    model, tok = load_model("tiny_qwen2")
    model.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    out = subprocess.run([sys.executable, "-m", "transplant", f"model={tmp_path / 'm'}",
                          f"paths.outputs={tmp_path / 'o'}", "eval.max_tokens=64",
                          "eval.window=32", "eval.stride=16", "trainer.enable_progress_bar=false"],
                         cwd=REPO, capture_output=True, text=True,
                         env={**__import__("os").environ, "TRANSPLANT_CACHE": str(tmp_path / "c")})
    assert out.returncode == 0, out.stderr[-2000:]
    metrics = list((tmp_path / "o" / "default").glob("*/metrics.json"))
    assert len(metrics) == 1 and "model.name=" in metrics[0].parent.name


def test_encoder_is_refused_for_language_modelling():
    cfg = compose_cfg(["model=tiny_bert", "method=lora"])
    with pytest.raises(ConfigError, match="causal language model for method lora; tiny_bert is a "
                                          "bert encoder"):
        validate(cfg)
