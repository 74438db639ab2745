"""Results: read run records (never torch) and write tables."""
