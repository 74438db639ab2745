"""method.optim.lrs: a run trains at each learning rate of a grid, keeps the one its
validation split prefers and reads the test split once, at it."""

import pandas as pd
import pytest

from transplant.config import ConfigError
from transplant.results.plots import loss_curves

GRID = (1e-4, 3e-3, 1e-1)
LRS = "method.optim.lrs=[1e-4,3e-3,1e-1]"
ARMS = {"full_ft": ["method=full_ft"],
        "grow": ["method=grow", "method.grow.layers=first:1", "method.optim.weight_decay=0"],
        "organ": ["method=organ", "method.organ.evaluate_wrapper=false"]}


@pytest.mark.parametrize("arm", ARMS)
def test_the_chosen_rate_is_the_runs_own_fixed_rate_result(run, arm):
    base = [*ARMS[arm], "eval.retention=null", "eval.validation=true", "trainer.max_steps=4"]
    chosen, run_dir = run([*base, LRS])
    fixed = {lr: run([*base, f"method.optim.lr={lr}"])[0] for lr in GRID}
    # Every rate trained from the same start as a run of its own, scored on validation only.
    for lr in GRID:
        assert chosen[f"val_target_ppl_lr_{lr:g}"] == fixed[lr]["val_target_ppl"]
    assert len({fixed[lr]["val_target_ppl"] for lr in GRID}) == 3  # the rates differ
    best = min(GRID, key=lambda lr: fixed[lr]["val_target_ppl"])
    assert chosen["lr"] == best and chosen["lr_on_edge"] == int(best in (GRID[0], GRID[-1]))
    # ... and the test split read once, at the chosen rate: exactly that rate's run.
    for key in ("target_ppl", "target_tokens", "val_target_ppl", "train_tokens",
                "params_trainable"):
        assert chosen[key] == fixed[best][key], key
    # (grow's score of the model before growth is shared by the sweep's runs, without files)
    assert {p.name for p in (run_dir / "docs").iterdir()} == {"target.json"}
    assert not (run_dir / "resume").exists()  # every rate's phase cleaned up
    # Each rate's training logged apart, and the report's loss curve is the chosen rate's.
    log = pd.read_csv(run_dir / "logs" / "metrics.csv")
    assert {c for c in log if c.endswith("/loss")} == {f"lr_{lr:g}/train/loss" for lr in GRID}
    fig = loss_curves(run_dir.parent, pd.DataFrame([{"run": run_dir.name, "seed": 0,
                                                     "lr": best}]), [])
    [line] = fig.axes[0].get_lines()
    assert list(line.get_ydata()) == list(log[f"lr_{best:g}/train/loss"].dropna())


def test_an_organ_can_choose_its_rate_in_its_wrapper(run):
    # The paper tunes the organ as a standalone model: chosen on the wrapper's validation
    # perplexity, the run is the fixed-rate run whose wrapper scores best, implanted.
    base = ["method=organ", "eval.retention=null", "eval.validation=true",
            "trainer.max_steps=4"]
    chosen, _ = run([*base, LRS, "method.organ.select=wrapper"])
    fixed = {lr: run([*base, f"method.optim.lr={lr}"])[0] for lr in GRID}
    for lr in GRID:
        assert chosen[f"wrapper_val_target_ppl_lr_{lr:g}"] == fixed[lr]["wrapper_val_target_ppl"]
    # The implant is not scored on validation: its curve would name the metric that chose.
    assert not any(k.startswith("val_target_ppl_lr_") for k in chosen)
    best = min(GRID, key=lambda lr: fixed[lr]["wrapper_val_target_ppl"])
    assert chosen["lr"] == best
    for key in ("target_ppl", "wrapper_target_ppl", "train_tokens"):
        assert chosen[key] == fixed[best][key], key
    with pytest.raises(ConfigError, match=r"method.organ.select='wrapper' is invalid: expected "
                                          r"implant with method.organ.in_place=true"):
        run([*base, LRS, "method.organ.select=wrapper", "method.organ.in_place=true"])


