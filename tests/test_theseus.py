"""method=theseus end to end on tiny models: the cached task vector, the arms, alpha."""

import json

import pandas as pd
import pytest

from tests.conftest import FAST
from transplant.results import plots

THESEUS = [*FAST, "method=theseus", "method.source=tiny_llama", "method.calibration_blocks=16",
           "eval.retention=null"]
# A 32-wide zoo model with tiny_llama's byte tokenizer: a source of another width.
ZOO_W32 = ["method=pretrain", "method.recipe.name=w32", "method.recipe.tokenizer=tiny_llama",
           "method.recipe.hidden=32", "method.recipe.heads=4", "method.recipe.layers=2",
           "trainer.max_steps=2"]


def test_theseus_between_identical_models_adds_the_source_task_vector(run, tmp_path):
    # Source = target: transport maps every space to itself, so it adds what the naive arm
    # adds (tau on the decoder layers' projections); alpha = 0 is the zero-shot model.
    carried, carried_dir = run([*THESEUS, "method.arm=transport"])
    naive, _ = run([*THESEUS, "method.arm=naive"])
    zero, _ = run([*THESEUS, "method.alpha=0"])
    plain, _ = run(["method=zero_shot", "eval.retention=null"])
    # (to 1e-4: directions the 512 calibration tokens barely span are aligned to float noise)
    assert carried["target_ppl"] == pytest.approx(naive["target_ppl"], rel=1e-4)
    assert carried["tau_b_tensors"] == naive["tau_b_tensors"] == 4 * 7
    assert zero["target_ppl"] == plain["target_ppl"]
    assert carried["target_ppl"] != plain["target_ppl"]
    # One fine-tune of the source; one transport shared by both alphas (+ one naive copy).
    cache = tmp_path / "out" / "cache"
    assert len([p for p in (cache / "task_vectors").iterdir() if p.is_dir()]) == 1
    assert len([p for p in (cache / "task_vectors_carried").iterdir() if p.is_dir()]) == 2
    # The source's fine-tune (a cached product) logs apart: this run itself trained nothing,
    # so the report's loss figure, which draws train/loss, has no curve for it.
    log = pd.read_csv(carried_dir / "logs" / "metrics.csv")
    assert "source/train/loss" in log and "train/loss" not in log
    assert plots.loss_curves(carried_dir.parent, pd.DataFrame(
        [{"run": carried_dir.name, "seed": 0}]), []) is None


def test_calibration_moments_are_cached_apart_from_the_settings_that_read_them(run, tmp_path):
    # A 32-wide source (identical models would align the same whatever the setting): centring
    # reads the same moments (one entry), whitening needs second moments (a second entry).
    cache = tmp_path / "c"
    run([*ZOO_W32, f"paths.cache={cache}"], study="zoo")
    carried = [*THESEUS, "method.source=zoo/w32", f"paths.cache={cache}", "method.alpha=1"]
    plain, _ = run(carried)
    centred, _ = run([*carried, "method.center=true"])
    whitened, _ = run([*carried, "method.whiten_power=0.5"])
    entries = [p for p in (cache / "calibration_moments").iterdir() if p.is_dir()]
    assert sorted(json.loads((p / "key.json").read_text())["second_moments"]
                  for p in entries) == [False, True]
    assert len([p for p in (cache / "task_vectors_carried").iterdir() if p.is_dir()]) == 3
    assert len({plain["target_ppl"], centred["target_ppl"], whitened["target_ppl"]}) == 3


def test_theseus_carries_a_task_vector_to_a_wider_model(run, tmp_path):
    # A 32-wide zoo model, same byte tokenizer, to the 64-wide tiny_llama.
    run([*ZOO_W32, f"paths.cache={tmp_path / 'c'}"], study="zoo")
    metrics, _ = run([*THESEUS, "method.source=zoo/w32", f"paths.cache={tmp_path / 'c'}"])
    assert metrics["tau_b_tensors"] == 4 * 7 and metrics["tau_b_norm"] > 0
    assert metrics["source"] == "zoo/w32" and metrics["target_ppl"] > 1


