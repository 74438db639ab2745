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
    document tokens, not separators), and the UTF-8 bytes of the scored text.

    The stream is `sep doc sep doc ...`: every document follows one unscored separator, so the
    document of a scored position is the number of separators before it, minus one.
    `doc_ids` and `doc_bytes` name each document and count its scored text's bytes.
    """

    ids: torch.Tensor
    scored: torch.Tensor
    n_bytes: int
    n_docs: int
    domain: str
    split: str
    doc_ids: tuple[str, ...] = ()
    doc_bytes: tuple[int, ...] = ()

    @property
    def n_predicted(self) -> int:
        return int(self.scored.sum())

    def doc_index(self) -> torch.Tensor:
        """For each position, the index of its document (separators: the next one's - 1)."""
        return torch.cumsum((~self.scored).long(), 0) - 1


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
                 max_tokens: int | None, doc_max_tokens: int | None = None,
                 domain: str = "", split: str = "") -> TokenStream:
    """Tokenise documents in order until the stream holds `max_tokens` scored tokens (None:
    all of them), keeping at most the first `doc_max_tokens` of each document.

    A document cut short counts the bytes of its kept prefix exactly, through the tokenizer's
    character offsets.
    """
    sep = separator(tokenizer)
    ids, scored, doc_ids, doc_bytes, n_scored = [], [], [], [], 0
    for doc in docs:
        room = (max_tokens - n_scored) if max_tokens is not None else None
        if room is not None and room <= 0:
            break
        if doc_max_tokens is not None:
            room = doc_max_tokens if room is None else min(room, doc_max_tokens)
        enc = tokenizer(doc.text, add_special_tokens=False, return_offsets_mapping=True)
        toks = enc["input_ids"][:room]
        if not toks:
            continue
        ids += [sep, *toks]
        scored += [False] + [True] * len(toks)
        end = len(doc.text) if len(toks) == len(enc["input_ids"]) else \
            enc["offset_mapping"][len(toks) - 1][1]
        doc_ids.append(doc.id)
        doc_bytes.append(len(doc.text[:end].encode()))
        n_scored += len(toks)
    return TokenStream(torch.tensor(ids, dtype=torch.int64),
                       torch.tensor(scored, dtype=torch.bool), sum(doc_bytes), len(doc_ids),
                       domain, split, tuple(doc_ids), tuple(doc_bytes))


def token_stream(corpus: CorpusSpec | str, split: str, tokenizer: PreTrainedTokenizerBase,
                 max_tokens: int | None, validation_permille: int = 50, test_permille: int = 50,
                 cache: str | os.PathLike | None = None,
                 doc_max_tokens: int | None = None) -> TokenStream:
    """The cached token stream of one split of a corpus: at most `max_tokens` predicted tokens
    (None: the whole split), at most `doc_max_tokens` from each document (None: whole
    documents). `cache`: the cache root (default: `cache.cache_root()`)."""
    if split not in SPLITS:
        raise ValueError(f"split {split!r} is not one of {SPLITS}")
    corpus = CorpusSpec(corpus) if isinstance(corpus, str) else corpus
    docs = load_corpus(corpus)
    key = {"corpus": asdict(corpus), "content": corpus_hash(docs), "split": split,
           "tokenizer": tokenizer_hash(tokenizer), "max_tokens": max_tokens,
           "doc_max_tokens": doc_max_tokens,
           "validation_permille": validation_permille, "test_permille": test_permille}

    def build(out: Path) -> None:
        part = split_documents(docs, validation_permille, test_permille)[split]
        stream = build_stream(part, tokenizer, max_tokens, doc_max_tokens)
        save_file({"ids": stream.ids, "scored": stream.scored}, out / "tokens.safetensors")
        (out / "meta.json").write_text(json.dumps({"doc_ids": stream.doc_ids,
                                                   "doc_bytes": stream.doc_bytes}))

    entry = cached_dir("tokens", key, build, root=cache)
    meta = json.loads((entry / "meta.json").read_text())
    tensors = load_file(entry / "tokens.safetensors")
    if tensors["ids"].numel() < 2:
        raise ValueError(f"corpus {corpus.name!r} split {split!r} is empty")
    return TokenStream(tensors["ids"], tensors["scored"], sum(meta["doc_bytes"]),
                       len(meta["doc_ids"]), corpus.name, split, tuple(meta["doc_ids"]),
                       tuple(meta["doc_bytes"]))
