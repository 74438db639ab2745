"""A study's grid file: experiments/sweep.sh launches it, transplant-report --grid reads it."""

import os
import subprocess
import sys

import pytest

from tests.conftest import FAST, REPO, compose_cfg
from transplant.results.grid import expected_runs, grid_points, read_grid
from transplant.results.report import main
from transplant.runs import identity, run_id


def test_grid_file_skips_comments_and_names_a_bad_line(tmp_path):
    grid = tmp_path / "grid"
    grid.write_text("# a study\nmethod=lora seed=0,1  # two seeds\n\nmethod=zero_shot\n")
    assert read_grid(grid) == ["method=lora seed=0,1", "method=zero_shot"]
    grid.write_text("method=lora\nmethod.optim.lr=[1,\n")
    with pytest.raises(ValueError, match=r"grid:2: not a list of Hydra overrides"):
        read_grid(grid)
    grid.write_text("# nothing\n")
    with pytest.raises(ValueError, match="no launch in the grid file"):
        read_grid(grid)


def test_sweep_runs_exactly_the_grid_the_report_expects(tmp_path, capsys):
    grid = tmp_path / "grid"
    fast = " ".join(FAST)
    grid.write_text(f"# tiny study\n{fast} method=zero_shot\n"
                    f"{fast} method=lora seed=0,1\n")
    env = {**os.environ, "TRANSPLANT": f"{sys.executable} -m transplant"}
    subprocess.run(["bash", "experiments/sweep.sh", str(grid), "study=g",
                    f"paths.outputs={tmp_path / 'out'}"], cwd=REPO, env=env, check=True,
                   capture_output=True)
    study = tmp_path / "out" / "g"
    ran = sorted(p.parent.name for p in study.glob("*/metrics.json"))
    assert ran == sorted(expected_runs(read_grid(grid))) and len(ran) == 3
    assert main([str(study), "--grid", str(grid)]) == 0
    assert "expected grid have no run record" not in capsys.readouterr().out
    # A point the file adds later is named as never started.
    grid.write_text(grid.read_text() + f"{fast} method=lora seed=2\n")
    assert main([str(study), "--grid", str(grid)]) == 0
    assert "1 point(s) of the expected grid have no run record" in capsys.readouterr().out


def test_the_portability_study_config_sweeps_exactly_1440_distinct_points():
    ids = expected_runs(["experiment=portability/1440"])
    assert len(ids) == len(set(ids)) == 1440
    # Each point names its factors: PEFT module, host pair, datasets, condition, seed.
    assert ids[0] == ("data=tweets,hosts=a_b,method.condition=ported,method.origin.data=tweets,"
                      "peft=bottleneck,seed=0")
    # The command line narrows the study's sweep, as Hydra's sweeper does (one seed: 288).
    assert len(expected_runs(["experiment=portability/1440 seed=0"])) == 288
    assert len(expected_runs(["experiment=portability/1440 seed=0,1 peft=lora"])) == 144
    # The small study's sweep replaces the big one's key by key: 4 x 2 x 1 x 1 x 3 x 3.
    assert len(expected_runs(["experiment=portability/small"])) == 72


GRIDS = sorted(g for g in (REPO / "experiments").glob("*/*grid") if g.is_file())


@pytest.mark.parametrize("grid", GRIDS, ids=[f"{g.parent.name}/{g.name}" for g in GRIDS])
def test_every_value_of_every_study_grid_composes(grid):
    # A typo in a grid file (a method or value the schema does not know) fails here, not hours
    # into the sweep. Composing checks every key and value against the structured schemas;
    # the points composed are the first to bring each override they hold (every value of
    # every line, in a point of its own line), not all of them (Hydra composes ~6 a second).
    points = grid_points(read_grid(grid))
    seen: set[str] = set()
    for point in points:
        if not seen.issuperset(point):
            compose_cfg(point)
            seen.update(point)
    assert len({run_id(identity(p)) for p in points}) == len(points)  # no two share a run


