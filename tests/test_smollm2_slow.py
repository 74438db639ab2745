"""The embedded SmolLM2-135M: dequantise-and-cache, evaluation and a short run (`-m slow`)."""

import math

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from tests.conftest import REPO
from transplant.data.tokens import token_stream
from transplant.eval.perplexity import perplexity
from transplant.models import load_model
from transplant.models.embedded import EMBEDDED, embedded_model_dir, package_dir

pytestmark = pytest.mark.slow
CACHE = str(REPO / "outputs" / "cache")


@pytest.fixture(scope="module")
def smol():
    import os

    os.environ["TRANSPLANT_CACHE"] = CACHE
    return load_model("smollm2_135m")


def test_cached_model_equals_the_gguf_model(smol):
    model, tokenizer = smol
    emb = EMBEDDED["smollm2_135m"]
    src = package_dir(emb.package, emb.pip_name)
    gguf = AutoModelForCausalLM.from_pretrained(src, gguf_file=emb.file, dtype=torch.float32)
    ids = tokenizer("The capital of France is", return_tensors="pt").input_ids
    with torch.no_grad():
        assert torch.equal(model(ids).logits, gguf(ids).logits)
    # The cache is an ordinary model directory that plain transformers reads.
    plain = AutoModelForCausalLM.from_pretrained(embedded_model_dir("smollm2_135m", CACHE))
    assert plain.config.num_hidden_layers == 30 and plain.config.hidden_size == 576
    assert AutoTokenizer.from_pretrained(embedded_model_dir("smollm2_135m", CACHE)).vocab_size \
        == 49152


def test_greedy_generation_is_sensible(smol):
    model, tokenizer = smol
    ids = tokenizer("def hello_world():\n    print(", return_tensors="pt").input_ids
    out = model.generate(ids, max_new_tokens=8, do_sample=False)
    assert "Hello" in tokenizer.decode(out[0, ids.size(1):])


def test_perplexity_matches_hf_loss_window_by_window(smol):
    model, tokenizer = smol
    stream = token_stream("python_docs", "test", tokenizer, 384)
    result = perplexity(model, stream, window=128, stride=64, progress=False)
    # Independent: HF's own shifted loss on each window, with the already-scored labels masked.
    nll, count, ids, end = 0.0, 0, stream.ids, 0
    with torch.no_grad():
        while end < ids.numel():
            new_end = min(ids.numel(), 128 if end == 0 else end + 64)
            begin = max(0, new_end - 128)
            labels = ids[begin:new_end].clone()
            labels[: max(1, end - begin)] = -100
            labels[~stream.scored[begin:new_end]] = -100
            n = int((labels[1:] != -100).sum())
            nll += model(input_ids=ids[None, begin:new_end], labels=labels[None]).loss.item() * n
            count, end = count + n, new_end
    assert count == result.n_predicted == 384 and stream.n_predicted == 384
    assert result.ppl == pytest.approx(math.exp(nll / count), rel=1e-4)
    assert 5 < result.ppl < 40  # a pretrained model on Python's own docs


def test_lora_run_on_smollm2(run):
    metrics, run_dir = run(["model=smollm2_135m", "method=lora", "trainer.max_steps=2",
                            f"paths.cache={CACHE}"])
    # r=8 on q, o (576 -> 576) and k, v (576 -> 192, 3 KV heads of 64) in each of 30 layers
    assert metrics["params_trainable"] == 30 * 8 * (2 * (576 + 576) + 2 * (576 + 192))
    assert 1 < metrics["target_ppl"] < 1000 and metrics["train_tokens"] == 2 * 2 * 32
