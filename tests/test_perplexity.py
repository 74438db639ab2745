import math

import pytest
import torch

from transplant.data.corpora import Document
from transplant.data.tokens import TokenStream, build_stream
from transplant.eval.perplexity import perplexity, sliding_windows
from transplant.models import load_model


@pytest.mark.parametrize("n,window,stride", [(2, 4, 3), (10, 4, 3), (10, 4, 1), (37, 8, 3),
                                             (64, 64, 63), (65, 64, 32), (100, 7, 6)])
def test_windows_score_every_token_once(n, window, stride):
    scored = []
    for w in sliding_windows(n, window, stride):
        assert w.end - w.begin <= window
        assert w.begin < w.first_target <= w.end
        scored += range(w.first_target, w.end)
    assert scored == list(range(1, n))


@pytest.mark.parametrize("stride", [0, 4, 5])
def test_stride_must_leave_context(stride):
    with pytest.raises(ValueError, match="eval.stride must be in 1..window-1"):
        sliding_windows(10, 4, stride)


def _stream(ids: torch.Tensor, n_bytes: int) -> TokenStream:
    scored = torch.ones_like(ids, dtype=torch.bool)
    scored[0] = False
    return TokenStream(ids, scored, n_bytes, 1, "test", "test")


def _context_start(t: int, n: int, window: int, stride: int) -> int:
    # Window k ends at min(window + k*stride, n), reads the `window` tokens before its end, and
    # scores the targets its predecessor did not reach; t falls in the first window ending past t.
    k = 0 if t < window else (t - window) // stride + 1
    return max(0, min(window + k * stride, n) - window)


@pytest.mark.parametrize("window,stride", [(200, 100), (32, 31), (32, 8), (17, 5)])
def test_perplexity_matches_token_by_token_computation(window, stride):
    model, _ = load_model("tiny_llama")
    ids = torch.randint(0, 257, (90,), generator=torch.Generator().manual_seed(1))
    result = perplexity(model, _stream(ids, 89), window, stride, batch_size=3, progress=False)
    # Independent: one forward per target token on exactly the context the protocol promises.
    nll = 0.0
    with torch.no_grad():
        for t in range(1, ids.numel()):
            b = _context_start(t, ids.numel(), window, stride)
            logits = model(input_ids=ids[None, b:t]).logits[0, -1].double()
            nll -= torch.log_softmax(logits, -1)[ids[t]].item()
    assert result.n_predicted == 89
    assert result.nll_sum == pytest.approx(nll, rel=1e-5)
    assert result.ppl == pytest.approx(math.exp(nll / 89), rel=1e-5)


def test_perplexity_is_not_a_mean_of_batch_perplexities():
    model, _ = load_model("tiny_llama")
    ids = torch.randint(0, 257, (64,), generator=torch.Generator().manual_seed(2))
    one = perplexity(model, _stream(ids, 63), 16, 8, batch_size=1, progress=False)
    many = perplexity(model, _stream(ids, 63), 16, 8, batch_size=4, progress=False)
    assert one.nll_sum == pytest.approx(many.nll_sum, rel=1e-6)
    assert one.n_predicted == many.n_predicted == 63


def test_bits_per_byte_counts_document_bytes_only(tokenizer):
    # Byte tokenizer on ASCII: one token per byte, so bits/byte = nats/token / ln 2 exactly.
    docs = [Document("a", "hello world"), Document("b", "def f(x):\n    return x")]
    stream = build_stream(docs, tokenizer, max_tokens=1000)
    assert stream.n_docs == 2
    assert stream.n_bytes == stream.n_predicted == len(docs[0].text) + len(docs[1].text)
    model, _ = load_model("tiny_llama")
    r = perplexity(model, stream, 16, 8, progress=False)
    assert r.bpb == pytest.approx(r.nll / math.log(2), rel=1e-12)


def test_separators_are_context_not_targets(tokenizer):
    docs = [Document(str(i), "abc " * 5) for i in range(6)]
    stream = build_stream(docs, tokenizer, max_tokens=1000)
    ids, scored = stream.ids, stream.scored
    model, _ = load_model("tiny_llama")
    got = perplexity(model, stream, 32, 16, progress=False)
    with torch.no_grad():  # independent: the full-sequence NLL at document tokens only
        logp = torch.log_softmax(model(input_ids=ids[None, :32]).logits[0].double(), -1)
    nll_first_window = -sum(logp[t - 1, ids[t]].item() for t in range(1, 32) if scored[t])
    one_window = perplexity(model, TokenStream(ids[:32], scored[:32], 0, 1, "x", "t"), 32, 16,
                            progress=False)
    assert one_window.nll_sum == pytest.approx(nll_first_window, rel=1e-6)
    assert got.n_predicted == 6 * 20 and (ids[~scored] == tokenizer.eos_token_id).all()


def test_per_document_nll_sums_to_the_total_and_matches_each_document(tokenizer):
    docs = [Document(str(i), "abc " * (3 + i)) for i in range(5)]
    stream = build_stream(docs, tokenizer, max_tokens=1000)
    model, _ = load_model("tiny_llama")
    r = perplexity(model, stream, 24, 12, progress=False)
    assert r.doc_tokens == tuple(len(d.text) for d in docs)
    assert sum(r.doc_nll) == pytest.approx(r.nll_sum, rel=1e-12)
    # Independent: the first document alone, scored in one window, has the same NLL (it sits
    # at the start of the stream, so it sees the same context).
    first = build_stream(docs[:1], tokenizer, max_tokens=1000)
    alone = perplexity(model, first, 24, 12, progress=False)
    assert r.doc_nll[0] == pytest.approx(alone.nll_sum, rel=1e-6)
