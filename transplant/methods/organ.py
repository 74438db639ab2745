"""organ: Neural Organ Transplantation (Al-Zuraiqi 2026, arXiv 2601.13580).

1. Cut k contiguous layers ("the organ") from the donor, by default k=3 from floor(L/3).
2. Train only the organ, inside the paper's wrapper (frozen donor embedding -> organ -> frozen
   final norm and LM head), or in place inside the frozen full donor.
3. Save it as a standalone organ file (content-addressed cache: a position sweep trains once).
4. Implant the file into the recipient (the untouched donor by default) at `position`.
5. Evaluate target-domain and retention perplexity of the implanted model, and of the organ in
   its training wrapper (what the organ alone achieves, before implantation).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from transplant.cache import cached_dir, cached_json, key_hash
from transplant.choice import Choice
from transplant.config import MethodConfig, ModelConfig, check
from transplant.methods.common import (
    TRAINED_SPECS,
    evaluate,
    evaluation_specs,
    load,
    train,
)
from transplant.methods.method import Method
from transplant.methods.selection import Criterion, Trial, at_chosen_rate, test_roles
from transplant.metrics import HEADLINE, Kind, spec
from transplant.models.facts import ModelFacts, model_facts
from transplant.models.layers import decoder_layers
from transplant.products import product_key
from transplant.runs import RunContext
from transplant.surgery.implant_mode import ImplantMode
from transplant.training.policies import count_parameters

if TYPE_CHECKING:
    from transplant.surgery.organ import Organ

ORGAN_FILE = "organ.safetensors"


class OrganSelect(Choice):  # which validation perplexity chooses the rate (method.optim.lrs)
    implant = "implant"  # the recipient with the organ implanted: what the organ is for
    wrapper = "wrapper"  # the organ in its training wrapper: the paper's organ perplexity


@dataclass
class OrganConfig:
    """Which layers form the organ, and where it goes."""

    start: int | None = None  # None: floor(L/3), the paper's default
    length: int = 3
    position: int | None = None  # None: where it came from
    mode: ImplantMode = ImplantMode.replace
    recipient: str | None = None  # None: the donor (model.name), reloaded untouched
    in_place: bool = False  # train inside the frozen full donor instead of the wrapper
    evaluate_wrapper: bool = True  # also score the organ in its training wrapper (wrapper_*)
    # false: the control arm: the same layers implanted untrained, so a position sweep can
    # tell what the training did from what moving layers does.
    trained: bool = True
    # With method.optim.lrs: choose the rate on the implanted model's validation perplexity, or
    # on the wrapper's (the organ trained as a standalone model, as the paper tunes it; the
    # implant at a rate it prefers can be worse than the untrained organ).
    select: OrganSelect = OrganSelect.implant


@dataclass
class OrganMethodConfig(MethodConfig):
    name: str = "organ"
    organ: OrganConfig = field(default_factory=OrganConfig)


def organ_span(organ: DictConfig, n_layers: int) -> tuple[int, int]:
    """(start, length): the configured organ, by default `length` layers from floor(L/3)."""
    return (organ.start if organ.start is not None else n_layers // 3), organ.length


def check_organ(cfg: DictConfig, donor: ModelFacts) -> None:
    organ = cfg.method.organ
    check(organ.trained or cfg.method.optim.lrs is None, "method.optim.lrs",
          cfg.method.optim.lrs and list(cfg.method.optim.lrs),
          "null with method.organ.trained=false (an untrained organ has no rate to choose)")
    check(organ.select == OrganSelect.implant or not organ.in_place, "method.organ.select",
          str(organ.select), "implant with method.organ.in_place=true (an organ trained in "
          "place has no wrapper to score)")
    check(organ.length > 0, "method.organ.length", organ.length, "an integer > 0")
    start, length = organ_span(organ, donor.layers)
    check(0 <= start <= donor.layers - length, "method.organ.start", organ.start,
          f"0..{donor.layers - length} for a {length}-layer organ of a {donor.layers}-layer "
          "donor")
    recipient = donor
    if organ.recipient is not None:
        spec = ModelConfig(organ.recipient, trust_remote_code=cfg.model.trust_remote_code)
        recipient = model_facts(spec, cfg.paths.cache)
        mismatches = donor.shape_mismatches(recipient)
        check(not mismatches, "method.organ.recipient", organ.recipient,
              f"a model the donor's organ fits (donor vs recipient: {'; '.join(mismatches)})")
    if organ.position is not None:
        last = recipient.layers - (length if organ.mode == ImplantMode.replace else 0)
        check(0 <= organ.position <= last, "method.organ.position", organ.position,
              f"0..{last} ({organ.mode} of a {length}-layer organ, {recipient.layers}-layer "
              "recipient)")


def train_organ(cfg: DictConfig, ctx: RunContext, donor, tokenizer, start: int, length: int,
                phase: str) -> Organ:
    """Train the organ alone (only its weights receive gradient) and cut it out."""
    from transplant.surgery.organ import extract_organ, organ_model

    in_place = cfg.method.organ.in_place
    body = copy.deepcopy(donor) if in_place else organ_model(donor, start, length)
    body.requires_grad_(False)
    layers = decoder_layers(body)
    trained = range(start, start + length) if in_place else range(length)
    for i in trained:
        layers[i].requires_grad_(True)
    stats = train(body, tokenizer, cfg, ctx, phase=phase)
    provenance = {"donor": cfg.model.name, "donor_layers": list(range(start, start + length)),
                  "wrapper": "in_place" if in_place else "embedding-organ-head",
                  "corpus": cfg.data.domain, "seed": cfg.seed,
                  "optim": product_key(cfg, ["method.optim"]), **stats.as_metrics()}
    organ = extract_organ(body, trained.start, length, provenance)
    organ.manifest["source_layers"] = list(range(start, start + length))
    organ.manifest["source_model"] = cfg.model.name
    return organ


def organ_key(cfg: DictConfig, start: int, length: int) -> dict[str, Any]:
    """What determines an organ: the donor and the layer span; trained, also how (the wrapper
    or in place, the data, trainer, optimiser and seed). Not where it is implanted: a position
    sweep shares one organ."""
    if not cfg.method.organ.trained:
        return product_key(cfg, ["model"], start=start, length=length, untrained=True)
    return product_key(cfg, ["model", "data", "trainer", "method.optim", "seed",
                             "method.organ.in_place"], start=start, length=length)


def organ_file(cfg: DictConfig, ctx: RunContext, donor, tokenizer, start: int,
               length: int) -> tuple[Path, bool]:
    """The organ this config makes (trained at method.optim.lr, or untrained), from the cache
    or built into it; and whether this call trained it."""
    from transplant.surgery.organ import extract_organ

    settings = cfg.method.organ
    key = organ_key(cfg, start, length)
    trained_now = False

    def build(out) -> None:
        nonlocal trained_now
        if settings.trained:
            organ = train_organ(cfg, ctx, donor, tokenizer, start, length,
                                phase=f"organ-{key_hash('organs', key)}")
            trained_now = True
        else:
            organ = extract_organ(donor, start, length, {"donor": cfg.model.name,
                                                         "untrained": True, "train_tokens": 0})
            organ.manifest["source_layers"] = list(range(start, start + length))
            organ.manifest["source_model"] = cfg.model.name
        organ.save(out / ORGAN_FILE)

    return cached_dir("organs", key, build, root=ctx.cache) / ORGAN_FILE, trained_now


@dataclass
class Made:
    """An organ a config made: its file, the organ, and whether this run trained it."""

    path: Path
    organ: Organ
    trained_now: bool


@dataclass
class Site:
    """What every step of one run's recipe reads: the donor, the organ's span, where it goes."""

    cfg: DictConfig
    ctx: RunContext
    donor: Any  # the donor model; None once freed for the recipient
    tokenizer: Any
    start: int
    length: int
    position: int
    recipient: str  # a model name

    def make(self, at: DictConfig, implant_now: bool) -> Trial:
        """The organ config `at` makes, implanted into a fresh recipient if `implant_now`
        (a rate grid scoring implants; otherwise the recipient loads once the donor is
        freed)."""
        from transplant.surgery.organ import Organ

        path, trained_now = organ_file(at, self.ctx, self.donor, self.tokenizer, self.start,
                                       self.length)
        made = Made(path, Organ.load(path), trained_now)
        return Trial(at.method.optim.lr, self.implanted(made.organ) if implant_now else None,
                     made)

    def implanted(self, organ: Organ):
        """A fresh recipient with the organ implanted at the run's position."""
        from transplant.surgery.organ import implant

        recipient, _ = load(self.cfg, self.ctx, self.recipient)
        return implant(recipient, organ, self.position, self.cfg.method.organ.mode)

    def in_wrapper(self, organ: Organ, roles: tuple[str, ...]) -> dict[str, float]:
        """The organ scored in its training wrapper (`wrapper_*` perplexities)."""
        from transplant.surgery.organ import implant, organ_model

        wrapper = implant(organ_model(self.donor, self.start, self.length), organ, 0,
                          ImplantMode.replace)
        metrics = evaluate(wrapper, self.tokenizer, self.cfg, self.ctx, prefix="wrapper_",
                           per_doc=False, roles=roles)
        return {k: v for k, v in metrics.items() if k.endswith(("_ppl", "_bpb"))}

    def wrapper_validation(self, trial: Trial) -> dict[str, float]:
        return self.in_wrapper(trial.state.organ, ("val_target",))


