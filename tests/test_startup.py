"""Config errors, --help and every method's checks answer before torch, transformers,
Lightning or peft are imported (each costs seconds: issue #13's start-up item)."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "transformers", "lightning", "peft")

# Runs the real entry point with `args`, then prints which heavy libraries it imported.
PROBE = """
import sys
sys.argv = ["transplant", *{args!r}]
from transplant.app import main
try:
    main()
except SystemExit:
    pass
print("HEAVY", sorted(m for m in {heavy!r} if m in sys.modules))
"""


def _heavy_imports(args: list[str]) -> tuple[list[str], str]:
    out = subprocess.run([sys.executable, "-c", PROBE.format(args=args, heavy=HEAVY)],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    line = next(x for x in out.stdout.splitlines() if x.startswith("HEAVY"))
    return eval(line.removeprefix("HEAVY ")), out.stderr


@pytest.mark.parametrize("args, error", [
    (["trainer.max_steps=-1"], "trainer.max_steps=-1 is invalid"),
    (["trainer.precision=bogus"], "trainer.precision='bogus' is invalid"),
    (["method=grow", "method.grow.layers=bogus"], "method.grow.layers='bogus' is invalid"),
    (["method=organ", "method.organ.length=0"], "method.organ.length=0 is invalid"),
    (["method=graft", "method.graft.alpha=2"], "method.graft.alpha=2.0 is invalid"),
    (["method=pretrain", "method.recipe.name=m", "method.recipe.family=bogus"],
     "method.recipe.family='bogus' is invalid"),
])
def test_config_error_imports_no_heavy_library(args, error):
    # The embedded model's facts are recorded, so even its checks read no config file.
    heavy, err = _heavy_imports(["model=smollm2_135m", *args])
    assert error in err
    assert heavy == []


def test_help_imports_no_heavy_library():
    heavy, _ = _heavy_imports(["--help"])
    assert heavy == []
