"""Every cached product's key changes with everything that determines the product, and with
nothing that does not (products.py): a product built another way is never silently reused."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from omegaconf import DictConfig, OmegaConf

from tests.conftest import compose_cfg
from transplant.methods import common, graft, organ, peft_port, pretrain, theseus
from transplant.products import NEVER, model_identity
from transplant.runs import affects_result


def _leaves(node: Any, path: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for k, v in node.items():
            out.update(_leaves(v, f"{path}{k}" if not path else f"{path}.{k}"))
        return out
    return {path: node}


def _perturbed(value: Any) -> Any:
    """Another value of the same kind."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value * 2 + 1
    if isinstance(value, list):
        return [*value, value[0] if value else 1]
    if value is None:
        return 7
    return f"{value}_other"


def _with(plain: dict, key: str, value: Any) -> DictConfig:
    node = plain = OmegaConf.to_container(OmegaConf.create(plain))
    *parents, last = key.split(".")
    for p in parents:
        node = node[p]
    node[last] = value
    return OmegaConf.create(plain)


# Each product: the method's config, its key function, and what determines it: every
# result-affecting leaf under these prefixes must change the key (the rest of the config may
# not matter, but `study`, logger and paths never may).
Product = tuple[list[str], Callable[[DictConfig], dict], tuple[str, ...]]
TRAINING = ("data.", "trainer.", "method.optim.")
PRODUCTS: dict[str, Product] = {
    "graft donor": (["method=graft"], graft.donor_key,
                    ("model.", *TRAINING, "method.graft.donor_domain",
                     "method.graft.donor_seed")),
    "graft activations": (["method=graft"], lambda c: graft.activity_key(c, model_identity(c)),
                          ("model.", "data.validation_permille", "data.test_permille",
                           "method.graft.workload")),
    "graft quality": (["method=graft"], lambda c: graft.quality_key(c, model_identity(c)),
                      ("model.", "data.", "eval.", "method.graft.accuracy_items")),
    "organ": (["method=organ"], lambda c: organ.organ_key(c, 3, 2),
              ("model.", *TRAINING, "seed", "method.organ.in_place")),
    "untrained organ": (["method=organ", "method.organ.trained=false"],
                        lambda c: organ.organ_key(c, 3, 2), ("model.",)),
    "theseus tau_A": (["method=theseus", "method.source=tiny_llama"], theseus.tau_key,
                      ("model.", *TRAINING, "seed", "method.source")),
    "theseus moments": (["method=theseus", "method.source=tiny_llama"], theseus.moments_key,
                        ("model.", "data.", "seed", "method.source",
                         "method.calibration_blocks")),
    "theseus tau_B": (["method=theseus", "method.source=tiny_llama"], theseus.carried_key,
                      ("model.", *TRAINING, "seed", "method.source", "method.arm",
                       "method.center", "method.whiten_power", "method.calibration_blocks")),
    "peft origin module": (["method=peft_port"], peft_port.origin_key,
                           ("model.", *TRAINING, "seed", "method.module.",
                            "method.origin.")),
    "zoo model": (["method=pretrain", "method.recipe.name=z"], pretrain.zoo_key,
                  ("method.recipe.", "data.block_size", "data.validation_permille",
                   "data.test_permille", "trainer.", "method.optim.", "seed")),
    "reference evaluation": (["method=grow"], common.reference_key,
                             ("model.", "data.", "eval.")),
}
# Keys a product takes from another option instead (the donor trains on its own domain, the
# origin module on its origin's dataset, tau_A is the source's), or that name its entry (a zoo
# name is checked against the key: cache.named_dir).
REPLACED = {"graft donor": ("data.domain",), "peft origin module": ("data.domain",),
            "theseus tau_A": ("model.name",), "zoo model": ("method.recipe.name",)}


def _determining(name: str, cfg: DictConfig) -> list[str]:
    prefixes = PRODUCTS[name][2]
    leaves = _leaves(OmegaConf.to_container(cfg, resolve=True, enum_to_str=True))
    return [k for k in leaves if affects_result(k) and k not in NEVER
            and k not in REPLACED.get(name, ())
            and any(k == p or (p.endswith(".") and k.startswith(p)) for p in prefixes)]


@pytest.mark.parametrize("name", sorted(PRODUCTS))
def test_a_product_key_changes_with_everything_that_determines_it(name):
    overrides, key_of, _ = PRODUCTS[name]
    cfg = compose_cfg(["model=tiny_llama", *overrides])
    plain = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    base = key_of(OmegaConf.create(plain))
    keys = _determining(name, cfg)
    assert keys, "the product names what determines it"
    unchanged = [k for k in keys if key_of(_with(plain, k, _perturbed(_leaves(plain)[k])))
                 == base]
    assert unchanged == []
    for k in ("study", "logger.name", "paths.outputs", "paths.cache", "force",
              "trainer.enable_progress_bar", "trainer.log_every_n_steps", *NEVER):
        value = _leaves(plain).get(k)
        assert key_of(_with(plain, k, _perturbed(value))) == base, k


def test_the_graft_donor_changes_with_the_split_precision_and_clipping():
    # The defect this guards against: these three once left the donor's key unchanged.
    cfg = compose_cfg(["model=tiny_llama", "method=graft"])
    base = graft.donor_key(cfg)
    for override in ("data.validation_permille=200", "trainer.precision=bf16-mixed",
                     "trainer.gradient_clip_val=0.5"):
        assert graft.donor_key(compose_cfg(["model=tiny_llama", "method=graft", override])) \
            != base, override
    # The activation statistics: of the target, with the workload's split; of the donor, also
    # with everything the donor was trained with.
    for override in ("data.validation_permille=200", "data.test_permille=100"):
        other = compose_cfg(["model=tiny_llama", "method=graft", override])
        assert graft.activity_key(other, model_identity(other)) != \
            graft.activity_key(cfg, model_identity(cfg)), override
    donor = graft.activity_key(cfg, graft.donor_identity(cfg))
    for override in ("data.validation_permille=200", "trainer.precision=bf16-mixed",
                     "trainer.gradient_clip_val=0.5"):
        other = compose_cfg(["model=tiny_llama", "method=graft", override])
        assert graft.activity_key(other, graft.donor_identity(other)) != donor, override


def test_a_rate_grid_is_not_part_of_any_product():
    # A grid's products are its single-rate runs' own: a grid never re-keys them.
    lrs = ["method.optim.lrs=[1e-4,1e-3]", "method.optim.lrs_extend=2"]
    for overrides, key_of, _ in PRODUCTS.values():
        cfg = compose_cfg(["model=tiny_llama", *overrides])
        assert key_of(compose_cfg(["model=tiny_llama", *overrides, *lrs])) == key_of(cfg)