def test_a_rate_grid_extends_past_its_top_while_the_top_wins(run):
    # Two rates, the grid's top likely best after 4 steps; whatever the scores, the run must
    # follow choose's rule over the same rates trained as runs of their own.
    base = ["method=full_ft", "eval.retention=null", "eval.validation=true",
            "trainer.max_steps=4"]
    chosen, run_dir = run([*base, "method.optim.lrs=[1e-5,1e-4]", "method.optim.lrs_extend=1"])
    fixed = {lr: run([*base, f"method.optim.lr={lr}"])[0]["val_target_ppl"]
             for lr in (1e-6, 1e-5, 1e-4, 1e-3)}
    # past whichever end wins (the bottom: down to 1e-6)
    tried = [1e-5, 1e-4, 1e-3] if fixed[1e-4] < fixed[1e-5] else [1e-6, 1e-5, 1e-4]
    assert sorted(k for k in chosen if k.startswith("val_target_ppl_lr_")) == sorted(
        f"val_target_ppl_lr_{lr:g}" for lr in tried)
    for lr in tried:
        assert chosen[f"val_target_ppl_lr_{lr:g}"] == fixed[lr]
    assert chosen["lr"] == min(tried, key=fixed.__getitem__)
    assert tried[-1] == 1e-3, "the top did not win: the extension was not exercised"


def test_a_rate_grid_extension_needs_a_grid(run):
    with pytest.raises(ConfigError, match=r"method.optim.lrs_extend=2 is invalid: expected 0 "
                                          r"without method.optim.lrs \(it extends that grid"):
        run(["method=full_ft", "method.optim.lrs_extend=2"])
    with pytest.raises(ConfigError, match=r"method.optim.lrs_extend=-1 is invalid: expected an "
                                          r"integer >= 0"):
        run(["method=full_ft", "eval.validation=true", LRS, "method.optim.lrs_extend=-1"])


def test_a_learning_rate_grid_needs_the_validation_split(run):
    with pytest.raises(ConfigError, match=r"eval.validation=False is invalid: expected true: "
                                          r"method.optim.lrs chooses the learning rate"):
        run(["method=full_ft", "eval.validation=false", LRS])


def test_a_method_that_cannot_choose_a_rate_refuses_a_grid(run):
    with pytest.raises(ConfigError, match=r"method.optim.lrs=\[0.0001, 0.003, 0.1\] is invalid: "
                                          r"expected null for method peft_port: it chooses no "
                                          r"rate inside the run \(full_ft, grow, lora, organ do"):
        run(["method=peft_port", LRS])
    with pytest.raises(ConfigError, match=r"expected null with method.organ.trained=false"):
        run(["method=organ", "method.organ.trained=false", LRS])


def test_a_rate_grid_leaves_cache_keys_as_they_were():
    # Cached products (zoo models, organs, task vectors) are keyed by the rate they trained
    # at: a grid beside it must not re-key them, or entries built before would not be found.
    from tests.conftest import compose_cfg
    from transplant.products import product_key

    plain = product_key(compose_cfg(["method=full_ft", "method.optim.lr=3e-3"]),
                        ["method.optim"])
    gridded = product_key(compose_cfg(["method=full_ft", "method.optim.lr=3e-3", LRS,
                                       "method.optim.lrs_extend=2"]), ["method.optim"])
    assert plain == gridded == {"method.optim.lr": 3e-3, "method.optim.weight_decay": 0.0,
                                "method.optim.warmup_steps": 5,
                                "method.optim.betas": [0.9, 0.999]}


