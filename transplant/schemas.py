"""The Hydra wiring every entry point shares: where the configs are, and the structured
schemas they name (`_schema`, and `method/_<name>` for each method)."""

from __future__ import annotations

from pathlib import Path

# The configs live at the repository top level, beside the package.
CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")


def register_schemas() -> None:
    """Register the schemas with Hydra's ConfigStore (idempotent): before composing a config."""
    from transplant.config import register_schema
    from transplant.methods import register_method_schemas

    register_schema()
    register_method_schemas()
