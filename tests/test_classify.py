import math

import pytest
import torch

from transplant.eval.classify import (
    CONTENT_FREE,
    classification_metrics,
    classify,
    label_scores,
)
from transplant.eval.gaps import gap_recovery, tir
from transplant.models import load_model


@pytest.mark.parametrize("labels", [[" yes", " no way"], ["x", "y", "z"]],
                         ids=["multi-token", "one-token"])
def test_label_scores_equal_a_direct_sum_of_token_log_probs(labels):
    """Several-token labels score prompt+label sequences; one-token labels are read off one
    forward of the prompt: both equal the direct computation, prompts of unequal length too."""
    model, tok = load_model("tiny_llama")
    prompts = ["hello there", "a much longer prompt than the others", "ab", "a b"]
    scores = label_scores(model, tok, prompts, labels, batch_size=3)  # batched by length
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


def test_classification_metrics_against_a_hand_computation():
    labels = ["neg", "neg", "neg", "pos", "pos", "neu"]
    predicted = ["neg", "pos", "neg", "pos", "neg", "pos"]
    m = classification_metrics(predicted, labels, ["neg", "neu", "pos"])
    # neg: tp 2, 3 predicted, 3 true -> 4/6; pos: tp 1, 3 predicted, 2 true -> 2/5; neu: 0
    assert m["acc"] == pytest.approx(3 / 6)
    assert m["macro_f1"] == pytest.approx((4 / 6 + 2 / 5 + 0) / 3)
    assert m["majority_acc"] == pytest.approx(3 / 6) and m["n"] == 6


def test_contextual_calibration_removes_a_label_prior():
    # A model that prefers one label word everywhere: calibration divides that preference out,
    # so predictions follow what differs between inputs.
    model, tok = load_model("tiny_llama")
    texts = ["good", "bad", "fine", "awful", "great", "meh"]
    words = {"a": " x", "b": " y", "c": " z"}
    raw = classify(model, tok, texts, words, "{text}:")
    cal = classify(model, tok, texts, words, "{text}:", calibration="contextual")
    scores = label_scores(model, tok, [f"{t}:" for t in texts], list(words.values()))
    free = label_scores(model, tok, [f"{t}:" for t in CONTENT_FREE], list(words.values()))
    prior = torch.log_softmax(free, -1).exp().mean(0).log()
    expected = (torch.log_softmax(scores, -1) - prior).argmax(-1).tolist()
    assert cal == [list(words)[i] for i in expected]
    assert raw == [list(words)[i] for i in scores.argmax(-1).tolist()]
    with pytest.raises(ValueError, match="calibration 'platt'"):
        classify(model, tok, texts, words, "{text}:", calibration="platt")


def _one_by_one(model, tokenizer, prompts, label_ids):
    """Label log-probabilities from each prompt alone: full logits, no padding."""
    rows = []
    for prompt in prompts:
        ids = torch.tensor([tokenizer(prompt).input_ids])
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0, -1]
        rows.append(torch.log_softmax(logits.float(), -1)[label_ids])
    return torch.stack(rows)


PROMPTS = ["Text: a\nSentiment:", "Text: a longer one, padded less\nSentiment:", "x", "Text: b"]


@pytest.mark.parametrize("name", ["tiny_llama", "tiny_gpt2", "tiny_gpt_neox", "tiny_gemma3",
                                  "tiny_qwen3", "tiny_gpt_oss"])
def test_scores_read_at_kept_positions_equal_scores_from_all_logits(name):
    model, tokenizer = load_model(name)
    words = ["P", "N"]  # one byte token each: the kept-position path
    label_ids = [tokenizer(w, add_special_tokens=False).input_ids[0] for w in words]
    expected = _one_by_one(model, tokenizer, PROMPTS, label_ids)
    for keep, by_length in ((True, True), (False, True), (True, False)):  # the bench's paths
        scores = label_scores(model, tokenizer, PROMPTS, words, batch_size=3,
                              keep_positions=keep, by_length=by_length)
        assert torch.allclose(scores, expected, atol=1e-4)


@pytest.mark.parametrize("kind", ["prompt", "prefix"])
def test_kept_positions_hold_under_prompt_learning(kind):
    from peft import PrefixTuningConfig, PromptTuningConfig, get_peft_model

    model, tokenizer = load_model("tiny_llama")
    config = (PromptTuningConfig if kind == "prompt" else PrefixTuningConfig)(
        task_type="CAUSAL_LM", num_virtual_tokens=4)
    wrapped = get_peft_model(model, config)
    label_ids = [tokenizer(w, add_special_tokens=False).input_ids[0] for w in ("P", "N")]
    expected = _one_by_one(wrapped, tokenizer, PROMPTS, label_ids)
    assert torch.allclose(label_scores(wrapped, tokenizer, PROMPTS, ["P", "N"], batch_size=4),
                          expected, atol=1e-4)
