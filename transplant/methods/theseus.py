"""theseus: a task vector carried to a model of another width without training (Rinaldi et
al. 2026, arXiv 2602.12952); the transport itself is `surgery/transport.py`.

1. tau_A = the source model fully fine-tuned on the target domain's train split (this run's
   trainer budget and optimiser) minus the source; kept in the cache.
2. Calibration: `method.calibration_blocks` blocks of data.block_size tokens drawn (with the
   run's seed) from the target domain's train split; both models read them.
3. tau_B = transport(tau_A, source, target, calibration) (`arm=transport`), or tau_A cut or
   zero-padded to the target's shapes, layers matched by relative depth (`arm=naive`), or a
   random direction per tensor with the transported tensor's norm (`arm=random`).
4. theta_B + alpha tau_B is evaluated like every method (target, retention, validation).
   With `method.alphas` (a grid), the run chooses alpha itself: theta_B + a tau_B for every a,
   scored on the validation split only, then the test splits read once, at the chosen a;
   `method.alphas_extend` goes on past the grid's top while the top wins.
Baselines of a study: `method=zero_shot` on the target and `method=full_ft` on it with the same
data and budget (the upper bound); `transplant-report --gap` gives the recovery between them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from transplant.cache import cached_dir, key_hash
from transplant.choice import Choice
from transplant.config import ConfigError, MethodConfig, ModelConfig, check
from transplant.methods.common import (
    PARAMS_SPECS,
    choice_specs,
    evaluate,
    evaluation_specs,
    load,
    split_stream,
    train,
    train_specs,
)
from transplant.methods.method import Method
from transplant.methods.selection import choose, criterion, test_roles
from transplant.metrics import Kind, spec
from transplant.models.facts import ModelFacts, model_facts
from transplant.products import model_identity, product_key
from transplant.runs import RunContext

TAU_FILE = "tau.safetensors"
MOMENTS_FILE = "moments.safetensors"


class TheseusArm(Choice):
    transport = "transport"  # Procrustes-aligned activations (the paper)
    naive = "naive"  # tau cut or zero-padded to the target's shapes (control)
    random = "random"  # transport's per-tensor norms, random directions (control)


@dataclass
class TheseusConfig(MethodConfig):
    name: str = "theseus"
    source: str | None = None  # the fine-tuned model's base: another width, same tokenizer
    arm: TheseusArm = TheseusArm.transport
    alpha: float = 1.0
    alphas: list[float] | None = None  # a grid: alpha chosen on validation (replaces alpha)
    # While the grid's largest alpha wins, up to this many more (at the grid's last ratio).
    alphas_extend: int = 0
    center: bool = False
    whiten_power: float = 0.0  # p in [0, 0.5]
    calibration_blocks: int = 64


def check_theseus(cfg: DictConfig, target: ModelFacts) -> None:
    settings = cfg.method
    check(settings.source is not None, "method.source", settings.source,
          "the source model (e.g. zoo/llama-w128-s0): its task vector is carried to model.name")
    check(settings.alpha >= 0, "method.alpha", settings.alpha, "a number >= 0")
    if settings.alphas is not None:
        check(len(settings.alphas) > 0 and all(a >= 0 for a in settings.alphas),
              "method.alphas", list(settings.alphas), "a non-empty list of numbers >= 0")
        check(cfg.eval.validation, "eval.validation", cfg.eval.validation,
              "true: method.alphas chooses alpha on the validation split")
    check(settings.alphas_extend >= 0, "method.alphas_extend", settings.alphas_extend,
          "an integer >= 0")
    check(0 <= settings.whiten_power <= 0.5, "method.whiten_power", settings.whiten_power,
          "a number in [0, 0.5]")
    check(settings.calibration_blocks > 0, "method.calibration_blocks",
          settings.calibration_blocks, "an integer > 0")
    source = model_facts(ModelConfig(settings.source,
                                     trust_remote_code=cfg.model.trust_remote_code),
                         cfg.paths.cache)
    check(source.family == target.family, "method.source", settings.source,
          f"a {target.family} model like the target (it is {source.family})")
    check(source.vocab == target.vocab, "method.source", settings.source,
          f"a model sharing the target's tokenizer ({source.vocab} != {target.vocab} tokens)")
    if settings.arm != TheseusArm.naive:  # transport, or random (its norms)
        widest = max(source.intermediate, target.intermediate, source.hidden, target.hidden)
        tokens = settings.calibration_blocks * cfg.data.block_size
        if tokens < widest:
            raise ConfigError(
                f"method.calibration_blocks={settings.calibration_blocks} is invalid: "
                f"{tokens} calibration tokens are fewer than the widest aligned space "
                f"({widest}); expected at least {-(-widest // cfg.data.block_size)} blocks")


def tau_key(cfg: DictConfig) -> dict[str, Any]:
    """What determines tau_A: the source model, fine-tuned on the target data with the
    run's trainer, optimiser and seed."""
    return product_key(cfg, ["data", "trainer", "method.optim", "seed"],
                       source=model_identity(cfg, cfg.method.source))


