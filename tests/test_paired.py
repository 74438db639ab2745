"""Paired activation moments: equal to the products of the captured activations, also when
B reads other tokens; the Procrustes fit is 1 for a rotated copy and lower for unrelated rows."""

import pytest
import torch
from transformers import AutoModelForCausalLM, LlamaConfig

from transplant.analysis.paired import PairedMoments, Space, paired_moments


def _llama(seed):
    config = LlamaConfig(vocab_size=101, hidden_size=16, intermediate_size=32,
                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                         max_position_embeddings=64)
    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(config).eval()


def test_moments_are_the_products_of_the_final_hidden_states_row_against_row():
    a, b = _llama(0), _llama(1)
    g = torch.Generator().manual_seed(0)
    ids, other = (torch.randint(0, 101, (6, 10), generator=g) for _ in range(2))
    final = (Space("model.norm", "out"), Space("model.norm", "out"))
    for ids_b in (None, other):
        m = paired_moments(a, b, {"final": final}, ids, batch_size=4, second_moments=True,
                           ids_b=ids_b)["final"]
        with torch.no_grad():  # the last hidden state is the final norm's output
            h_a = a(input_ids=ids, output_hidden_states=True).hidden_states[-1]
            h_b = b(input_ids=ids if ids_b is None else ids_b,
                    output_hidden_states=True).hidden_states[-1]
        h_a, h_b = h_a.reshape(-1, 16).double(), h_b.reshape(-1, 16).double()
        assert m.n == 60
        assert torch.allclose(m.ab, h_a.T @ h_b, atol=1e-8)
        assert torch.allclose(m.bb, h_b.T @ h_b, atol=1e-8)
    with pytest.raises(ValueError, match=r"ids_b \[6, 9\] != ids \[6, 10\]"):
        paired_moments(a, b, {"final": final}, ids, ids_b=other[:, :9])


def test_procrustes_fit_is_one_for_a_rotated_copy_and_small_for_unrelated_rows():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(4000, 8, generator=g) @ torch.randn(8, 8, generator=g)  # anisotropic
    q, _ = torch.linalg.qr(torch.randn(8, 8, generator=g))
    wider = torch.cat([x @ q, torch.zeros(4000, 4)], 1) * 3.0  # rotated, padded, scaled
    rotated, unrelated = PairedMoments(), PairedMoments()
    rotated.update(x, wider, second_moments=True)
    unrelated.update(x, torch.randn(4000, 12, generator=g), second_moments=True)
    assert rotated.procrustes_fit() == pytest.approx(1.0, abs=1e-9)
    assert unrelated.procrustes_fit() < 0.1  # ~ sqrt(d / n) for independent rows
