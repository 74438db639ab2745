"""Training: Lightning modules, data loaders and trainable-parameter policies."""

from transplant.training.fit import TrainerSpec, TrainStats, fit
from transplant.training.lm_module import CausalLMModule, DivergenceError, OptimSpec
from transplant.training.policies import LoraSpec, PolicySpec, apply_policy, count_parameters

__all__ = [
    "CausalLMModule", "DivergenceError", "LoraSpec", "OptimSpec", "PolicySpec", "TrainStats",
    "TrainerSpec", "apply_policy", "count_parameters", "fit",
]
