"""experiments/theseus/rotated.py: folding and rotating keep the function, and transport
returns the copy's own task vector exactly under SGD and not under AdamW."""

import importlib.util

import pytest
import torch
from transformers import AutoModelForCausalLM, LlamaConfig

from tests.conftest import REPO
from transplant.surgery.transport import cosine, task_vector, transport

spec = importlib.util.spec_from_file_location("rotated", REPO / "experiments/theseus/rotated.py")
rotated_py = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rotated_py)


@pytest.fixture(scope="module")
def pair():
    config = LlamaConfig(vocab_size=97, hidden_size=16, intermediate_size=32,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         tie_word_embeddings=True, max_position_embeddings=64)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config).eval()
    with torch.no_grad():  # gains other than 1, as a trained model has
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.uniform_(0.5, 1.5)
    q, _ = torch.linalg.qr(torch.randn(16, 16, generator=torch.Generator().manual_seed(1)))
    source = rotated_py.rotatable(model)
    return model, source, rotated_py.rotated(source, q)


def _ids(n, seed):
    return torch.randint(0, 97, (n, 12), generator=torch.Generator().manual_seed(seed))


def test_the_folded_untied_and_rotated_copies_compute_the_models_function(pair):
    model, source, copy_ = pair
    ids = _ids(3, 2)
    with torch.no_grad():
        logits = model(input_ids=ids).logits
        assert torch.allclose(source(input_ids=ids).logits, logits, atol=1e-5)
        assert torch.allclose(copy_(input_ids=ids).logits, logits, atol=1e-5)
    assert source.lm_head.weight.data_ptr() != source.model.embed_tokens.weight.data_ptr()
    assert all(float(p.detach().min()) == float(p.detach().max()) == 1.0
               for n, p in copy_.named_parameters() if n.endswith("norm.weight"))


def test_transport_gives_the_copys_own_task_vector_under_sgd_only(pair):
    _, source, copy_ = pair
    batches = [_ids(4, 10)] * 6  # one batch again and again: its loss must fall
    calibration = _ids(16, 3)
    cos = {}
    for optimiser, lr in (("sgd", 0.5), ("adamw", 1e-2)):
        tuned_a, first, last = rotated_py.finetune(source, batches, optimiser, lr)
        tuned_b, _, _ = rotated_py.finetune(copy_, batches, optimiser, lr)
        assert last < first  # it trained
        moved = transport(task_vector(tuned_a, source), source, copy_, calibration)
        cos[optimiser] = cosine(moved, task_vector(tuned_b, copy_))
    assert cos["sgd"] == pytest.approx(1.0, abs=1e-5)  # SGD is rotation-equivariant
    assert cos["adamw"] < 0.95  # AdamW's per-coordinate scaling is not