def moments_key(cfg: DictConfig) -> dict[str, Any]:
    """What determines the paired calibration moments: both models, the calibration draw (its
    data, block count and seed) and whether second moments are kept."""
    return product_key(cfg, ["data", "seed", "method.calibration_blocks"],
                       source=model_identity(cfg, cfg.method.source),
                       target=model_identity(cfg), second_moments=cfg.method.whiten_power > 0)


def carried_key(cfg: DictConfig) -> dict[str, Any]:
    """What determines tau_B: tau_A, the target and the arm; transport (and the random
    control, which keeps transport's norms) also its alignment and calibration draw."""
    aligned = cfg.method.arm != TheseusArm.naive
    return product_key(cfg, ["method.arm", *(["method.center", "method.whiten_power",
                                               "method.calibration_blocks", "seed",
                                               "data.block_size"] if aligned else [])],
                       tau=tau_key(cfg), target=model_identity(cfg))


def source_task_vector(cfg: DictConfig, ctx: RunContext) -> Path:
    """tau_A: the source fine-tuned on the target domain minus the source (cached)."""
    key = tau_key(cfg)

    def build(out: Path) -> None:
        from safetensors.torch import save_file

        from transplant.surgery.transport import task_vector

        pretrained, tokenizer = load(cfg, ctx, cfg.method.source)
        tuned = copy.deepcopy(pretrained).requires_grad_(True)  # full fine-tuning
        train(tuned, tokenizer, cfg, ctx, phase=f"source-{key_hash('task_vectors', key)}",
              product="source")
        tau = task_vector(tuned, pretrained)
        save_file({k: v.contiguous() for k, v in tau.items()}, out / TAU_FILE)

    return cached_dir("task_vectors", key, build, root=ctx.cache) / TAU_FILE


def calibration_ids(cfg: DictConfig, ctx: RunContext, tokenizer):
    """`calibration_blocks` blocks of the target domain's train split, drawn with the seed."""
    import torch

    blocks = cfg.method.calibration_blocks
    size = cfg.data.block_size
    stream = split_stream(cfg, ctx, tokenizer, None, "train", None)
    n = stream.ids.numel() // size
    if n < blocks:
        raise ConfigError(f"method.calibration_blocks={blocks} is invalid: the train split "
                          f"holds {n} blocks of {size} tokens")
    pick = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed))[:blocks]
    return stream.ids[: n * size].view(n, size)[pick.sort().values]


def naive(tau_a: dict, source, target) -> dict:
    """tau_A on the target's shapes, for the layers transport covers (same layer match): each
    tensor cut or zero-padded."""
    import torch

    from transplant.surgery.transport import transport_plan

    params = dict(target.named_parameters())
    out = {}
    for lp in transport_plan(source, target):
        for part in ("weight", "bias"):
            src = tau_a.get(f"{lp.source}.{part}")
            if src is None:
                continue
            t = torch.zeros_like(params[f"{lp.target}.{part}"])
            region = tuple(slice(0, min(a, b)) for a, b in zip(src.shape, t.shape, strict=True))
            t[region] = src[region]
            out[f"{lp.target}.{part}"] = t
    return out


def random_like(tau: dict, seed: int) -> dict:
    """Per tensor of tau, a Gaussian direction scaled to that tensor's norm: the control that
    asks whether transport's directions matter, or only the size of its step."""
    import torch

    g = torch.Generator().manual_seed(seed)
    out = {}
    for key in sorted(tau):  # a fixed order: the draw does not depend on the dict's
        r = torch.randn(tau[key].shape, generator=g, dtype=torch.float64)
        out[key] = (r * (tau[key].double().norm() / r.norm())).to(tau[key].dtype)
    return out


