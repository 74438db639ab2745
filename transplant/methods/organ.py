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
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from transplant.cache import cached_dir, cached_json, key_hash
from transplant.methods.common import (
    RunContext,
    evaluate,
    model_spec,
    optim_spec,
    train_stream,
    trainer_spec,
)
from transplant.models.families import arch_for
from transplant.models.layers import decoder_layers
from transplant.models.loading import ModelSpec, load_model
from transplant.surgery.organ import Organ, extract_organ, implant, organ_model
from transplant.training.fit import fit
from transplant.training.policies import count_parameters

ORGAN_FILE = "organ.safetensors"


def organ_span(cfg: DictConfig, n_layers: int) -> tuple[int, int]:
    """(start, length): the configured organ, by default 3 layers from floor(L/3)."""
    o = cfg.method.organ
    start = o.start if o.start is not None else n_layers // 3
    return start, o.length


def train_organ(cfg: DictConfig, ctx: RunContext, donor, tokenizer, start: int,
                length: int, resume_dir: Path | None = None) -> Organ:
    """Train the organ alone (only its weights receive gradient) and cut it out."""
    in_place = cfg.method.organ.in_place
    body = copy.deepcopy(donor) if in_place else organ_model(donor, start, length)
    body.requires_grad_(False)
    layers = decoder_layers(body)
    trained = range(start, start + length) if in_place else range(length)
    for i in trained:
        layers[i].requires_grad_(True)
    stats = fit(body, train_stream(cfg, tokenizer), cfg.data.block_size, trainer_spec(cfg),
                optim_spec(cfg), cfg.seed, logger=ctx.logger or False, resume_dir=resume_dir)
    provenance = {"donor": cfg.model.name, "donor_layers": list(range(start, start + length)),
                  "wrapper": "in_place" if in_place else "embedding-organ-head",
                  "corpus": cfg.data.domain, "seed": cfg.seed,
                  "optim": OmegaConf.to_container(cfg.method.optim), **stats.as_metrics()}
    organ = extract_organ(body, trained.start, length, provenance)
    organ.manifest["source_layers"] = list(range(start, start + length))
    organ.manifest["source_model"] = cfg.model.name
    return organ


def run(cfg: DictConfig, ctx: RunContext) -> dict[str, Any]:
    o = cfg.method.organ
    donor, tokenizer = load_model(model_spec(cfg))
    arch = arch_for(donor.config)
    start, length = organ_span(cfg, getattr(donor.config, arch.num_layers_key))
    key = {"donor": OmegaConf.to_container(cfg.model), "start": start, "length": length,
           "in_place": o.in_place, "data": OmegaConf.to_container(cfg.data),
           "trainer": {k: v for k, v in OmegaConf.to_container(cfg.trainer).items()
                       if k not in ("enable_progress_bar", "log_every_n_steps")},
           "optim": OmegaConf.to_container(cfg.method.optim), "seed": cfg.seed}
    built = []

    def build(out) -> None:
        train_organ(cfg, ctx, donor, tokenizer, start, length,
                    ctx.resume_dir(f"organ-{key_hash(key)}")).save(out / ORGAN_FILE)
        built.append(True)

    organ_file = cached_dir("organs", key, build) / ORGAN_FILE
    organ = Organ.load(organ_file)
    ctx.add_artifact(organ_file, "organ", f"organ-{organ.manifest['sha256'][:16]}")

    def evaluate_in_wrapper() -> dict[str, float]:  # once per organ, not per position
        wrapper = implant(organ_model(donor, start, length), organ, 0, "replace")
        return {f"wrapper_{k}": v for k, v in evaluate(wrapper, tokenizer, cfg).items()
                if k.endswith(("_ppl", "_bpb"))}

    eval_key = {"organ": organ.manifest["sha256"], "eval": OmegaConf.to_container(cfg.eval),
                "data": OmegaConf.to_container(cfg.data)}
    in_wrapper = cached_json("evals", eval_key, evaluate_in_wrapper, "metrics.json")
    donor = None  # free it before the recipient loads

    recipient_name = o.recipient or cfg.model.name
    recipient, _ = load_model(ModelSpec(recipient_name, cfg.model.dtype, cfg.model.seed))
    position = o.position if o.position is not None else start
    implant(recipient, organ, position, o.mode)
    trainable = sum(t.numel() for t in organ.tensors.values())
    train = {k: v for k, v in organ.manifest["provenance"].items() if k.startswith("train_")}
    return {"organ_start": start, "organ_length": length, "position": position,
            "mode": o.mode, "recipient": recipient_name, "organ_reused": not built,
            "params_trainable": trainable, "params_total": count_parameters(recipient)[1],
            **train, **in_wrapper, **evaluate(recipient, tokenizer, cfg)}
