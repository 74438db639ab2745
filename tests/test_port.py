"""PEFT modules: the two registered with peft (bottleneck adapter, Compacter), saving and
loading in peft's format, porting between hosts, and the sampled control."""

import pytest
import torch
from peft import (
    IA3Config,
    LoraConfig,
    PeftModel,
    PrefixTuningConfig,
    PromptTuningConfig,
    get_peft_model,
)
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, LlamaConfig

from transplant.models import load_model
from transplant.surgery.bottleneck import BottleneckConfig
from transplant.surgery.compacter import CompacterConfig, PHMLinear
from transplant.surgery.port import PortError, port, sampled_like

IDS = torch.tensor([[256, 84, 104, 101, 32, 99, 97, 116, 32, 115, 97, 116, 46]])
CONFIGS = {
    "lora": lambda: LoraConfig(task_type="CAUSAL_LM", r=4, target_modules=["q_proj", "v_proj"]),
    "prefix": lambda: PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=4),
    "prompt": lambda: PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=4),
    "ia3": lambda: IA3Config(task_type="CAUSAL_LM", target_modules=["v_proj", "down_proj"],
                             feedforward_modules=["down_proj"]),
    "bottleneck": lambda: BottleneckConfig(task_type="CAUSAL_LM", r=8,
                                           target_modules=["down_proj"]),
    "compacter": lambda: CompacterConfig(task_type="CAUSAL_LM", r=8,
                                         target_modules=["down_proj"]),
}


def _trained_module(kind: str, tmp_path, seed: int = 0):
    """A module whose every tensor moved away from its initialisation, saved; its logits."""
    model, _ = load_model("tiny_llama")
    wrapped = get_peft_model(model, CONFIGS[kind]())
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in wrapped.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.2)
    out = tmp_path / kind
    wrapped.save_pretrained(out)
    return out, wrapped(input_ids=IDS).logits


@pytest.mark.parametrize("kind", CONFIGS)
def test_ported_module_on_the_same_host_gives_its_outputs_exactly(kind, tmp_path):
    directory, logits = _trained_module(kind, tmp_path)
    host, _ = load_model("tiny_llama")
    plain = host(input_ids=IDS).logits
    ported = port(directory, host)
    assert torch.equal(ported(input_ids=IDS).logits, logits)
    assert not torch.equal(logits[:, -IDS.size(1):], plain)  # the module does something


@pytest.mark.parametrize("kind", CONFIGS)
def test_module_saved_here_loads_in_plain_peft(kind, tmp_path):
    directory, logits = _trained_module(kind, tmp_path)
    host, _ = load_model("tiny_llama")
    loaded = PeftModel.from_pretrained(host, directory)
    assert torch.equal(loaded(input_ids=IDS).logits, logits)


@pytest.mark.parametrize("kind", ["bottleneck", "compacter"])
def test_adapters_start_as_the_identity(kind):
    host, _ = load_model("tiny_llama")
    before = host(input_ids=IDS).logits
    assert torch.equal(get_peft_model(host, CONFIGS[kind]())(input_ids=IDS).logits, before)


def test_compacter_weight_is_a_sum_of_kronecker_products_with_shared_rules(tmp_path):
    rules = torch.nn.Parameter(torch.randn(4, 4, 4))
    layer = PHMLinear(rules, n=4, k=1, in_features=8, out_features=12)
    expected = sum(torch.kron(rules[i], layer.s[i] @ layer.t[i]) for i in range(4))
    assert torch.allclose(layer.weight(), expected, atol=1e-6)
    # The rules are saved once, not once per layer; the per-layer factors are rank-k.
    directory, _ = _trained_module("compacter", tmp_path)
    keys = load_file(directory / "adapter_model.safetensors")
    assert sorted(k for k in keys if "rules" in k) == ["base_model.compacter_rules_down",
                                                      "base_model.compacter_rules_up"]
    per_layer = [k for k in keys if k.endswith("bottleneck_down.s")]
    assert len(per_layer) == 4 and tuple(keys[per_layer[0]].shape) == (4, 2, 1)  # r/n x k


def _narrow_llama():
    config = LlamaConfig(vocab_size=512, hidden_size=32, intermediate_size=64,
                         num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2)
    return AutoModelForCausalLM.from_config(config)