def cached_moments(cfg: DictConfig, ctx: RunContext, source, target, tokenizer) -> dict:
    """The paired activation statistics of source and target on this run's calibration draw
    (cached: another center or whitening setting reuses them; whitening needs the entry with
    second moments)."""
    from transplant.analysis.paired import load_moments, save_moments
    from transplant.surgery.transport import calibration_moments

    second = cfg.method.whiten_power > 0
    key = moments_key(cfg)

    def build(out: Path) -> None:
        ids = calibration_ids(cfg, ctx, tokenizer)
        save_moments(calibration_moments(source, target, ids, second_moments=second),
                     out / MOMENTS_FILE)

    return load_moments(cached_dir("calibration_moments", key, build, root=ctx.cache)
                        / MOMENTS_FILE)


def carried_task_vector(cfg: DictConfig, ctx: RunContext, target, tokenizer) -> Path:
    """tau_B for the target (cached: an alpha sweep transports once)."""
    settings = cfg.method
    key = carried_key(cfg)

    def build(out: Path) -> None:
        from safetensors.torch import load_file, save_file

        from transplant.surgery.transport import transport_with

        if settings.arm == TheseusArm.random:
            moved = copy.deepcopy(cfg)
            moved.method.arm = TheseusArm.transport
            tau_b = random_like(load_file(carried_task_vector(moved, ctx, target, tokenizer)),
                                cfg.seed)
            save_file({k: v.contiguous() for k, v in tau_b.items()}, out / TAU_FILE)
            return
        tau_a = load_file(source_task_vector(cfg, ctx))
        source, _ = load(cfg, ctx, settings.source)
        if settings.arm == TheseusArm.naive:
            tau_b = naive(tau_a, source, target)
        else:
            moments = cached_moments(cfg, ctx, source, target, tokenizer)
            tau_b = transport_with(tau_a, source, target, moments, center=settings.center,
                                   whiten_power=settings.whiten_power)
        save_file({k: v.contiguous() for k, v in tau_b.items()}, out / TAU_FILE)

    return cached_dir("task_vectors_carried", key, build, root=ctx.cache) / TAU_FILE


def choose_alpha(target, tokenizer, tau_b: dict, cfg: DictConfig, ctx: RunContext
                 ) -> tuple[float, dict[str, Any]]:
    """The alpha of `method.alphas` whose theta_B + alpha tau_B scores best on the validation
    split (`selection.choose`: lowest perplexity, highest accuracy with data.objective=task, a
    tie to the smaller alpha), with its validation metrics, the curve
    (`val_target_<metric>_alpha_<a>`) and `alpha_on_edge`. The target is left as it came."""
    import torch

    from transplant.surgery.transport import apply_task_vector

    params = dict(target.named_parameters())
    theta = {k: params[k].detach().clone() for k in tau_b}

    def score(a: float) -> dict[str, Any]:
        apply_task_vector(target, tau_b, a)
        val = evaluate(target, tokenizer, cfg, ctx, per_doc=False, roles=("val_target",))
        with torch.no_grad():
            for k, v in theta.items():
                params[k].copy_(v)
        return val

    return choose(list(cfg.method.alphas), score, criterion(cfg), "alpha",
                  extend=cfg.method.alphas_extend)


def run(cfg: DictConfig, ctx: RunContext) -> dict[str, Any]:
    from safetensors.torch import load_file

    from transplant.surgery.transport import apply_task_vector

    settings = cfg.method
    target, tokenizer = load(cfg, ctx)
    tau_b = load_file(carried_task_vector(cfg, ctx, target, tokenizer))
    alpha, chosen = settings.alpha, {}
    if settings.alphas is not None:
        alpha, chosen = choose_alpha(target, tokenizer, tau_b, cfg, ctx)
    apply_task_vector(target, tau_b, alpha)
    norm = sum(float(v.double().square().sum()) for v in tau_b.values()) ** 0.5
    # The test splits read once, at the chosen alpha; its validation metrics are in `chosen`.
    roles = test_roles(chosen)
    return {"source": settings.source, "arm": str(settings.arm), "alpha": alpha,
            "params_trainable": 0, "train_tokens": 0, "tau_b_norm": norm,
            "tau_b_tensors": len(tau_b), **chosen,
            **evaluate(target, tokenizer, cfg, ctx, roles=roles)}


METHOD = Method("theseus", TheseusConfig, run, check_theseus, metrics=(
    *evaluation_specs(), *choice_specs("alpha"), *train_specs(), *PARAMS_SPECS,
    spec("tau_b_norm", Kind.value), spec("tau_b_tensors", Kind.count),
    spec("source", Kind.text), spec("arm", Kind.text)))