@pytest.mark.parametrize("objective,scores,best,edge", [
    # perplexity: lowest wins; a tie goes to the smaller value, tried first
    ("lm", {1.0: 9.0, 2.0: 7.0, 4.0: 7.0}, 2.0, 0),
    # accuracy: highest wins; the grid's end winning is flagged (the best may lie beyond)
    ("task", {1.0: 0.5, 2.0: 0.6, 4.0: 0.7}, 4.0, 1),
])
def test_choose_takes_the_best_validation_score_ties_to_the_smaller(objective, scores, best,
                                                                     edge):
    from omegaconf import OmegaConf

    from transplant.methods.selection import choose, criterion

    metric = "val_target_acc" if objective == "task" else "val_target_ppl"
    tried = []

    def score(value):
        tried.append(value)
        return {metric: scores[value]}

    cfg = OmegaConf.create({"data": {"objective": objective}})
    value, chosen = choose([4.0, 1.0, 2.0], score, criterion(cfg), "x")
    assert tried == [1.0, 2.0, 4.0]  # ascending, whatever the grid's order
    assert value == best and chosen["x_on_edge"] == edge
    assert chosen[metric] == scores[best]
    assert {k: v for k, v in chosen.items() if k.startswith(f"{metric}_x_")} == {
        f"{metric}_x_{v:g}": s for v, s in scores.items()}


@pytest.mark.parametrize("scores,extend,tried,best,edge", [
    # the top wins: the grid goes on at its last ratio until a value loses, then stops
    ({1.0: 9.0, 2.0: 7.0, 4.0: 6.0, 8.0: 5.0, 16.0: 5.5}, 3, [1, 2, 4, 8, 16], 8.0, 0),
    # still winning when the extensions run out: flagged
    ({1.0: 9.0, 2.0: 7.0, 4.0: 6.0, 8.0: 5.0, 16.0: 4.0}, 2, [1, 2, 4, 8, 16], 16.0, 1),
    # the top does not win: nothing is added
    ({1.0: 9.0, 2.0: 7.0, 4.0: 8.0}, 3, [1, 2, 4], 2.0, 0),
    # the bottom wins: nothing is added below it (alpha 0 is the target itself)
    ({1.0: 6.0, 2.0: 7.0, 4.0: 8.0}, 3, [1, 2, 4], 1.0, 1),
])
def test_choose_extends_the_grid_past_its_top_while_the_top_wins(scores, extend, tried, best,
                                                                 edge):
    _check_choose(scores, extend, tried, best, edge, downward=False)


@pytest.mark.parametrize("scores,extend,tried,best,edge", [
    # a rate grid's bottom wins: it goes on below at the grid's first ratio until a rate loses
    ({0.25: 5.5, 0.5: 5.0, 1.0: 6.0, 2.0: 7.0, 4.0: 8.0}, 3, [0.25, 0.5, 1, 2, 4], 0.5, 0),
    # still winning when the extensions run out: flagged
    ({0.25: 4.0, 0.5: 5.0, 1.0: 6.0, 2.0: 7.0, 4.0: 8.0}, 2, [0.25, 0.5, 1, 2, 4], 0.25, 1),
    # the top wins: the same as without `downward`
    ({1.0: 9.0, 2.0: 7.0, 4.0: 6.0, 8.0: 5.0, 16.0: 5.5}, 3, [1, 2, 4, 8, 16], 8.0, 0),
    # an inside choice: nothing is added at either end
    ({1.0: 9.0, 2.0: 7.0, 4.0: 8.0}, 3, [1, 2, 4], 2.0, 0),
])
def test_choose_extends_a_rate_grid_past_its_bottom_while_the_bottom_wins(scores, extend, tried,
                                                                          best, edge):
    _check_choose(scores, extend, tried, best, edge, downward=True)


def _check_choose(scores, extend, tried, best, edge, downward):
    from omegaconf import OmegaConf

    from transplant.methods.selection import choose, criterion

    seen = []

    def score(value):
        seen.append(value)
        return {"val_target_ppl": scores[value]}

    cfg = OmegaConf.create({"data": {"objective": "lm"}})
    value, chosen = choose([1.0, 2.0, 4.0], score, criterion(cfg), "alpha", extend=extend,
                           downward=downward)
    assert sorted(seen) == tried and value == best and chosen["alpha_on_edge"] == edge
    assert sorted(k for k in chosen if k.startswith("val_target_ppl_alpha_")) == sorted(
        f"val_target_ppl_alpha_{v:g}" for v in tried)
