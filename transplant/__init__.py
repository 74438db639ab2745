"""transplant: move trained parts between transformer models, and measure what carries over."""

__version__ = "0.1.0"
