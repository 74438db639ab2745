"""Theseus transport: exact on identical models, recovers a hidden rotation of the residual
stream, gives the target's shapes across widths, refuses too little calibration."""

import copy

import pytest
import torch
from transformers import AutoModelForCausalLM, LlamaConfig

from transplant.analysis.paired import load_moments, save_moments
from transplant.surgery.transport import (
    TransportError,
    apply_task_vector,
    calibration_moments,
    cosine,
    layer_match,
    task_vector,
    transport,
    transport_with,
)

READS = ("q_proj", "k_proj", "v_proj", "gate_proj", "up_proj")  # read the residual stream
WRITES = ("o_proj", "down_proj")  # write it


def _llama(hidden=32, layers=2, seed=0):
    """A tiny Llama with unit norm weights (so that its residual stream can be rotated without
    changing its function) and untied embeddings."""
    config = LlamaConfig(vocab_size=257, hidden_size=hidden, intermediate_size=2 * hidden,
                         num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                         tie_word_embeddings=False, max_position_embeddings=128)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.fill_(1.0)
    return model


def _finetuned(model, seed=1):
    tuned = copy.deepcopy(model)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in tuned.named_parameters():
            if name.startswith("model.layers.") and name.endswith("proj.weight"):
                p.add_(0.02 * torch.randn(p.shape, generator=g))
    return tuned


def _rotated(model, q):
    """The same function with its residual stream h replaced by q h."""
    out = copy.deepcopy(model)
    with torch.no_grad():
        for name, p in out.named_parameters():
            if name == "model.embed_tokens.weight" or name == "lm_head.weight" \
                    or name.endswith(tuple(f"{r}.weight" for r in READS)):
                p.copy_(p @ q.T)
            elif name.endswith(tuple(f"{w}.weight" for w in WRITES)):
                p.copy_(q @ p)
    return out


def _ids(n=16, seq=32, seed=2):
    return torch.randint(0, 257, (n, seq), generator=torch.Generator().manual_seed(seed))


def test_identical_models_transport_the_task_vector_unchanged():
    source = _llama()
    tau = task_vector(_finetuned(source), source)
    moved = transport(tau, source, copy.deepcopy(source), _ids())
    assert moved.keys() == {k for k in tau if k.startswith("model.layers.") and "proj" in k}
    for key, value in moved.items():
        assert torch.allclose(value, tau[key], atol=1e-7), key


def test_a_rotated_residual_stream_is_recovered():
    source = _llama()
    q, _ = torch.linalg.qr(torch.randn(32, 32, generator=torch.Generator().manual_seed(5)))
    target = _rotated(source, q)
    ids = _ids()
    assert torch.allclose(source(input_ids=ids).logits, target(input_ids=ids).logits,
                          atol=1e-4)  # the rotated model computes the same function
    tau = task_vector(_finetuned(source), source)
    moved = transport(tau, source, target, ids)
    for key, value in moved.items():
        expected = tau[key] @ q.T if key.endswith(tuple(f"{r}.weight" for r in READS)) \
            else q @ tau[key]
        assert torch.allclose(value, expected, atol=1e-5), key
    # and so the rotated fine-tuned model is the fine-tuned source, rotated
    apply_task_vector(target, moved, 1.0)
    tuned = _finetuned(source)
    assert torch.allclose(target(input_ids=ids).logits, tuned(input_ids=ids).logits, atol=1e-4)


def test_cosine_of_task_vectors_is_taken_over_the_named_tensors_joined():
    a = {"x": torch.tensor([1.0, 0.0]), "y": torch.tensor([0.0, 2.0])}
    b = {"x": torch.tensor([3.0, 0.0]), "y": torch.tensor([0.0, -1.0])}
    # joined: (3 - 2) / (sqrt(5) * sqrt(10)); per tensor it would be +1 and -1
    assert cosine(a, b) == pytest.approx(1 / 50 ** 0.5, rel=1e-12)
    assert cosine(a, b, ["x"]) == pytest.approx(1.0)
    with pytest.raises(TransportError, match=r"lacks: \['z'\]"):
        cosine(a, {**b, "z": b["x"]}, ["x", "z"])


@pytest.mark.parametrize("widths", [(32, 48), (48, 32)], ids=["widening", "narrowing"])
def test_other_widths_give_the_targets_shapes_and_alpha_zero_changes_nothing(widths):
    source, target = _llama(widths[0], layers=2), _llama(widths[1], layers=3, seed=4)
    tau = task_vector(_finetuned(source), source)
    moved = transport(tau, source, target, _ids(n=24))
    params = dict(target.named_parameters())
    assert len(moved) == 3 * 7  # every projection of every target layer
    assert all(v.shape == params[k].shape for k, v in moved.items())
    before = {k: v.clone() for k, v in target.state_dict().items()}
    apply_task_vector(target, moved, 0.0)
    assert all(torch.equal(v, before[k]) for k, v in target.state_dict().items())
    apply_task_vector(target, moved, 0.5)
    key = "model.layers.1.mlp.down_proj.weight"
    assert torch.allclose(params[key], before[key] + 0.5 * moved[key])


@pytest.mark.parametrize("center,whiten_power", [(False, 0.0), (True, 0.25)])
def test_moments_kept_on_disk_transport_exactly_as_collected(tmp_path, center, whiten_power):
    # The method caches the calibration statistics (safetensors) and transports from them: the
    # result must be bit-identical to collecting and transporting in one call.
    source, target = _llama(32, layers=2), _llama(48, layers=3, seed=4)
    tau = task_vector(_finetuned(source), source)
    ids = _ids(n=24)
    direct = transport(tau, source, target, ids, center=center, whiten_power=whiten_power)
    save_moments(calibration_moments(source, target, ids, second_moments=whiten_power > 0),
                 tmp_path / "m.safetensors")
    kept = transport_with(tau, source, target, load_moments(tmp_path / "m.safetensors"),
                          center=center, whiten_power=whiten_power)
    assert kept.keys() == direct.keys()
    assert all(torch.equal(kept[k], direct[k]) for k in direct)


