"""Choosing a setting on the validation split (DESIGN §6): a learning rate from
`method.optim.lrs`, Theseus' alpha from `method.alphas`.

Each value tried is a `Trial`: what it made (a model, and what goes with it) and its validation
metrics. The best trial is kept, and the caller reads the test splits once, for it. A run
records the value (`lr`, `alpha`), the validation curve it was chosen on
(`<metric>_<name>_<value>`) and `<name>_on_edge` (1: an end of the grid won, and the best may
lie beyond it): `common.choice_specs` declares them.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from transplant.atomic import read_json, write_json
from transplant.config import Objective
from transplant.methods.common import evaluate, load, train
from transplant.runs import RunContext

if TYPE_CHECKING:
    from torch import nn
    from transformers import PreTrainedTokenizerBase

log = logging.getLogger("transplant")

LR_SCORES = "lr-scores"  # resume/ of a rate-grid run: each rate's validation metrics


@dataclass(frozen=True)
class Criterion:
    """The validation metric that chooses, and which way is better."""

    metric: str
    higher: bool

    def improves(self, new: float, old: float | None) -> bool:
        """Strictly better (a tie keeps the value found first: the smaller of an ascending
        grid)."""
        return old is None or (new > old if self.higher else new < old)


def criterion(cfg: DictConfig) -> Criterion:
    """Accuracy with data.objective=task, else perplexity, of the target's validation split."""
    if cfg.data.objective == Objective.task:
        return Criterion("val_target_acc", higher=True)
    return Criterion("val_target_ppl", higher=False)


@dataclass
class Trial:
    """One value of a grid, tried."""

    value: float
    model: nn.Module | None = None  # what the value made (None: nothing yet, or remade later)
    state: Any = None  # what goes with the model: training stats, an organ file
    validation: dict[str, Any] = field(default_factory=dict)


def choose(grid: list[float], score: Callable[[float], dict[str, Any]], by: Criterion,
           name: str, extend: int = 0, downward: bool = False) -> tuple[float, dict[str, Any]]:
    """The value of `grid` whose `score(value)` (validation metrics) is best by `by`, tried in
    ascending order (a tie goes to the value tried first: the smaller within the grid, the
    grid's own over an extension's). With `extend`, while the grid's largest value is the
    best, up to `extend` more are tried, each the last times the grid's last ratio (4, 8 -> 16
    -> 32), so that a choice at the top is not an artefact of where the grid stopped; with
    `downward` too, while its smallest is the best, up to `extend` more below, at its first
    ratio (1e-3, 3e-3 -> 3.3e-4 -> 1.1e-4). (Not for alpha: below the grid lies alpha 0, the
    target itself.) Returns the value with its metrics, the curve and `<name>_on_edge`."""
    grid = sorted(grid)
    curve: dict[str, Any] = {}
    best: tuple[float, dict[str, Any]] | None = None

    def attempt(value: float) -> None:
        nonlocal best
        val = score(value)
        curve[f"{by.metric}_{name}_{value:g}"] = val[by.metric]
        if by.improves(val[by.metric], best and best[1][by.metric]):
            best = (value, val)

    for value in grid:
        attempt(value)
    up = down = extend
    while up > 0 and len(grid) > 1 and grid[-2] > 0 and best[0] == grid[-1]:
        grid.append(grid[-1] * grid[-1] / grid[-2])
        attempt(grid[-1])
        up -= 1
    while downward and down > 0 and len(grid) > 1 and grid[0] > 0 and best[0] == grid[0]:
        grid.insert(0, grid[0] * grid[0] / grid[1])
        attempt(grid[0])
        down -= 1
    assert best is not None
    return best[0], {**best[1], **curve, f"{name}_on_edge": int(best[0] in (grid[0], grid[-1]))}


def at_rate(cfg: DictConfig, lr: float) -> DictConfig:
    """The config with `method.optim.lr` set to `lr`."""
    out = copy.deepcopy(cfg)
    out.method.optim.lr = lr
    return out


