"""Tokenised splits as one token stream, cached by corpus content + tokenizer + budget.

Stream layout: [eos] doc_1 [eos] doc_2 [eos] ... The leading separator gives the first
document's first token a context, so every document token is a predicted token.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from transformers import PreTrainedTokenizerBase

from transplant.cache import cached_dir
from transplant.data.corpora import CorpusSpec, Document, load_corpus
from transplant.data.split import SPLITS, split_documents


@dataclass(frozen=True)
class TokenStream:
    """Token ids of a split (1-D int64) and the UTF-8 bytes of the text they cover.

    `n_bytes` counts document text bytes plus one byte per predicted separator, so
    bits/byte = sum NLL / (ln 2 * n_bytes) covers exactly the predicted tokens.
    """

    ids: torch.Tensor
    n_bytes: int
    n_docs: int
    domain: str
    split: str

    @property
    def n_predicted(self) -> int:
        return self.ids.numel() - 1


def tokenizer_hash(tokenizer: PreTrainedTokenizerBase) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    blob = backend.to_str() if backend is not None else json.dumps(tokenizer.get_vocab(),
                                                                   sort_keys=True)
    return hashlib.sha256(f"{blob}|{tokenizer.eos_token_id}".encode()).hexdigest()[:16]


def corpus_hash(docs: list[Document]) -> str:
    h = hashlib.sha256()
    for d in docs:
        h.update(d.id.encode())
        h.update(b"\0")
        h.update(d.text.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def build_stream(docs: list[Document], tokenizer: PreTrainedTokenizerBase,
                 max_tokens: int) -> tuple[torch.Tensor, int, int]:
    """Tokenise documents in order until the stream holds `max_tokens` predicted tokens.

    Returns (ids, n_bytes, n_docs). A document cut by the budget counts the bytes of its
    kept prefix exactly, through the tokenizer's character offsets.
    """
    sep = tokenizer.eos_token_id
    ids, n_bytes, n_docs = [sep], 0, 0
    for doc in docs:
        room = max_tokens - (len(ids) - 1)
        if room <= 0:
            break
        enc = tokenizer(doc.text, add_special_tokens=False, return_offsets_mapping=True)
        toks = enc["input_ids"]
        if len(toks) < room:
            ids += toks + [sep]
            n_bytes += len(doc.text.encode()) + 1
        else:
            ids += toks[:room]
            n_bytes += len(doc.text[: enc["offset_mapping"][room - 1][1]].encode())
        n_docs += 1
    return torch.tensor(ids, dtype=torch.int64), n_bytes, n_docs


def token_stream(corpus: CorpusSpec | str, split: str, tokenizer: PreTrainedTokenizerBase,
                 max_tokens: int, validation_permille: int = 50,
                 test_permille: int = 50) -> TokenStream:
    """The cached token stream of one split of a corpus, at most `max_tokens` predicted tokens."""
    if split not in SPLITS:
        raise ValueError(f"split {split!r} is not one of {SPLITS}")
    corpus = CorpusSpec(corpus) if isinstance(corpus, str) else corpus
    docs = load_corpus(corpus)
    key = {"corpus": asdict(corpus), "content": corpus_hash(docs), "split": split,
           "tokenizer": tokenizer_hash(tokenizer), "max_tokens": max_tokens,
           "validation_permille": validation_permille, "test_permille": test_permille,
           "format": 1}

    def build(out: Path) -> None:
        part = split_documents(docs, validation_permille, test_permille)[split]
        ids, n_bytes, n_docs = build_stream(part, tokenizer, max_tokens)
        save_file({"ids": ids}, out / "tokens.safetensors")
        (out / "meta.json").write_text(json.dumps({"n_bytes": n_bytes, "n_docs": n_docs}))

    entry = cached_dir("tokens", key, build)
    meta = json.loads((entry / "meta.json").read_text())
    ids = load_file(entry / "tokens.safetensors")["ids"]
    if ids.numel() < 2:
        raise ValueError(f"corpus {corpus.name!r} split {split!r} is empty")
    return TokenStream(ids, meta["n_bytes"], meta["n_docs"], corpus.name, split)
