"""Every family in the architecture map, on its tiny random config: the map points at real
modules, and a rebuilt layer stack (removed, duplicated, reordered layers) stays consistent."""

import copy

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from transplant.models import (
    FAMILIES,
    ModelLoadError,
    arch_for,
    decoder_layers,
    load_model,
    set_decoder_layers,
)

NAMES = [f"tiny_{family}" for family in FAMILIES]
IDS = torch.tensor([[256, 104, 101, 108, 108, 111, 32, 119]])


def _out(model, ids=IDS):
    with torch.no_grad():
        out = model(input_ids=ids)
    return out.logits if hasattr(out, "logits") else out.last_hidden_state


@pytest.mark.parametrize("name", NAMES)
def test_map_points_at_real_modules(name):
    model, _ = load_model(name)
    arch = arch_for(model.config)
    layers = decoder_layers(model)
    assert len(layers) == getattr(model.config, arch.num_layers_key) == 4
    assert isinstance(model.get_submodule(arch.embed), nn.Embedding)
    if arch.lm_head:
        assert model.get_submodule(arch.lm_head).weight.shape[0] == model.config.vocab_size
    if arch.final_norm:
        assert sum(p.numel() for p in model.get_submodule(arch.final_norm).parameters()) > 0
    for path in [*arch.attention.values(), *arch.mlp.values()]:
        assert any(p.ndim >= 2 for p in layers[0].get_submodule(path).parameters()), path
    n_prefix = len(arch.layers.split("."))
    keys = [k for k in model.state_dict() if k.startswith(arch.layer_prefix(2))]
    assert keys and all(k.split(".")[n_prefix] == "2" for k in keys)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("order", [[0, 1, 3], [0, 1, 1, 2, 3], [3, 2, 1, 0], [1]])
def test_rebuilt_stack_is_consistent_and_generates_with_cache(name, order):
    model, _ = load_model(name)
    arch = arch_for(model.config)
    per_layer = {k: list(getattr(model.config, k)) for k in arch.per_layer_config_keys
                 if getattr(model.config, k, None) is not None}
    old = list(decoder_layers(model))
    set_decoder_layers(model, [copy.deepcopy(old[i]) for i in order], source_indices=order)
    assert getattr(model.config, arch.num_layers_key) == len(order)
    for key, values in per_layer.items():
        assert getattr(model.config, key) == [values[i] for i in order]
    for i, layer in enumerate(decoder_layers(model)):
        for attr in arch.layer_index_attrs:
            owner, _, field = attr.rpartition(".")
            assert getattr(layer.get_submodule(owner) if owner else layer, field) == i
    assert torch.isfinite(_out(model)).all()
    if arch.causal:
        kw = dict(max_new_tokens=6, do_sample=False, pad_token_id=256)
        with_cache = model.generate(IDS, use_cache=True, **kw)
        assert torch.equal(with_cache, model.generate(IDS, use_cache=False, **kw))


@pytest.mark.parametrize("name", NAMES)
def test_removing_a_layer_equals_skipping_it(name):
    model, _ = load_model(name)
    layers = decoder_layers(model)

    def identity(module, args, kwargs, out):  # layer 1 passes its input through
        hidden = args[0] if args else kwargs["hidden_states"]
        return hidden if isinstance(out, torch.Tensor) else (hidden, *out[1:])

    handle = layers[1].register_forward_hook(identity, with_kwargs=True)
    expected = _out(model)
    handle.remove()
    set_decoder_layers(model, [layers[0], layers[2], layers[3]], source_indices=[0, 2, 3])
    assert torch.allclose(_out(model), expected, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_model_directory_round_trip(name, tmp_path):
    model, tok = load_model(name)
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    again, _ = load_model(str(tmp_path))
    assert type(again) is type(model)
    assert torch.equal(_out(model), _out(again))


def _damage(tmp_path, edit):
    model, tok = load_model("tiny_qwen3")
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    tensors = load_file(tmp_path / "model.safetensors")
    edit(tensors)
    save_file(tensors, tmp_path / "model.safetensors", metadata={"format": "pt"})


def test_missing_tensor_is_named(tmp_path):
    _damage(tmp_path, lambda t: t.pop("model.layers.2.mlp.up_proj.weight"))
    with pytest.raises(ModelLoadError, match=r"1 missing tensor\(s\): model.layers.2.mlp.up_proj"):
        load_model(str(tmp_path))


def test_unexpected_tensor_is_named(tmp_path):
    _damage(tmp_path, lambda t: t.update({"model.layers.9.extra.weight": torch.zeros(2)}))
    with pytest.raises(ModelLoadError, match=r"unexpected tensor\(s\): model.layers.9.extra"):
        load_model(str(tmp_path))


def test_mismatched_tensor_shape_is_named(tmp_path):
    _damage(tmp_path, lambda t: t.update(
        {"model.layers.1.self_attn.q_proj.weight": torch.zeros(32, 64)}))
    with pytest.raises(ModelLoadError, match="model.layers.1.self_attn.q_proj.weight"):
        load_model(str(tmp_path))


def test_the_same_layer_object_twice_is_refused():
    model, _ = load_model("tiny_llama")
    layers = list(decoder_layers(model))
    with pytest.raises(ValueError, match="decoder layers 1 and 2 are the same module object"):
        set_decoder_layers(model, [layers[0], layers[1], layers[1]])
    assert len(decoder_layers(model)) == 4  # refused before anything changed
