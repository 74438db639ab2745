import copy
import json

import pytest
import torch

from transplant.models import FAMILIES, decoder_layers, load_model
from transplant.surgery.organ import (
    Organ,
    OrganError,
    extract_organ,
    extract_organ_from_checkpoint,
    implant,
    organ_model,
)

DECODERS = [f"tiny_{f}" for f, a in FAMILIES.items() if a.causal]
IDS = torch.tensor([[256, 84, 104, 101, 32, 99, 97, 116, 32, 115, 97, 116]])


def _logits(model):
    with torch.no_grad():
        return model(input_ids=IDS).logits


@pytest.mark.parametrize("name", DECODERS)
@pytest.mark.parametrize("start,length", [(0, 1), (1, 3), (2, 2)])
def test_implanting_an_organ_where_it_came_from_changes_nothing(name, start, length):
    model, _ = load_model(name)
    before = _logits(model)
    organ = extract_organ(model, start, length)
    implant(model, organ, start, "replace")
    assert (_logits(model) - before).abs().max() <= 1e-6
    kw = dict(max_new_tokens=5, do_sample=False, pad_token_id=256)
    assert torch.equal(model.generate(IDS, use_cache=True, **kw),
                       model.generate(IDS, use_cache=False, **kw))


@pytest.mark.parametrize("name", DECODERS)
def test_save_load_is_bit_exact(name, tmp_path):
    model, _ = load_model(name)
    organ = extract_organ(model, 1, 2, provenance={"trained": "no"})
    organ.save(tmp_path / "o.safetensors")
    back = Organ.load(tmp_path / "o.safetensors")
    assert back.tensors.keys() == organ.tensors.keys()
    assert all(torch.equal(back.tensors[k], organ.tensors[k]) for k in organ.tensors)
    assert back.manifest["source_layers"] == [1, 2] and back.manifest["provenance"] == {
        "trained": "no"}
    assert back.manifest["shape"]["hidden_size"] == 64


def test_insert_adds_depth_and_runs_the_organ_where_asked():
    model, _ = load_model("tiny_gemma3")
    donor, _ = load_model("tiny_gemma3")
    organ = extract_organ(donor, 1, 2)  # layer types: full, sliding
    implant(model, organ, 0, "insert")
    assert model.config.num_hidden_layers == 6
    assert model.config.layer_types[:3] == ["full_attention", "sliding_attention",
                                            "sliding_attention"]
    for i, layer in enumerate(decoder_layers(model)):
        assert layer.layer_idx == i and layer.self_attn.layer_idx == i
        assert layer.self_attn.is_sliding == (model.config.layer_types[i] == "sliding_attention")
    kw = dict(max_new_tokens=5, do_sample=False, pad_token_id=256)
    assert torch.equal(model.generate(IDS, use_cache=True, **kw),
                       model.generate(IDS, use_cache=False, **kw))


def test_replace_elsewhere_uses_the_organs_weights():
    model, _ = load_model("tiny_llama")
    donor, _ = load_model("tiny_llama")
    organ = extract_organ(donor, 0, 1)
    implant(model, organ, 3, "replace")
    assert all(torch.equal(a, b) for a, b in zip(decoder_layers(model)[3].parameters(),
                                                 decoder_layers(donor)[0].parameters(),
                                                 strict=True))


def test_flipped_byte_is_detected(tmp_path):
    model, _ = load_model("tiny_llama")
    path = extract_organ(model, 0, 2).save(tmp_path / "o.safetensors")
    data = bytearray(path.read_bytes())
    data[-100] ^= 0x01  # inside the tensor data
    path.write_bytes(bytes(data))
    with pytest.raises(OrganError, match="is damaged: the sha256 of its tensors and manifest"):
        Organ.load(path)


