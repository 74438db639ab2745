import pytest
import torch

from transplant.data.corpora import Document
from transplant.data.split import split_documents
from transplant.data.tokens import build_stream, token_stream, tokenizer_hash


def test_stream_layout_and_budget(tokenizer):
    eos = tokenizer.eos_token_id
    docs = [Document("a", "abc"), Document("b", "defgh"), Document("c", "xyz")]
    s = build_stream(docs, tokenizer, max_tokens=5)
    # [eos] abc [eos] de  -> 5 scored tokens; the cut document counts its kept bytes only
    assert s.ids.tolist() == [eos, *b"abc", eos, *b"de"]
    assert s.scored.tolist() == [False, True, True, True, False, True, True]
    assert (s.n_bytes, s.n_docs, s.doc_ids, s.doc_bytes) == (3 + 2, 2, ("a", "b"), (3, 2))
    assert s.doc_index().tolist() == [0, 0, 0, 0, 1, 1, 1]


def test_whole_split_and_per_document_cap(tokenizer):
    docs = [Document("a", "abcdef"), Document("b", "gh"), Document("c", "ijklmnop")]
    whole = build_stream(docs, tokenizer, max_tokens=None)
    assert whole.n_predicted == 16 and whole.doc_bytes == (6, 2, 8)
    capped = build_stream(docs, tokenizer, max_tokens=None, doc_max_tokens=3)
    assert capped.ids.tolist() == [tokenizer.eos_token_id, *b"abc", tokenizer.eos_token_id,
                                   *b"gh", tokenizer.eos_token_id, *b"ijk"]
    assert capped.doc_bytes == (3, 2, 3)


def test_cut_document_counts_multibyte_prefix_exactly():
    from transplant.models.tokenizer import byte_tokenizer

    tok = byte_tokenizer()
    s = build_stream([Document("a", "héllo")], tok, max_tokens=4)
    assert s.n_predicted == 4 and s.n_bytes == 4  # h + é (2 bytes) + l


def test_split_is_deterministic_disjoint_and_order_free():
    docs = [Document(str(i), f"doc {i}") for i in range(2000)]
    a = split_documents(docs, 50, 50)
    b = split_documents(list(reversed(docs)), 50, 50)
    assert {k: [d.id for d in v] for k, v in a.items()} == {k: [d.id for d in v]
                                                              for k, v in b.items()}
    ids = [d.id for v in a.values() for d in v]
    assert sorted(ids) == sorted(d.id for d in docs) and len(set(ids)) == len(ids)
    assert 60 < len(a["test"]) < 140 and 60 < len(a["validation"]) < 140


def test_token_stream_is_cached_by_content_and_tokenizer(tokenizer, tmp_path):
    first = token_stream("python_docs", "test", tokenizer, 500)
    entries = list((tmp_path / "cache" / "tokens").glob("*/key.json"))
    assert len(entries) == 1
    again = token_stream("python_docs", "test", tokenizer, 500)
    assert torch.equal(first.ids, again.ids) and first.n_bytes == again.n_bytes
    assert len(list((tmp_path / "cache" / "tokens").glob("*/key.json"))) == 1
    tokenizer.add_tokens(["<new>"])  # another tokenizer: another entry
    token_stream("python_docs", "test", tokenizer, 500)
    assert len(list((tmp_path / "cache" / "tokens").glob("*/key.json"))) == 2
    assert first.n_predicted == 500 and first.ids[0] == tokenizer.eos_token_id


def test_tokenizer_hash_changes_with_vocabulary(tokenizer):
    h = tokenizer_hash(tokenizer)
    tokenizer.add_tokens(["<x>"])
    assert tokenizer_hash(tokenizer) != h


def test_empty_split_fails_naming_it(tokenizer):
    with pytest.raises(ValueError, match="licenses.*test.*empty"):
        token_stream("licenses", "test", tokenizer, 100, test_permille=0)


def test_duplicates_are_removed_before_splitting_whatever_the_order():
    texts = [f"Tweet number {i % 700}" for i in range(2100)]  # each text three times
    texts += [f"  tweet NUMBER {i}\n" for i in range(5)]  # the same, normalised
    docs = [Document(str(i), t) for i, t in enumerate(texts)]
    a = split_documents(docs, 50, 50)
    b = split_documents(list(reversed(docs)), 50, 50)
    assert {k: [d.id for d in v] for k, v in a.items()} == {k: [d.id for d in v]
                                                              for k, v in b.items()}
    kept = [" ".join(d.text.lower().split()) for v in a.values() for d in v]
    assert len(kept) == len(set(kept)) == 700
