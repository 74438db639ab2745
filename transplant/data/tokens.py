"""Tokenised splits as one token stream, cached by corpus content + tokenizer + budget.

Stream layout: [sep] doc_1 [sep] doc_2 [sep] ... where sep is the tokenizer's BOS token if it
marks document starts (Gemma, Llama-2), else its EOS token. The leading separator gives the
first document's first token a context. Separators are context only: the scored targets are
the document tokens, so perplexity and bits/byte measure the text, not the boundary markers.
"""

from __future__ import annotations

import hashlib
import json
import os
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
    """Token ids of a split (1-D int64), which positions are scored targets (1-D bool:
    document tokens, not separators), and the UTF-8 bytes of the scored text."""

    ids: torch.Tensor
    scored: torch.Tensor
    n_bytes: int
    n_docs: int
    domain: str
    split: str

    @property
    def n_predicted(self) -> int:
        return int(self.scored.sum())


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


def separator(tokenizer: PreTrainedTokenizerBase) -> int:
    """The document separator: BOS if the tokenizer starts documents with it, else EOS."""
    bos = tokenizer.bos_token_id
    if bos is not None and tokenizer("a").input_ids[:1] == [bos]:
        return bos
    if tokenizer.eos_token_id is None:
        raise ValueError("the tokenizer has neither a BOS it adds nor an EOS token")
    return tokenizer.eos_token_id


def build_stream(docs: list[Document], tokenizer: PreTrainedTokenizerBase,
                 max_tokens: int) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    """Tokenise documents in order until the stream holds `max_tokens` scored tokens.

    Returns (ids, scored, n_bytes, n_docs). A document cut by the budget counts the bytes of
    its kept prefix exactly, through the tokenizer's character offsets.
    """
    sep = separator(tokenizer)
    ids, scored, n_bytes, n_docs = [sep], [False], 0, 0
    for doc in docs:
        room = max_tokens - sum(scored)
        if room <= 0:
            break
        if n_docs:
            ids.append(sep)
            scored.append(False)
        enc = tokenizer(doc.text, add_special_tokens=False, return_offsets_mapping=True)
        toks = enc["input_ids"][:room]
        ids += toks
        scored += [True] * len(toks)
        end = len(doc.text) if len(toks) == len(enc["input_ids"]) else \
            enc["offset_mapping"][room - 1][1]
        n_bytes += len(doc.text[:end].encode())
        n_docs += 1
    return (torch.tensor(ids, dtype=torch.int64), torch.tensor(scored, dtype=torch.bool),
            n_bytes, n_docs)


def token_stream(corpus: CorpusSpec | str, split: str, tokenizer: PreTrainedTokenizerBase,
                 max_tokens: int, validation_permille: int = 50, test_permille: int = 50,
                 cache: str | os.PathLike | None = None) -> TokenStream:
    """The cached token stream of one split of a corpus, at most `max_tokens` predicted tokens.
    `cache`: the cache root (default: `cache.cache_root()`)."""
    if split not in SPLITS:
        raise ValueError(f"split {split!r} is not one of {SPLITS}")
    corpus = CorpusSpec(corpus) if isinstance(corpus, str) else corpus
    docs = load_corpus(corpus)
    key = {"corpus": asdict(corpus), "content": corpus_hash(docs), "split": split,
           "tokenizer": tokenizer_hash(tokenizer), "max_tokens": max_tokens,
           "validation_permille": validation_permille, "test_permille": test_permille,
           "format": 2}

    def build(out: Path) -> None:
        part = split_documents(docs, validation_permille, test_permille)[split]
        ids, scored, n_bytes, n_docs = build_stream(part, tokenizer, max_tokens)
        save_file({"ids": ids, "scored": scored}, out / "tokens.safetensors")
        (out / "meta.json").write_text(json.dumps({"n_bytes": n_bytes, "n_docs": n_docs}))

    entry = cached_dir("tokens", key, build, root=cache)
    meta = json.loads((entry / "meta.json").read_text())
    tensors = load_file(entry / "tokens.safetensors")
    if tensors["ids"].numel() < 2:
        raise ValueError(f"corpus {corpus.name!r} split {split!r} is empty")
    return TokenStream(tensors["ids"], tensors["scored"], meta["n_bytes"], meta["n_docs"],
                       corpus.name, split)
