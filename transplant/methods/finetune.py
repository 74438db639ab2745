"""full_ft and lora: fine-tune on the target domain's train split, then evaluate.

The two differ only in the trainable-parameter policy (`method.trainable`), so baselines get
the same data, token budget and evaluation by construction.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from transplant.methods.common import (
    RunContext,
    evaluate,
    model_spec,
    optim_spec,
    policy_spec,
    train_stream,
    trainer_spec,
)
from transplant.models.loading import load_model
from transplant.training.fit import fit
from transplant.training.policies import apply_policy, count_parameters


def run(cfg: DictConfig, ctx: RunContext) -> dict[str, Any]:
    model, tokenizer = load_model(model_spec(cfg))
    model = apply_policy(model, policy_spec(cfg))
    trainable, total = count_parameters(model)

    stats = fit(model, train_stream(cfg, tokenizer), cfg.data.block_size, trainer_spec(cfg),
                optim_spec(cfg), cfg.seed, logger=ctx.logger or False, resume_dir=ctx.resume_dir())
    extra = {}
    if cfg.method.trainable.name == "lora":
        extra["adapter"] = str(save_adapter(model, ctx.dir / ADAPTER_DIR))
        ctx.add_artifact(ctx.dir / ADAPTER_DIR, "adapter", f"adapter-{ctx.dir.name}")
    return {"params_trainable": trainable, "params_total": total, **stats.as_metrics(),
            **extra, **evaluate(model, tokenizer, cfg)}


ADAPTER_DIR = "adapter"


def save_adapter(model, out: Path) -> Path:
    """The LoRA adapter alone (peft's adapter_config.json + adapter_model.safetensors), written
    to a temporary directory and renamed into place."""
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return out