def at_chosen_rate(make: Callable[[DictConfig], Trial], tokenizer: PreTrainedTokenizerBase,
                   cfg: DictConfig, ctx: RunContext,
                   validate: Callable[[Trial], dict[str, Any]] | None = None,
                   by: Criterion | None = None) -> tuple[Trial, dict[str, Any]]:
    """`make(cfg)`, the trial a config makes at `method.optim.lr`; or, with
    `method.optim.lrs`, the trial of each rate of that grid (extended past either end by up to
    `lrs_extend` while that end wins), scored on the validation split only (`validate(trial)`,
    by default the trial's model's `evaluate`), and the best kept (`choose`, `by` the config's
    `criterion` unless given). Returns the trial and the choice (`lr`, its validation metrics,
    the curve, `lr_on_edge`; nothing without a grid). Memory: the best trial so far and the
    one being made.

    Each rate's validation score is kept in the run's resume/ as soon as it is known: a
    relaunch after the run was killed (even SIGKILL, which leaves no checkpoint) makes only
    the rates it lacks, and the chosen one again if an earlier attempt scored it (seeded: the
    same trial)."""
    lrs = cfg.method.optim.lrs
    if lrs is None:
        return make(cfg), {}
    by = by or criterion(cfg)
    kept: list[Trial] = []  # the best trial made in this attempt
    scores = ctx.resume_dir(LR_SCORES)

    def score(lr: float) -> dict[str, Any]:
        path = scores / f"{lr:g}.json"
        if path.exists():
            val = read_json(path)
            log.info("lr %g: scored by an earlier attempt (%s %.6g), not trained again", lr,
                     by.metric, val[by.metric])
            return val
        trial = make(at_rate(cfg, lr))
        trial.validation = (validate(trial) if validate is not None else
                            evaluate(trial.model, tokenizer, cfg, ctx, per_doc=False,
                                     roles=("val_target",)))
        write_json(path, trial.validation)
        if by.improves(trial.validation[by.metric],
                       kept[0].validation[by.metric] if kept else None):
            kept[:] = [trial]
        return trial.validation

    lr, chosen = choose(list(lrs), score, by, "lr", extend=cfg.method.optim.lrs_extend,
                        downward=True)
    trial = kept[0] if kept and kept[0].value == lr else make(at_rate(cfg, lr))  # made again:
    return trial, {"lr": lr, **chosen}  # the earlier attempt's winner, for the test splits


def train_at_chosen_rate(prepare: Callable[[nn.Module], nn.Module], model: nn.Module,
                         tokenizer: PreTrainedTokenizerBase, cfg: DictConfig, ctx: RunContext
                         ) -> tuple[Trial, dict[str, Any]]:
    """`prepare(model)` (the configured model as loaded -> it with its trainable weights
    chosen, grown, ...) trained at the rate `at_chosen_rate` chooses: the trial's model is
    the trained model, its state the training stats. The first rate starts from `model`, each
    later one from a fresh load. A grid's rates train as phases of their own (`train-lr<lr>`):
    a preempted run resumes inside the rate it was training; rates an earlier attempt scored
    are not trained again (the chosen one excepted: seeded, the same)."""
    unused = [model]

    def make(at: DictConfig) -> Trial:
        optim = at.method.optim
        phase = "train" if optim.lrs is None else f"train-lr{optim.lr:g}"
        trained = prepare(unused.pop() if unused else load(cfg, ctx)[0])
        return Trial(optim.lr, trained, train(trained, tokenizer, at, ctx, phase=phase))

    return at_chosen_rate(make, tokenizer, cfg, ctx)


def test_roles(chosen: dict[str, Any]) -> tuple[str, ...]:
    """What `evaluate` still reads after a setting was chosen on validation (`chosen` holds
    its validation metrics): the test splits only, once."""
    return ("target", "retention") if chosen else ("target", "retention", "val_target")
