"""Models: loading (embedded, tiny, local, hub) and per-family architecture maps."""

from transplant.models.arch import ArchMap
from transplant.models.families import FAMILIES, UnsupportedFamilyError, arch_for
from transplant.models.layers import decoder_layers, fresh_layer, set_decoder_layers
from transplant.models.loading import (
    ModelLoadError,
    known_models,
    load_model,
    model_config,
)

__all__ = [
    "FAMILIES", "ArchMap", "ModelLoadError", "UnsupportedFamilyError", "arch_for",
    "decoder_layers", "fresh_layer", "known_models", "load_model", "model_config",
    "set_decoder_layers",
]
