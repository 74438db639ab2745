"""The console is for the user: known-harmless library noise is silenced where a run starts."""

from __future__ import annotations

import warnings

# Message regexes, each with why it is harmless here.
HARMLESS = (
    # Lightning sees SLURM's srun installed (a login node, or this machine) and suggests it;
    # SLURM jobs are launched through submitit, which does use srun.
    r"The `srun` command is available on your system but is not used",
    # Lightning 2.6 calls an API torch 2.13 deprecated; nothing to do on our side.
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",
    # peft asks a transformers 5 model through the name transformers 6 will remove.
    r"`is_gradient_checkpointing` is deprecated",
)


def quiet_libraries() -> None:
    """Filter the warnings in HARMLESS and transformers' weight-loading bar (a fraction of a
    second, once per model load: not a long step that deserves a bar)."""
    for message in HARMLESS:
        warnings.filterwarnings("ignore", message=message)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
