"""Surgery: pure operations on modules and state dicts (no Hydra, Lightning or W&B)."""
