"""Models: loading (embedded, tiny, local, hub) and per-family architecture maps."""

from transplant.lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "ArchMap": "arch",
    "FAMILIES": "families", "UnsupportedFamilyError": "families", "arch_for": "families",
    "decoder_layers": "layers", "fresh_layer": "layers", "set_decoder_layers": "layers",
    "ModelLoadError": "errors", "known_models": "loading", "load_model": "loading",
    "model_config": "loading",
})
