import pytest
import torch

from transplant.analysis.capture import capture_stats, linear_modules, prompt_batches
from transplant.models import load_model
from transplant.surgery.graft import (
    GraftError,
    activation_scores,
    candidate_modules,
    graft,
    random_modules,
    rank_modules,
)

PROMPTS = ["hello there", "a longer prompt with more words", "x", "def f(): return 1",
           "the cat sat on the mat", "ok"]


def _pair(name="tiny_llama"):
    target, tok = load_model(name)
    donor, _ = load_model(name)
    with torch.no_grad():
        for p in donor.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return target, donor, tok


def test_candidates_are_the_linear_layers_inside_decoder_layers():
    target, donor, _ = _pair("tiny_gpt2")
    names = candidate_modules(target, donor)
    assert len(names) == 4 * 4  # c_attn, attn.c_proj, c_fc, mlp.c_proj per layer
    assert all(n.startswith("transformer.h.") for n in names)
    assert not any("wte" in n or "ln" in n or "lm_head" in n for n in names)


@pytest.mark.parametrize("name", ["tiny_llama", "tiny_gpt2", "tiny_gemma3"])
def test_all_modules_alpha_one_copies_the_donor(name):
    target, donor, _ = _pair(name)
    names = candidate_modules(target, donor)
    graft(target, donor, names, alpha=1.0)
    for n in names:
        for pt, pd in zip(target.get_submodule(n).parameters(), donor.get_submodule(n).parameters(),
                          strict=True):
            assert torch.equal(pt, pd)
    # and nothing outside the candidates moved towards the donor
    emb = target.get_input_embeddings().weight
    assert not torch.equal(emb, donor.get_input_embeddings().weight)


@pytest.mark.parametrize("k,alpha", [(0, 1.0), (None, 0.0)])
def test_k_zero_or_alpha_zero_changes_nothing(k, alpha):
    target, donor, _ = _pair()
    before = {n: p.clone() for n, p in target.state_dict().items()}
    names = rank_modules({n: 1.0 for n in candidate_modules(target, donor)}, k)
    graft(target, donor, names, alpha=alpha)
    assert all(torch.equal(before[n], p) for n, p in target.state_dict().items())


def test_alpha_half_gives_the_midpoint():
    target, donor, _ = _pair()
    name = candidate_modules(target, donor)[3]
    t0 = target.get_submodule(name).weight.clone()
    graft(target, donor, [name], alpha=0.5)
    assert torch.allclose(target.get_submodule(name).weight,
                          (t0 + donor.get_submodule(name).weight) / 2, atol=1e-7)


def test_captured_stats_equal_a_direct_computation():
    model, tok = load_model("tiny_llama")
    batches = prompt_batches(tok, PROMPTS, batch_size=4)
    name = "model.layers.2.mlp.down_proj"
    stats = capture_stats(model, batches, [name])[name]
    # Direct: one prompt at a time, no padding, the module's output kept whole.
    outs = []
    h = model.get_submodule(name).register_forward_hook(lambda m, a, o: outs.append(o[0]))
    with torch.no_grad():
        for p in PROMPTS:
            model(input_ids=tok(p, return_tensors="pt").input_ids)
    h.remove()
    last = torch.stack([o[-1].abs().mean() for o in outs]).double().mean()
    tokens = torch.cat(outs).double()
    assert stats.n_sequences == len(PROMPTS) and stats.n_tokens == tokens.size(0)
    assert stats.last_abs_mean == pytest.approx(last.item(), rel=1e-6)
    assert stats.all_abs_mean == pytest.approx(tokens.abs().mean(-1).mean().item(), rel=1e-6)
    assert torch.allclose(stats.mean, tokens.mean(0), atol=1e-6)
    assert torch.allclose(stats.var, tokens.var(0), rtol=1e-5, atol=1e-8)


def test_no_hook_remains_after_capture_even_on_error():
    model, tok = load_model("tiny_llama")
    names = linear_modules(model)
    capture_stats(model, prompt_batches(tok, PROMPTS[:2]))
    assert all(not model.get_submodule(n)._forward_hooks for n in names)
    bad = [{"input_ids": torch.tensor([[1, 2]]), "attention_mask": torch.ones(1, 3)}]
    with pytest.raises((RuntimeError, IndexError)):  # the mask does not fit the batch
        capture_stats(model, bad)
    assert all(not model.get_submodule(n)._forward_hooks for n in names)


def test_ranking_and_controls():
    scores = {"a": 0.1, "b": -0.5, "c": 0.3, "d": 0.0}
    assert rank_modules(scores, 2) == ["b", "c"]
    assert rank_modules(scores, 2, order="bottom") == ["d", "a"]
    assert random_modules(list(scores), 2, seed=1) == random_modules(list(scores), 2, seed=1)
    assert sorted(random_modules(list(scores), None, seed=3)) == sorted(scores)


def test_activation_ranking_finds_the_changed_module():
    target, tok = load_model("tiny_llama")
    donor, _ = load_model("tiny_llama")
    changed = "model.layers.1.mlp.down_proj"
    with torch.no_grad():
        donor.get_submodule(changed).weight.mul_(3.0)
    batches = prompt_batches(tok, PROMPTS)
    scores = activation_scores(capture_stats(target, batches), capture_stats(donor, batches))
    assert rank_modules(scores, 1) == [changed]


def test_mismatched_architectures_fail_naming_the_first_mismatch():
    llama, _ = load_model("tiny_llama")
    gpt2, _ = load_model("tiny_gpt2")
    with pytest.raises(GraftError, match="target has 'model.layers.0.self_attn.q_proj' where "
                                         "the donor has 'transformer.h.0.attn.c_attn'"):
        candidate_modules(llama, gpt2)
    from transplant.surgery.grow import grow_mlp

    wider, _ = load_model("tiny_llama")
    grow_mlp(wider, 2)
    with pytest.raises(GraftError, match=r"model.layers.0.mlp.gate_proj: target weight "
                                         r"\(128, 64\) != donor weight \(256, 64\)"):
        candidate_modules(llama, wider)


def test_parameter_matched_random_draws_match_the_count_and_vary_by_seed():
    from transplant.surgery.graft import random_matched_modules

    sizes = {f"m{i}": s for i, s in enumerate([100, 400, 50, 400, 25, 100, 800, 50] * 4)}
    draws = [random_matched_modules(sizes, 1000, seed) for seed in range(20)]
    totals = [sum(sizes[n] for n in chosen) for chosen in draws]
    # It stops at the closer side of the target: off by at most half a module.
    assert all(abs(t - 1000) <= max(sizes.values()) / 2 for t in totals)
    assert abs(sum(totals) / len(totals) - 1000) < 100
    assert all(len(set(c)) == len(c) for c in draws)
    assert len({tuple(sorted(c)) for c in draws}) > 10
    assert draws[3] == random_matched_modules(sizes, 1000, 3)
