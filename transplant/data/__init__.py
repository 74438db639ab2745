"""Data: corpora on this machine, deterministic splits, cached token streams."""

from transplant.data.corpora import (
    CORPORA,
    CorpusSpec,
    CorpusUnavailableError,
    Document,
    load_corpus,
)
from transplant.data.split import SPLITS, split_documents
from transplant.data.tokens import TokenStream, token_stream

__all__ = [
    "CORPORA", "SPLITS", "CorpusSpec", "CorpusUnavailableError", "Document", "TokenStream",
    "load_corpus", "split_documents", "token_stream",
]
