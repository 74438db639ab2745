import pytest
import torch
from torch import nn
from transformers import AutoModelForCausalLM, BertConfig

from transplant.models import (
    FAMILIES,
    ModelLoadError,
    UnsupportedFamilyError,
    arch_for,
    decoder_layers,
    load_model,
    set_decoder_layers,
)

TINY = ["tiny_llama", "tiny_gpt2"]


@pytest.mark.parametrize("name", TINY)
def test_tiny_model_is_deterministic_per_seed(name):
    a, _ = load_model(name)
    b, _ = load_model(name)
    c, _ = load_model(name)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(),
                                                 b.state_dict().values(), strict=True))
    from transplant.models import ModelSpec

    d, _ = load_model(ModelSpec(name, seed=1))
    assert not torch.equal(next(iter(c.parameters())), next(iter(d.parameters())))


@pytest.mark.parametrize("name", TINY)
def test_architecture_map_points_at_real_modules(name):
    model, _ = load_model(name)
    arch = arch_for(model.config)
    layers = decoder_layers(model)
    assert len(layers) == getattr(model.config, arch.num_layers_key) == 4
    assert isinstance(model.get_submodule(arch.embed), nn.Embedding)
    assert model.get_submodule(arch.lm_head).weight.shape[0] == model.config.vocab_size
    model.get_submodule(arch.final_norm)
    for path in [*arch.attention.values(), *arch.mlp.values()]:
        weight = layers[0].get_submodule(path).weight
        assert weight.ndim == 2
    # Every state-dict key of layer 2 starts with the map's prefix for layer 2.
    keys = [k for k in model.state_dict() if k.startswith(arch.layer_prefix(2))]
    assert keys and all(k.split(".")[len(arch.layers.split("."))] == "2" for k in keys)


def _greedy(model, ids, use_cache):
    return model.generate(ids, max_new_tokens=8, do_sample=False, use_cache=use_cache,
                          pad_token_id=256)


@pytest.mark.parametrize("name", TINY)
@pytest.mark.parametrize("order", [[0, 1, 3], [0, 1, 1, 2, 3], [3, 2, 1, 0], [2]])
def test_rebuilt_stack_fixes_config_and_generates_with_cache(name, order):
    model, _ = load_model(name)
    arch = arch_for(model.config)
    old = list(decoder_layers(model))
    import copy

    set_decoder_layers(model, [copy.deepcopy(old[i]) for i in order], source_indices=order)
    assert getattr(model.config, arch.num_layers_key) == len(order)
    for i, layer in enumerate(decoder_layers(model)):
        for attr in arch.layer_index_attrs:
            assert layer.get_submodule(attr.rpartition(".")[0]).layer_idx == i
    ids = torch.tensor([[256, 104, 101, 108, 108, 111]])
    assert torch.equal(_greedy(model, ids, True), _greedy(model, ids, False))


def test_removing_a_layer_equals_skipping_it_by_hand():
    model, _ = load_model("tiny_llama")
    ids = torch.tensor([[256, 1, 2, 3, 4, 5]])
    # Reference: run the stack with layer 1 skipped through the model's own forward hooks.
    layers = decoder_layers(model)
    handle = layers[1].register_forward_hook(lambda m, args, out: args[0])
    with torch.no_grad():
        expected = model(ids).logits
    handle.remove()
    set_decoder_layers(model, [layers[0], layers[2], layers[3]], source_indices=[0, 2, 3])
    with torch.no_grad():
        got = model(ids).logits
    assert torch.allclose(got, expected, atol=1e-6)


def test_unsupported_family_lists_supported_ones_and_how_to_add():
    with pytest.raises(UnsupportedFamilyError) as err:
        arch_for(BertConfig())
    msg = str(err.value)
    assert "'bert'" in msg and "gpt2" in msg and "llama" in msg and "families.py" in msg
    assert set(FAMILIES) >= {"llama", "gpt2"}


@pytest.mark.parametrize("name", TINY)
def test_local_directory_loads_the_same_model(name, tmp_path):
    model, tok = load_model(name)
    model.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    again, tok2 = load_model(str(tmp_path / "m"))
    ids = torch.tensor([[256, 7, 8, 9]])
    with torch.no_grad():
        assert torch.equal(model(ids).logits, again(ids).logits)
    assert tok2("héllo").input_ids == tok("héllo").input_ids
    # and plain transformers reads it without this package
    assert isinstance(AutoModelForCausalLM.from_pretrained(tmp_path / "m"), type(model))


def test_missing_directory_says_so(tmp_path):
    with pytest.raises(ModelLoadError, match="no such directory"):
        load_model(str(tmp_path / "nope"))


def test_offline_hub_failure_is_explained(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError) as err:
        load_model("nobody-here/no-such-model")
    assert "could not load model 'nobody-here/no-such-model'" in str(err.value)
    assert "Without internet, use an embedded model or a local model directory" in str(err.value)


def test_trust_remote_code_is_off_by_default():
    from transplant.models import ModelSpec

    assert ModelSpec("x").trust_remote_code is False
