import math

import pytest
import torch

from transplant.config import LoraConfig, OptimConfig, TrainableConfig, TrainerConfig
from transplant.data.corpora import Document
from transplant.data.tokens import build_stream
from transplant.models import load_model
from transplant.training.data_module import train_loader
from transplant.training.fit import fit
from transplant.training.lm_module import DivergenceError, warmup_cosine
from transplant.training.policies import apply_policy, count_parameters

QUIET = dict(enable_progress_bar=False, log_every_n_steps=1)


def _stream(tokenizer, n=4096):
    docs = [Document(str(i), f"sample text number {i}, with some words.") for i in range(400)]
    return build_stream(docs, tokenizer, n, domain="synthetic", split="train")


def test_warmup_cosine_schedule():
    assert [warmup_cosine(s, 4, 12) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert warmup_cosine(8, 4, 12) == pytest.approx(0.5)
    assert warmup_cosine(12, 4, 12) == pytest.approx(0.0)


def test_lightning_path_equals_a_plain_pytorch_loop(tokenizer):
    """Same model, data order, AdamW, schedule and clipping: identical weights after training."""
    stream = _stream(tokenizer)
    trainer = TrainerConfig(max_steps=6, batch_size=4, gradient_clip_val=0.5, **QUIET)
    optim = OptimConfig(lr=3e-3, weight_decay=0.01, warmup_steps=2)
    lit, _ = load_model("tiny_llama")
    fit(lit, stream, 32, trainer, optim, seed=7)

    plain, _ = load_model("tiny_llama")
    plain.train()
    opt = torch.optim.AdamW(plain.parameters(), lr=optim.lr, weight_decay=optim.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: warmup_cosine(s, 2, 6))
    torch.manual_seed(7)
    batches = iter(train_loader(stream, 32, 4, seed=7))
    for _ in range(6):
        batch = next(batches)
        loss = plain(input_ids=batch, labels=batch).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(plain.parameters(), 0.5)
        opt.step()
        sched.step()
    for (name, a), b in zip(lit.named_parameters(), plain.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6), name


def test_lora_trains_only_adapters(tokenizer):
    model, _ = load_model("tiny_llama")
    base = {k: v.clone() for k, v in model.state_dict().items()}
    wrapped = apply_policy(model, TrainableConfig("lora", LoraConfig(r=4, alpha=8)))
    trainable, total = count_parameters(wrapped)
    names = [n for n, p in wrapped.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n for n in names)
    # 4 layers x 4 attention projections x r * (in + out)
    q_k_v_o = [(64, 64), (64, 32), (64, 32), (64, 64)]
    assert trainable == 4 * sum(4 * (i + o) for i, o in q_k_v_o)
    fit(wrapped, _stream(tokenizer), 32, TrainerConfig(max_steps=3, batch_size=4, **QUIET),
        OptimConfig(lr=1e-2), seed=0)
    after = wrapped.get_base_model().state_dict()
    for k, v in base.items():
        key = k.replace(".weight", ".base_layer.weight") if k.replace(
            ".weight", ".base_layer.weight") in after else k
        assert torch.equal(after[key], v), k
    assert total == sum(v.numel() for v in base.values()) + trainable


def test_lora_on_gpt2_conv1d(tokenizer):
    model, _ = load_model("tiny_gpt2")
    wrapped = apply_policy(model, TrainableConfig("lora", LoraConfig(r=2)))
    ids = torch.tensor([[256, 1, 2, 3]])
    with torch.no_grad():  # LoRA B starts at zero: the wrapped model equals the base
        assert torch.equal(wrapped(input_ids=ids).logits, load_model("tiny_gpt2")[0](ids).logits)


def test_subset_policy_trains_only_matching_parameters(tokenizer):
    model, _ = load_model("tiny_llama")
    before = {k: v.clone() for k, v in model.named_parameters()}
    apply_policy(model, TrainableConfig("subset", patterns=[r"layers\.1\.mlp\."]))
    fit(model, _stream(tokenizer), 32, TrainerConfig(max_steps=2, batch_size=4, **QUIET),
        OptimConfig(lr=1e-2), seed=0)
    for name, p in model.named_parameters():
        changed = not torch.equal(p, before[name])
        assert changed == name.startswith("model.layers.1.mlp."), name


def test_mlp_policy_trains_the_whole_mlps_of_the_chosen_layers_only():
    model, _ = load_model("tiny_gpt2")
    apply_policy(model, TrainableConfig("mlp", layers="0,2"))
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    assert names == {f"transformer.h.{i}.mlp.{m}.{p}" for i in (0, 2)
                     for m in ("c_fc", "c_proj") for p in ("weight", "bias")}


def test_subset_matching_nothing_is_an_error():
    model, _ = load_model("tiny_llama")
    with pytest.raises(ValueError, match=r"match no parameter; names look like 'model\."):
        apply_policy(model, TrainableConfig("subset", patterns=["nothing_here"]))


def test_nan_loss_raises_divergence(tokenizer):
    model, _ = load_model("tiny_llama")
    with torch.no_grad():
        model.get_submodule("model.norm").weight.fill_(math.nan)
    with pytest.raises(DivergenceError, match="training loss is nan at step 0"):
        fit(model, _stream(tokenizer), 32, TrainerConfig(max_steps=2, batch_size=2, **QUIET),
            OptimConfig(), seed=0)
