"""What goes wrong finding or reading a model, for loading and for reading its facts alike."""


class ModelLoadError(RuntimeError):
    """A model cannot be found or read (raised by loading, and by reading its facts)."""
