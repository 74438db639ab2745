"""Evaluation: perplexity and bits per byte."""

from transplant.lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "PerplexityResult": "perplexity", "perplexity": "perplexity", "sliding_windows": "perplexity",
})