WRAPPER_CRITERION = Criterion("wrapper_val_target_ppl", higher=False)


def run(cfg: DictConfig, ctx: RunContext) -> dict[str, Any]:
    settings = cfg.method.organ
    donor, tokenizer = load(cfg, ctx)
    start, length = organ_span(settings, len(decoder_layers(donor)))
    site = Site(cfg, ctx, donor, tokenizer, start, length,
                settings.position if settings.position is not None else start,
                settings.recipient or cfg.model.name)
    on_wrapper = settings.select == OrganSelect.wrapper
    scores_implants = cfg.method.optim.lrs is not None and not on_wrapper
    trial, chosen = at_chosen_rate(
        partial(site.make, implant_now=scores_implants), tokenizer, cfg, ctx,
        validate=site.wrapper_validation if on_wrapper else None,
        by=WRAPPER_CRITERION if on_wrapper else None)
    made: Made = trial.state
    ctx.add_artifact(made.path, "organ", f"organ-{made.organ.manifest['sha256'][:16]}")
    # The organ in its wrapper: once per organ, not per position.
    eval_key = product_key(cfg, ["data", "eval"], organ=made.organ.manifest["sha256"])
    in_wrapper = (cached_json("evals", eval_key,
                              partial(site.in_wrapper, made.organ,
                                      ("target", "retention", "val_target")),
                              "wrapper.json", root=ctx.cache)
                  if settings.evaluate_wrapper else {})
    site.donor = None  # freed before the recipient loads
    recipient = trial.model if trial.model is not None else site.implanted(made.organ)
    trainable = sum(t.numel() for t in made.organ.tensors.values()) if settings.trained else 0
    train_stats = {k: v for k, v in made.organ.manifest["provenance"].items()
                   if k.startswith("train_")}
    return {"organ_start": start, "organ_length": length, "position": site.position,
            "mode": str(settings.mode), "recipient": site.recipient,
            "organ_reused": not made.trained_now, "params_trainable": trainable,
            "params_total": count_parameters(recipient)[1], **train_stats, **in_wrapper,
            **chosen, **evaluate(recipient, tokenizer, cfg, ctx, roles=test_roles(chosen))}


METHOD = Method("organ", OrganMethodConfig, run, check_organ, chooses_lr=True, metrics=(
    *TRAINED_SPECS, *evaluation_specs("wrapper_", HEADLINE),  # the paper's organ perplexity
    *(spec(n, Kind.value) for n in ("organ_start", "organ_length", "position")),
    spec("mode", Kind.text), spec("recipient", Kind.text), spec("organ_reused", Kind.flag)))
