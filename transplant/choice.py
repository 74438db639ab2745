"""A fixed set of string options, for config schemas (Hydra lists what a field accepts) and
for the plain functions that take the same options without any config."""

from __future__ import annotations

from enum import Enum


class Choice(str, Enum):
    """Compares equal to its value, prints as its value."""

    def __str__(self) -> str:
        return self.value
