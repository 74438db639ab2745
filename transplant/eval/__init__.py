"""Evaluation: perplexity and bits per byte."""

from transplant.eval.perplexity import PerplexityResult, perplexity, sliding_windows

__all__ = ["PerplexityResult", "perplexity", "sliding_windows"]