def test_the_grow_study_is_every_arm_at_4_rates_and_3_seeds():
    points = [identity(p) for p in grid_points(read_grid(REPO / "experiments/grow/grid"))]
    ids = expected_runs(read_grid(REPO / "experiments/grow/grid"))
    assert len(ids) == len(points) == 1 + 8 * 4 * 3
    rates: dict[tuple[str, str], set[float]] = {}
    for p in points:
        if p["method"] != "zero_shot":
            rates.setdefault((p["method"], p["seed"]), set()).add(float(p["method.optim.lr"]))
    grids = {m: rates[(m, "0")] for m, _ in rates}
    for (method, _), values in rates.items():  # one grid per arm, at every seed
        assert values == grids[method]
    for values in grids.values():  # 4 values, each ~3x the one below: the same width
        v = sorted(values)
        assert len(v) == 4 and all(2.9 < b / a < 3.5 for a, b in zip(v, v[1:], strict=False))
    # the seed-0 tuning: every grid gained the value above, and the three arms still at the top
    # slid up a step
    assert max(grids["full_ft"]) == 1e-3 and max(grids["lora"]) == 3e-2
    assert grids["grow_train_third"] == grids["grow"] == {1e-4, 3e-4, 1e-3, 3e-3}
    assert grids["grow_third"] == grids["grow_depth"] == {3e-4, 1e-3, 3e-3, 1e-2}


def test_the_graft_study_gives_every_non_random_arm_3_donors():
    ids = expected_runs(read_grid(REPO / "experiments/graft/grid"))
    assert len(ids) == 21 + 2 * 20 + 5 + 2 * (6 + 5) == 88
    for donor in (1, 2):  # the ranked K = 8 at alpha 1 on donors 0, 1 and 2
        assert (f"method.graft.alpha=1.0,method.graft.donor_seed={donor},method.graft.k=8,"
                "method.graft.select=activation,seed=0") in ids
    assert "method.graft.alpha=1.0,method.graft.k=8,method.graft.select=activation,seed=0" in ids
    assert not any("donor_seed" in i and "random" in i for i in ids)  # draws: donor 0 only


def test_the_theseus_study_is_its_stated_102_plus_84_runs():
    lm = expected_runs(read_grid(REPO / "experiments/theseus/grid"))
    task = expected_runs(read_grid(REPO / "experiments/theseus/task.grid"))
    # per objective 84; language modelling keeps its 18 references at the fixed rate too
    per_objective = 3 + 9 + 9 + 6 * 2 * 3 + 3 * 3 + 6 * 3
    assert (len(lm), len(task)) == (per_objective + 18, per_objective) == (102, 84)
    assert all("data.objective=lm" in i for i in lm)
    points = [identity(p) for p in grid_points(read_grid(REPO / "experiments/theseus/task.grid"))]
    assert all(p["data.objective"] == "task" and p["trainer.max_steps"] == "240" for p in points)
    for ids, n in ((lm, 18), (task, 18)):
        tuned = [i for i in ids if "method.optim.lrs=" in i]
        assert len(tuned) == n and all("method=full_ft" in i or "method=projections_ft" in i
                                       for i in tuned)
        assert all("method.optim.lrs_extend=2" in i for i in tuned)  # every reference alike
    assert {"data.objective": "task", "method.alphas": "[0.0625,0.125,0.25,0.5,1,2,4,8]",
            "method.arm": "transport", "seed": "2", "trainer.max_steps": "240",
            "widths": "w256_w256"} in points
    assert "data.objective=lm,method.arm=random,seed=0,widths=w192_w128" in lm
    # every line of the task grid names its study (compose: a line's study= wins)
    lines = read_grid(REPO / "experiments/theseus/task.grid")
    assert all("study=theseus/task" in line.split() for line in lines)
    assert compose_cfg(lines[0].split()).study == "theseus/task"
