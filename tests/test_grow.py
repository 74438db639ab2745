import pytest
import torch

from transplant.models import FAMILIES, arch_for, decoder_layers, load_model
from transplant.models.layers import select_layers
from transplant.surgery.grow import (
    asymmetric_shares,
    depth_new_positions,
    grow_depth,
    grow_mlp,
    mlp_width,
    train_new_units_only,
)
from transplant.training.policies import train_mlps

NAMES = [f"tiny_{f}" for f in FAMILIES]
IDS = torch.tensor([[256, 84, 104, 101, 32, 99, 97, 116, 32, 115, 97, 116, 46]])


def _out(model):
    with torch.no_grad():
        out = model(input_ids=IDS)
    return out.logits if hasattr(out, "logits") else out.last_hidden_state


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("copies,layers", [(2, None), (3, None), (2, "0,2"), (3, "last:1")])
def test_grown_mlp_computes_the_same_function(name, copies, layers):
    model, _ = load_model(name)
    # Non-zero biases, so that bias replication is exercised too.
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n.endswith("bias") and p.abs().sum() == 0:
                p.normal_(0, 0.1)
    before, width = _out(model), mlp_width(model)
    grow_mlp(model, copies, layers)
    assert mlp_width(model) == width * copies
    arch = arch_for(model.config)
    assert getattr(model.config, arch.intermediate_key) == width * copies
    assert (_out(model) - before).abs().max() <= 1e-5


@pytest.mark.parametrize("name", NAMES)
def test_grown_model_reloads_with_plain_transformers(name, tmp_path):
    from transformers import AutoModel, AutoModelForCausalLM

    model, tok = load_model(name)
    grow_mlp(model, 2, "first:2")
    model.save_pretrained(tmp_path)
    auto = AutoModelForCausalLM if arch_for(model.config).causal else AutoModel
    again = auto.from_pretrained(tmp_path)
    assert torch.equal(_out(again.eval()), _out(model))


def test_freeze_trains_only_new_units_and_originals_stay_bit_identical():
    model, _ = load_model("tiny_llama")
    width = mlp_width(model)
    grow_mlp(model, 2, [1, 3])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    train_new_units_only(model, [1, 3], width)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2,
                            weight_decay=0.0)
    model.train()
    for _ in range(3):
        loss = model(input_ids=IDS, labels=IDS).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    after = model.state_dict()
    for key, old in before.items():
        new = after[key]
        if key.startswith(("model.layers.1.mlp", "model.layers.3.mlp")):
            axis = 1 if "down_proj" in key else 0
            orig = old.narrow(axis, 0, width)
            assert torch.equal(new.narrow(axis, 0, width), orig), key  # originals untouched
            assert not torch.equal(new.narrow(axis, width, width), old.narrow(axis, width, width))
        else:
            assert torch.equal(new, old), key


def _adamw_steps(model, steps: int) -> None:
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    for _ in range(steps):
        loss = model(input_ids=IDS, labels=IDS).loss
        opt.zero_grad()
        loss.backward()
        opt.step()


@pytest.mark.parametrize("name", NAMES)
def test_asymmetric_growth_is_exact_at_step_zero(name):
    model, _ = load_model(name)
    before = _out(model)
    grow_mlp(model, 3, None, asymmetric_shares(3, 0.5))
    assert (_out(model) - before).abs().max() <= 1e-5


@pytest.mark.parametrize("shares,diverge", [(None, False), (asymmetric_shares(2, 0.5), True)],
                         ids=["equal-shares", "asymmetric"])
def test_g_train_copies_move_apart_only_when_the_symmetry_is_broken(shares, diverge):
    # Equal shares: both copies of a unit get the same gradient and the same AdamW update, so
    # G-Train would never use its extra units. Opposite-sign shares separate them at step 1.
    model, _ = load_model("tiny_llama")
    width = mlp_width(model)
    grow_mlp(model, 2, [1], shares)
    train_mlps(model, [1])
    _adamw_steps(model, 1)
    up = decoder_layers(model)[1].mlp.up_proj.weight
    first, second = up[:width], up[width:]
    assert torch.equal(first, second) is not diverge
    if diverge:
        assert (first - second).abs().max() > 1e-3


def test_shares_must_sum_to_one():
    model, _ = load_model("tiny_llama")
    with pytest.raises(ValueError, match=r"shares \[0.5, 0.6\]: expected 2 numbers summing to 1"):
        grow_mlp(model, 2, None, [0.5, 0.6])


def test_train_policy_trains_whole_grown_mlps_only():
    model, _ = load_model("tiny_gpt2")
    grow_mlp(model, 2, [0])
    train_mlps(model, [0])
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    assert names == {"transformer.h.0.mlp.c_fc.weight", "transformer.h.0.mlp.c_fc.bias",
                     "transformer.h.0.mlp.c_proj.weight", "transformer.h.0.mlp.c_proj.bias"}


@pytest.mark.parametrize("name", [n for n in NAMES if n != "tiny_bert"])
def test_grow_depth_is_the_identity_at_init(name):
    model, _ = load_model(name)
    before = _out(model)
    grow_depth(model, [0, 2])
    assert len(decoder_layers(model)) == 6
    assert torch.allclose(_out(model), before, atol=1e-5)
    assert depth_new_positions([0, 2]) == [1, 4]
    kw = dict(max_new_tokens=4, do_sample=False, pad_token_id=256)
    assert torch.equal(model.generate(IDS, use_cache=True, **kw),
                       model.generate(IDS, use_cache=False, **kw))


def test_grow_depth_refuses_post_norm_models():
    model, _ = load_model("tiny_bert")
    with pytest.raises(ValueError, match="needs a pre-norm model; bert applies layer norm"):
        grow_depth(model, [0])


@pytest.mark.parametrize("rule,expected", [("all", [0, 1, 2, 3, 4, 5]), ("first:2", [0, 1]),
                                           ("last:2", [4, 5]), ("even:3", [0, 2, 5]),
                                           ("1,3", [1, 3]), ([5, 0], [0, 5]),
                                           ("even:1/3", [0, 5]), ("first:1/10", [0])])
def test_layer_rules(rule, expected):
    assert select_layers(6, rule) == expected


@pytest.mark.parametrize("rule", ["first:0", "even:7", "middle:2", "9"])
def test_bad_layer_rules_are_refused(rule):
    with pytest.raises(ValueError):
        select_layers(6, rule)