def _rewrite_manifest(path, edit, redigest: bool):
    """Rewrite an organ file's manifest (as an attacker or a careless tool would)."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    from transplant.surgery.organ import organ_sha256

    with safe_open(str(path), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
        manifest = json.loads(f.metadata()["transplant"])
    manifest = edit(manifest)
    if redigest and isinstance(manifest, dict):
        manifest["sha256"] = organ_sha256(tensors, manifest)
    text = manifest if isinstance(manifest, str) else json.dumps(manifest)
    save_file(tensors, str(path), metadata={"transplant": text})


def test_an_edited_manifest_is_damage(tmp_path):
    model, _ = load_model("tiny_llama")
    path = extract_organ(model, 0, 2).save(tmp_path / "o.safetensors")
    _rewrite_manifest(path, lambda m: {**m, "length": 1}, redigest=False)
    with pytest.raises(OrganError, match="is damaged: the sha256 .*changed since it was written"):
        Organ.load(path)


@pytest.mark.parametrize("edit,field", [
    (lambda m: {**m, "length": -1}, "length=-1 is invalid: expected an integer >= 1"),
    (lambda m: {**m, "length": 1, "source_layers": [0],
                "per_layer": {k: v[:1] for k, v in m["per_layer"].items()}},
     "length=1 is invalid: expected the number of layers its tensors hold (2"),
    (lambda m: {**m, "length": "2"}, "length='2' is invalid"),
    (lambda m: {**m, "shape": {}}, "shape={} is invalid: expected an object with positive"),
    (lambda m: {**m, "rope": None}, "rope=None is invalid: expected an object"),
    (lambda m: {**m, "family": "klingon"}, "family='klingon' is invalid: expected one of"),
    (lambda m: {k: v for k, v in m.items() if k != "per_layer"}, "per_layer=None is invalid"),
    (lambda m: {**m, "source_layers": [0]}, "source_layers=[0] is invalid: expected a list of 2"),
])
def test_a_crafted_manifest_is_refused_naming_the_field(tmp_path, edit, field):
    # Even with a correct digest (a crafted file), every field is checked before use.
    model, _ = load_model("tiny_llama")
    path = extract_organ(model, 0, 2).save(tmp_path / "o.safetensors")
    _rewrite_manifest(path, edit, redigest=True)
    with pytest.raises(OrganError, match="manifest field " + field.replace("(", r"\(")
                       .replace("[", r"\[").replace("{", r"\{")):
        Organ.load(path)


@pytest.mark.parametrize("text", ["{not json", "[" * 100000 + "]" * 100000, "[1, 2]"])
def test_an_unparseable_manifest_is_damage(tmp_path, text):
    model, _ = load_model("tiny_llama")
    path = extract_organ(model, 0, 2).save(tmp_path / "o.safetensors")
    _rewrite_manifest(path, lambda m: text, redigest=False)
    with pytest.raises(OrganError, match="is damaged: its manifest is not"):
        Organ.load(path)


def test_truncated_file_is_detected(tmp_path):
    model, _ = load_model("tiny_llama")
    path = extract_organ(model, 0, 2).save(tmp_path / "o.safetensors")
    path.write_bytes(path.read_bytes()[:-1000])
    with pytest.raises(OrganError, match="not a readable organ file"):
        Organ.load(path)


def test_recipient_of_another_width_fails_naming_both_sizes_and_is_untouched():
    from transformers import AutoModelForCausalLM

    donor, _ = load_model("tiny_llama")
    organ = extract_organ(donor, 0, 2)
    config = copy.deepcopy(donor.config)
    config.hidden_size, config.intermediate_size = 96, 192
    recipient = AutoModelForCausalLM.from_config(config)
    state = {k: v.clone() for k, v in recipient.state_dict().items()}
    with pytest.raises(OrganError) as err:
        implant(recipient, organ, 0)
    assert "organ hidden size 64 != recipient hidden size 96" in str(err.value)
    assert "organ intermediate size 128 != recipient intermediate size 192" in str(err.value)
    assert all(torch.equal(state[k], v) for k, v in recipient.state_dict().items())
    assert len(decoder_layers(recipient)) == 4


def test_other_family_and_bad_position_are_named():
    organ = extract_organ(load_model("tiny_llama")[0], 0, 3)
    with pytest.raises(OrganError, match="organ family llama != recipient family qwen2"):
        implant(load_model("tiny_qwen2")[0], organ, 0)
    with pytest.raises(OrganError, match=r"position 2 is outside 0..1 for a 3-layer organ"):
        implant(load_model("tiny_llama")[0], organ, 2)


def test_streamed_extraction_equals_in_memory(tmp_path):
    model, _ = load_model("tiny_qwen3")
    model.save_pretrained(tmp_path, max_shard_size="60KB")  # many shards
    assert len(list(tmp_path.glob("model-*.safetensors"))) > 3
    streamed = extract_organ_from_checkpoint(tmp_path, 1, 2)
    in_memory = extract_organ(model, 1, 2)
    assert streamed.tensors.keys() == in_memory.tensors.keys()
    assert all(torch.equal(streamed.tensors[k], in_memory.tensors[k]) for k in streamed.tensors)
    assert streamed.manifest["shape"] == in_memory.manifest["shape"]


@pytest.mark.parametrize("name", ["tiny_llama", "tiny_gpt2", "tiny_gemma3"])
def test_organ_model_is_embedding_organ_head(name):
    donor, _ = load_model(name)
    wrapper = organ_model(donor, 1, 2)
    assert len(decoder_layers(wrapper)) == 2 and len(decoder_layers(donor)) == 4
    # Its forward equals running the donor's layers 1..2 alone between its embedding and head.
    reference = copy.deepcopy(donor)
    from transplant.models import set_decoder_layers

    layers = decoder_layers(reference)
    set_decoder_layers(reference, [layers[1], layers[2]], source_indices=[1, 2])
    assert torch.equal(_logits(wrapper), _logits(reference))
    # and shares no storage with the donor
    assert all(a.data_ptr() != b.data_ptr() for a in wrapper.parameters()
               for b in donor.parameters())
