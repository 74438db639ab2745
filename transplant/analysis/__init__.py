"""Analysis: activation capture with forward hooks and streaming statistics."""
