"""Deterministic train / validation / test split by document id."""

from __future__ import annotations

import hashlib

from transplant.data.corpora import Document

SPLITS = ("train", "validation", "test")


def _bucket(doc_id: str) -> tuple[int, str]:
    digest = hashlib.sha256(doc_id.encode()).hexdigest()
    return int(digest[:8], 16) % 1000, digest


def normalised(text: str) -> str:
    """The text as duplicates are recognised: case-folded, whitespace collapsed."""
    return " ".join(text.casefold().split())


def deduplicate(docs: list[Document]) -> list[tuple[int, str, Document]]:
    """One (bucket, digest, document) per normalised text: the one whose id hashes lowest,
    so the choice does not depend on the documents' order."""
    kept: dict[str, tuple[int, str, Document]] = {}
    for doc in docs:
        bucket, digest = _bucket(doc.id)
        key = normalised(doc.text)
        if key not in kept or digest < kept[key][1]:
            kept[key] = (bucket, digest, doc)
    return list(kept.values())


def split_documents(docs: list[Document], validation_permille: int = 50,
                    test_permille: int = 50) -> dict[str, list[Document]]:
    """Deduplicate by normalised text, then assign each document to a split by a hash of its
    id; order each split by that hash.

    Deduplication first: a text repeated under two ids (59 of 1,850 test tweets also occurred
    verbatim in train) could otherwise be trained on and tested on. The hash order also
    shuffles documents that arrive sorted (the tweets come grouped by label), and it does not
    change when documents are added to the corpus.
    """
    out: dict[str, list[tuple[str, Document]]] = {s: [] for s in SPLITS}
    for bucket, digest, doc in deduplicate(docs):
        if bucket < test_permille:
            out["test"].append((digest, doc))
        elif bucket < test_permille + validation_permille:
            out["validation"].append((digest, doc))
        else:
            out["train"].append((digest, doc))
    return {s: [d for _, d in sorted(pairs, key=lambda x: x[0])] for s, pairs in out.items()}