@pytest.mark.parametrize("kind", CONFIGS)
def test_porting_to_other_shapes_names_the_tensors_and_leaves_the_host(kind, tmp_path):
    directory, _ = _trained_module(kind, tmp_path)
    host = _narrow_llama()
    state = {k: v.clone() for k, v in host.state_dict().items()}
    modules = [n for n, _ in host.named_modules()]
    with pytest.raises(PortError, match="does not fit this host") as error:
        port(directory, host)
    message = str(error.value)
    assert "module [" in message and "!= host [" in message  # a named tensor, both shapes
    assert [n for n, _ in host.named_modules()] == modules  # nothing half-applied
    assert all(torch.equal(v, state[k]) for k, v in host.state_dict().items())


def test_porting_a_module_whose_targets_the_host_lacks_fails(tmp_path):
    directory, _ = _trained_module("lora", tmp_path)
    with pytest.raises(PortError, match=r"gpt2 host: Target modules .*not found"):
        port(directory, load_model("tiny_gpt2")[0])


def test_damaged_or_missing_module_files_fail_as_such(tmp_path):
    with pytest.raises(PortError, match="no adapter_config.json"):
        port(tmp_path, load_model("tiny_llama")[0])
    directory, _ = _trained_module("bottleneck", tmp_path)
    (directory / "adapter_model.safetensors").write_bytes(b"\x00" * 16)
    with pytest.raises(PortError, match="is not a readable PEFT module"):
        port(directory, load_model("tiny_llama")[0])


def test_sampled_control_matches_each_tensors_moments_and_differs():
    torch.manual_seed(0)
    tensors = {"a": torch.randn(200, 50) * 3 + 1, "b": torch.rand(4000) - 7,
               "one": torch.tensor([2.5])}
    sampled = sampled_like(tensors, seed=1)
    for key in ("a", "b"):
        t, s = tensors[key], sampled[key]
        n = t.numel()
        assert s.shape == t.shape and not torch.equal(s, t)
        # within 5 standard errors of the mean and of the standard deviation
        assert abs(s.mean() - t.mean()) < 5 * t.std() / n ** 0.5
        assert abs(s.std() - t.std()) < 5 * t.std() / (2 * (n - 1)) ** 0.5
    assert torch.equal(sampled["one"], tensors["one"])
    assert all(torch.equal(sampled[k], sampled_like(tensors, seed=1)[k]) for k in tensors)
    assert not torch.equal(sampled["a"], sampled_like(tensors, seed=2)["a"])


def test_sampled_port_applies_the_sampled_tensors(tmp_path):
    directory, logits = _trained_module("bottleneck", tmp_path)
    sampled = port(directory, load_model("tiny_llama")[0], sample_seed=3)
    assert not torch.allclose(sampled(input_ids=IDS).logits, logits)
    again = port(directory, load_model("tiny_llama")[0], sample_seed=3)
    assert torch.equal(again(input_ids=IDS).logits, sampled(input_ids=IDS).logits)


def test_a_module_ported_to_another_host_names_that_host_as_its_base(tmp_path):
    # Saved on one host, loaded onto another of the same shapes (here: the same weights saved
    # under another directory): the module's base becomes the new host, quietly.
    import warnings

    model, _ = load_model("tiny_llama")
    for name in ("origin_host", "other_host"):
        model.save_pretrained(tmp_path / name)
    origin = AutoModelForCausalLM.from_pretrained(tmp_path / "origin_host")
    get_peft_model(origin, CONFIGS["lora"]()).save_pretrained(tmp_path / "module")
    other = AutoModelForCausalLM.from_pretrained(tmp_path / "other_host")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ported = port(tmp_path / "module", other)
    assert not [w for w in caught if "was renamed" in str(w.message)]
    assert ported.peft_config["default"].base_model_name_or_path == str(tmp_path / "other_host")


@pytest.mark.parametrize("name", ["tiny_llama", "tiny_gpt2", "tiny_qwen3"])
def test_a_prefix_from_text_is_the_host_after_reading_that_text(name):
    from transplant.surgery.prefix import prefix_from_text

    host, _ = load_model(name)
    text, x = IDS[0, :4], IDS[:, 4:]
    after_text = host(input_ids=IDS).logits[:, 4:]  # the host reads the text, then x
    model = get_peft_model(host, PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=4))
    assert not torch.allclose(model(input_ids=x).logits, after_text, atol=1e-3)  # N(0, 1)
    prefix_from_text(model, text)
    torch.testing.assert_close(model(input_ids=x).logits, after_text, atol=1e-5, rtol=1e-5)
    mask = torch.ones_like(x)  # as label scoring passes it
    torch.testing.assert_close(model(input_ids=x, attention_mask=mask).logits, after_text,
                               atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="expected 4 token ids .* shape \\(5,\\)"):
        prefix_from_text(model, IDS[0, :5])