def test_moments_of_other_models_are_refused_with_what_does_not_fit():
    small, wide = _llama(32, layers=2), _llama(48, layers=2, seed=4)
    moments = calibration_moments(small, small, _ids(n=24))
    with pytest.raises(TransportError, match=r"collected on other models: they lack 0 and "
                                             r"mis-shape 24 .*\[32, 32\] != \[32, 48\]"):
        transport_with({}, small, wide, moments)
    deeper = _llama(32, layers=3, seed=4)  # layers 1, 2 of 3 read layers 0, 1 of 2: other pairs
    with pytest.raises(TransportError, match=r"they lack 24 and mis-shape 0 .*"
                                             r"\(model\.layers\.0\.mlp\.down_proj:in: \| "
                                             r"model\.layers\.1\.mlp\.down_proj:in:\)"):
        transport_with({}, small, deeper, moments)


def test_layers_are_matched_by_relative_depth():
    assert layer_match(4, 4) == [0, 1, 2, 3]
    assert layer_match(4, 2) == [0, 3]
    assert layer_match(2, 5) == [0, 0, 0, 1, 1]  # round half to even at the middle


def test_too_little_calibration_is_refused_with_the_reason():
    source = _llama()
    tau = task_vector(_finetuned(source), source)
    with pytest.raises(TransportError, match=r"calibration set has 40 tokens, fewer than the "
                                             r"widest aligned space \(64\)"):
        transport(tau, source, source, _ids(n=2, seq=20))


def test_a_task_vector_that_does_not_fit_changes_nothing():
    model = _llama()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(TransportError, match="model.layers.0.mlp.up_proj.weight: tau"):
        apply_task_vector(model, {"model.layers.0.mlp.down_proj.weight": torch.ones(32, 64),
                                  "model.layers.0.mlp.up_proj.weight": torch.ones(3, 3)}, 1.0)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


@pytest.mark.parametrize("name", ["tiny_gpt2", "tiny_gpt_neox", "tiny_llama", "tiny_mistral",
                                  "tiny_qwen2", "tiny_qwen3", "tiny_gemma3"])
def test_every_family_transports_unchanged_between_identical_models(name):
    from transplant.models import load_model

    source, _ = load_model(name)
    tau = task_vector(_finetuned_any(source), source)
    moved = transport(tau, source, copy.deepcopy(source), _ids())
    assert moved and all(torch.allclose(v, tau[k], atol=1e-7) for k, v in moved.items())


def _finetuned_any(model, seed=1):
    tuned = copy.deepcopy(model)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in tuned.named_parameters():
            if ".layers." in name or ".h." in name:
                p.add_(0.02 * torch.randn(p.shape, generator=g))
    return tuned


def test_permuted_attention_heads_are_found_in_a_fused_per_head_projection():
    # GPT-NeoX fuses q, k, v per head: [q_h | k_h | v_h]. Permuting the heads (the rows of
    # query_key_value in blocks of 3 x head_dim, the columns of dense in blocks of head_dim)
    # keeps the function; transport must return tau permuted the same way.
    from transplant.models import load_model

    source, _ = load_model("tiny_gpt_neox")
    heads, hidden = source.config.num_attention_heads, source.config.hidden_size
    hd, perm = hidden // heads, [2, 0, 3, 1]

    def permute(t, key):
        if key.endswith("query_key_value.weight"):
            return t.view(heads, 3 * hd, -1)[perm].reshape(t.shape)
        if key.endswith("query_key_value.bias"):
            return t.view(heads, 3 * hd)[perm].reshape(t.shape)
        if key.endswith("attention.dense.weight"):
            return t.view(t.size(0), heads, hd)[:, perm].reshape(t.shape)
        return t

    target = copy.deepcopy(source)
    with torch.no_grad():
        for key, p in target.named_parameters():
            p.copy_(permute(p.clone(), key))
    ids = _ids()
    assert torch.allclose(source(input_ids=ids).logits, target(input_ids=ids).logits,
                          atol=1e-4)
    tau = task_vector(_finetuned_any(source), source)
    moved = transport(tau, source, target, ids)
    for key, value in moved.items():
        assert torch.allclose(value, permute(tau[key], key), atol=1e-5), key


def test_expert_layers_are_refused_by_name():
    from transplant.models import load_model

    model, _ = load_model("tiny_gpt_oss")
    with pytest.raises(TransportError, match="gpt_oss's experts is not supported"):
        transport({}, model, model, _ids())


@pytest.mark.parametrize("name", ["tiny_gpt2", "tiny_gpt_neox", "tiny_llama", "tiny_qwen3"])
def test_the_projections_policy_trains_exactly_what_transport_moves(name):
    # Theseus' fine-tuned control trains the tensors a task vector is transported on: no more
    # (embeddings, norms), no fewer (biases, fused q/k/v).
    from transplant.models import load_model
    from transplant.training.policies import train_projections

    model, _ = load_model(name)
    tau = task_vector(_finetuned_any(model), model)
    moved = transport(tau, model, copy.deepcopy(model), _ids())
    train_projections(model)
    assert {n for n, p in model.named_parameters() if p.requires_grad} == set(moved)
