"""Data: corpora on this machine, deterministic splits, cached token streams."""

from transplant.lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "CORPORA": "corpora", "CorpusSpec": "corpora", "CorpusUnavailableError": "corpora",
    "Document": "corpora", "load_corpus": "corpora",
    "SPLITS": "split", "split_documents": "split",
    "TokenStream": "tokens", "token_stream": "tokens",
})
