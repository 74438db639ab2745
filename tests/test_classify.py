import math

import pytest
import torch

from transplant.eval.classify import label_scores
from transplant.eval.gaps import gap_recovery, tir
from transplant.models import load_model


@pytest.mark.parametrize("labels", [[" yes", " no way"], ["x", "y", "z"]],
                         ids=["multi-token", "one-token"])
def test_label_scores_equal_a_direct_sum_of_token_log_probs(labels):
    """Several-token labels score prompt+label sequences; one-token labels are read off one
    forward of the prompt: both equal the direct computation, prompts of unequal length too."""
    model, tok = load_model("tiny_llama")
    prompts = ["ab", "hello there", "a much longer prompt than the others"]
    scores = label_scores(model, tok, prompts, labels, batch_size=3)
    for i, p in enumerate(prompts):
        for j, w in enumerate(labels):
            ids = tok(p + w, return_tensors="pt").input_ids[0]
            n = len(tok(p).input_ids)
            with torch.no_grad():
                logp = torch.log_softmax(model(input_ids=ids[None]).logits[0], -1)
            direct = sum(logp[t - 1, ids[t]].item() for t in range(n, len(ids)))
            assert scores[i, j].item() == pytest.approx(direct, rel=1e-5, abs=1e-5)


def test_gap_recovery_and_tir():
    assert gap_recovery(0.6, 0.4, 0.8) == pytest.approx(0.5)
    assert gap_recovery(0.9, 0.4, 0.8) == pytest.approx(1.25)
    # perplexity: on logs; halfway in log space is the geometric mean
    assert gap_recovery(math.sqrt(100 * 25), 100, 25, lower_is_better=True) == pytest.approx(0.5)
    assert gap_recovery(1.0, 2.0, 2.0) is None
    assert tir(0.6, 0.4) == pytest.approx(1.5)
