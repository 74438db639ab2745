import json

import pytest
import torch
from transformers import AutoModelForCausalLM, T5Config

from transplant.models import (
    FAMILIES,
    ModelLoadError,
    UnsupportedFamilyError,
    arch_for,
    load_model,
)

TINY = ["tiny_llama", "tiny_gpt2"]


@pytest.mark.parametrize("name", TINY)
def test_tiny_model_is_deterministic_per_seed(name):
    a, _ = load_model(name)
    b, _ = load_model(name)
    c, _ = load_model(name)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(),
                                                 b.state_dict().values(), strict=True))
    from transplant.config import ModelConfig

    d, _ = load_model(ModelConfig(name, seed=1))
    assert not torch.equal(next(iter(c.parameters())), next(iter(d.parameters())))


def test_unsupported_family_lists_supported_ones_and_how_to_add():
    with pytest.raises(UnsupportedFamilyError) as err:
        arch_for(T5Config())
    msg = str(err.value)
    assert "'t5'" in msg and "gpt2" in msg and "gemma3_text" in msg and "families.py" in msg
    assert set(FAMILIES) == {"gpt2", "llama", "mistral", "qwen2", "qwen3", "gemma3", "gpt_neox",
                             "gpt_oss", "bert"}


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
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # read by us at each load, by the hub at import:
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # no retries
    with pytest.raises(ModelLoadError) as err:
        load_model("nobody-here/no-such-model")
    assert "could not load model 'nobody-here/no-such-model'" in str(err.value)
    assert "Without internet, use an embedded model or a local model directory" in str(err.value)


def test_remote_code_in_a_model_directory_is_never_run_by_default(tmp_path):
    # A directory whose config asks for its own code: loading it must refuse, not import it.
    marker = tmp_path / "code_ran"
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text(json.dumps({
        "model_type": "evil_model", "auto_map": {"AutoConfig": "evil.EvilConfig"}}))
    (tmp_path / "m" / "evil.py").write_text(
        f"open({str(marker)!r}, 'w').write('ran')\n"
        "from transformers import PretrainedConfig\n"
        "class EvilConfig(PretrainedConfig):\n    model_type = 'evil_model'\n")
    with pytest.raises(ValueError, match="trust_remote_code"):
        load_model(str(tmp_path / "m"))
    assert not marker.exists()


def test_unreachable_hub_fails_at_once_in_one_line(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(ModelLoadError) as err:
        load_model("some-org/some-model")
    assert "looks like a hub id, but the hub (http://127.0.0.1:9) cannot be reached" in \
        str(err.value) and "\n" not in str(err.value)  # refused before any hub request


def test_unknown_bare_name_is_not_sent_to_the_hub():
    with pytest.raises(ModelLoadError, match="'smollm9' is not an embedded model .* a hub model "
                                             "is named <org>/<name>"):
        load_model("smollm9")
