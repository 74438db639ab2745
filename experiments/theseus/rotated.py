"""Can a task vector carry even where the alignment is perfect? A zoo model and an exact
rotated copy of it (its residual stream turned by a random orthogonal Q: the same function),
each fine-tuned on the same tweet batches in the same order, with AdamW (the study's
optimiser) and with SGD; then the source's task vector transported to the copy (transport
finds Q from the calibration activations) against the copy's own:

    python experiments/theseus/rotated.py [--model zoo/llama-w128-s0] [--steps 40]

SGD's update is equivariant under rotations, so there the transported vector is the copy's own
(cosine 1, to float error); AdamW normalises each coordinate of the gradient on its own, which
a rotation mixes, so two equally good fine-tunes of one function in two bases need not be
rotations of each other. The cosine under AdamW is then the most transport can give on these
models at this budget, whatever the alignment.

Both models are first made rotatable without changing their function: each RMSNorm's gain is
folded into the layers that read it, and the tied LM head is untied (it takes the final gain).
Norm gains stay frozen at 1 in training (an elementwise gain is not rotation-equivariant
either); all else trains: 16 blocks of 128 tweet tokens a step, the study's warm-up and cosine
schedule. A probe of the method's premise, not an arm of the study.
"""

from __future__ import annotations

import argparse
import copy
import tempfile
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from torch import nn

from transplant.app import CONF_DIR
from transplant.console import quiet_libraries
from transplant.methods.common import load, split_stream
from transplant.methods.theseus import calibration_ids
from transplant.runs import RunContext
from transplant.surgery.transport import cosine, task_vector, transport
from transplant.training.lm_module import warmup_cosine

READS = ("q_proj", "k_proj", "v_proj", "gate_proj", "up_proj")  # read the residual stream
WRITES = ("o_proj", "down_proj")  # write it


@torch.no_grad()
def rotatable(model: nn.Module) -> nn.Module:
    """The same function with every RMSNorm gain folded into its readers (gains 1) and the LM
    head untied."""
    model = copy.deepcopy(model)
    inner = model.model
    head = inner.embed_tokens.weight.clone() * inner.norm.weight[None, :]
    model.lm_head.weight = nn.Parameter(head)
    model.config.tie_word_embeddings = False
    inner.norm.weight.fill_(1.0)
    for layer in inner.layers:
        for norm, readers in ((layer.input_layernorm, ("q_proj", "k_proj", "v_proj")),
                              (layer.post_attention_layernorm, ("gate_proj", "up_proj"))):
            block = layer.self_attn if readers[0] == "q_proj" else layer.mlp
            for name in readers:
                getattr(block, name).weight.mul_(norm.weight[None, :])
            norm.weight.fill_(1.0)
    return model


@torch.no_grad()
def rotated(model: nn.Module, q: torch.Tensor) -> nn.Module:
    """`model` (rotatable) with its residual stream h replaced by q h."""
    out = copy.deepcopy(model)
    for name, p in out.named_parameters():
        if name in ("model.embed_tokens.weight", "lm_head.weight") \
                or name.endswith(tuple(f"{r}.weight" for r in READS)):
            p.copy_(p @ q.T)
        elif name.endswith(tuple(f"{w}.weight" for w in WRITES)):
            p.copy_(q @ p)
    return out


def finetune(model: nn.Module, batches: list[torch.Tensor], optimiser: str, lr: float
             ) -> tuple[nn.Module, float, float]:
    """A copy trained on `batches` (norm gains frozen); its first and last step's loss."""
    model = copy.deepcopy(model).train()
    params = [p for n, p in model.named_parameters() if not n.endswith("norm.weight")]
    for n, p in model.named_parameters():
        p.requires_grad_(not n.endswith("norm.weight"))
    opt = (torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.999), weight_decay=0.0)
           if optimiser == "adamw" else torch.optim.SGD(params, lr=lr))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: warmup_cosine(s, 5, len(batches)))
    losses = []
    for ids in batches:
        loss = model(input_ids=ids, labels=ids).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        schedule.step()
        losses.append(loss.item())
    return model.eval(), losses[0], losses[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="zoo/llama-w128-s0")
    parser.add_argument("--cache", default="outputs/cache", type=Path)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sgd-lr", type=float, default=1.0)
    parser.add_argument("--optimisers", nargs="+", default=["adamw", "sgd"],
                        choices=["adamw", "sgd"])
    args = parser.parse_args()
    quiet_libraries()
    torch.manual_seed(args.seed)
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("config", overrides=[
            "experiment=theseus/widths", "widths=w128_w128", f"model.name={args.model}",
            f"method.source={args.model}", "data.objective=lm", f"seed={args.seed}",
            f"paths.cache={args.cache.resolve()}"])
    with tempfile.TemporaryDirectory() as scratch:
        ctx = RunContext(Path(scratch), args.cache.resolve())
        base, tokenizer = load(cfg, ctx)
        calibration = calibration_ids(cfg, ctx, tokenizer)
        stream = split_stream(cfg, ctx, tokenizer, None, "train", None)
    size, per_step = cfg.data.block_size, cfg.trainer.batch_size
    blocks = stream.ids[: stream.ids.numel() // size * size].view(-1, size)
    order = torch.randperm(len(blocks), generator=torch.Generator().manual_seed(args.seed))
    batches = [blocks[order[i * per_step:(i + 1) * per_step]] for i in range(args.steps)]

    source = rotatable(base)
    d = source.config.hidden_size
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=torch.Generator().manual_seed(7),
                                       dtype=torch.float64))
    copy_ = rotated(source, q.float())
    with torch.no_grad():
        probe = calibration[:4]
        gap = (base(input_ids=probe).logits - copy_(input_ids=probe).logits).abs().max()
    print(f"{args.model}: the rotated, folded, untied copy's logits differ from the "
          f"model's by at most {float(gap):.2e}")
    print("\n| optimiser | rate | loss, first -> last step (source / copy) | "
          "cos(transported tau_A, copy's own tau) |\n|---|---:|---|---:|")
    rates = {"adamw": cfg.method.optim.lr, "sgd": args.sgd_lr}
    for optimiser in args.optimisers:
        lr = rates[optimiser]
        tuned_a, a0, a1 = finetune(source, batches, optimiser, lr)
        tuned_b, b0, b1 = finetune(copy_, batches, optimiser, lr)
        tau_a, tau_b = task_vector(tuned_a, source), task_vector(tuned_b, copy_)
        moved = transport(tau_a, source, copy_, calibration)
        print(f"| {optimiser} | {lr:g} | {a0:.3f} -> {a1:.3f} / {b0:.3f} -> {b1:.3f} | "
              f"{cosine(moved, tau_b):.4f} |")


if __name__ == "__main__":
    main()