def test_the_random_arm_keeps_transports_norms_and_not_its_directions(run, tmp_path):
    from safetensors.torch import load_file

    from transplant.methods.theseus import random_like

    carried, _ = run([*THESEUS, "method.arm=transport"])
    noise, _ = run([*THESEUS, "method.arm=random"])
    cached = [load_file(d / "tau.safetensors")
              for d in (tmp_path / "out" / "cache" / "task_vectors_carried").iterdir()
              if d.is_dir()]
    assert len(cached) == 2  # transport's (built once, reused by the random arm) and random's
    a, b = cached
    assert a.keys() == b.keys() and len(a) == 4 * 7
    for key in a:
        assert a[key].norm().item() == pytest.approx(b[key].norm().item(), rel=1e-6)
        cos = (a[key].flatten() @ b[key].flatten()) / (a[key].norm() * b[key].norm())
        assert abs(cos) < 0.2, key  # independent directions (~1/sqrt(numel))
    assert noise["tau_b_norm"] == pytest.approx(carried["tau_b_norm"], rel=1e-6)
    assert noise["target_ppl"] != carried["target_ppl"]
    # The draw is the seed's: the same for the same seed, another for another.
    assert all((random_like(a, 0)[k] == random_like(a, 0)[k]).all() for k in a)
    assert not any((random_like(a, 0)[k] == random_like(a, 1)[k]).all() for k in a)


def test_a_grid_of_alphas_is_chosen_on_validation_and_the_test_read_at_it(run):
    grid = (0.0, 0.5, 4.0)
    chosen, run_dir = run([*THESEUS, "eval.validation=true", "method.alphas=[0,0.5,4]"])
    fixed = {a: run([*THESEUS, "eval.validation=true", f"method.alpha={a}"])[0] for a in grid}
    # Each alpha scored from the target itself (restored between alphas), as a run of its own.
    for a in grid:
        assert chosen[f"val_target_ppl_alpha_{a:g}"] == fixed[a]["val_target_ppl"]
    best = min(grid, key=lambda a: fixed[a]["val_target_ppl"])
    assert chosen["alpha"] == best and chosen["alpha_on_edge"] == int(best in (0.0, 4.0))
    for key in ("target_ppl", "val_target_ppl", "val_target_tokens"):
        assert chosen[key] == fixed[best][key]
    assert sorted(p.name for p in (run_dir / "docs").iterdir()) == ["target.json"]


def test_theseus_refuses_a_source_of_another_tokenizer_or_too_little_calibration(run):
    from transplant.config import ConfigError

    with pytest.raises(ConfigError, match="method.source='tiny_gpt2' is invalid: expected a "
                                          "llama model"):
        run([*THESEUS, "method.source=tiny_gpt2"])
    with pytest.raises(ConfigError, match="method.calibration_blocks=1 is invalid: 32 "
                                          "calibration tokens are fewer than"):
        run([*THESEUS, "method.calibration_blocks=1"])
    with pytest.raises(ConfigError, match="eval.validation=False is invalid: expected true: "
                                          "method.alphas chooses alpha on the validation"):
        run([*THESEUS, "eval.validation=false", "method.alphas=[0.5,1]"])
    with pytest.raises(ConfigError, match=r"method.alphas_extend=-1 is invalid: expected an "
                                          r"integer >= 0"):
        run([*THESEUS, "method.alphas_extend=-1"])


def test_a_missing_source_model_is_a_config_error_naming_it(run):
    from transplant.config import ConfigError

    with pytest.raises(ConfigError, match="method theseus: could not load model 'zoo/absent'"):
        run([*THESEUS, "method.source=zoo/absent"])


def test_projections_ft_trains_the_layers_projections_only(run):
    import re

    from transplant.models import load_model

    metrics, _ = run([*FAST, "method=projections_ft", "eval.retention=null"])
    model, _ = load_model("tiny_llama")
    projections = sum(p.numel() for n, p in model.named_parameters()
                      if re.fullmatch(r"model\.layers\.\d+\.(self_attn|mlp)\.\w+_proj\.weight", n))
    assert metrics["params_trainable"] == projections < metrics["params_total"]


def test_on_the_task_alpha_is_chosen_by_validation_accuracy(run):
    # The study's task half: the sentiment objective, alpha chosen for the highest accuracy
    # (not the lowest perplexity). Small splits keep the byte tokenizer's 3 label forwards
    # cheap; calibrated, since under a byte tokenizer the shortest label word, ' neutral',
    # wins every tweet otherwise, at every alpha.
    task = [*THESEUS, "data=tweets", "data.objective=task", "eval.validation=true",
            "data.validation_permille=3", "data.test_permille=3", "eval.calibration=contextual"]
    chosen, _ = run([*task, "method.alphas=[0,4,64]"])
    accuracy = {a: chosen[f"val_target_acc_alpha_{a:g}"] for a in (0.0, 4.0, 64.0)}
    assert len(set(accuracy.values())) > 1 and "val_target_ppl_alpha_4" not in chosen
    best = max(accuracy, key=lambda a: (accuracy[a], -a))  # a tie goes to the smaller alpha
    assert chosen["alpha"] == best
    fixed, _ = run([*task, f"method.alpha={best}"])  # the test split read at that alpha
    for key in ("val_target_acc", "target_acc", "target_f1", "target_n"):
        assert chosen[key] == fixed[key]
