"""Training: Lightning modules, data loaders and trainable-parameter policies.

`fit` takes the config dataclasses themselves (`transplant.config.TrainerConfig`,
`OptimConfig`, `TrainableConfig`), so an option is declared once.
"""

from transplant.training.fit import TrainStats, fit
from transplant.training.lm_module import CausalLMModule, DivergenceError
from transplant.training.policies import apply_policy, count_parameters

__all__ = [
    "CausalLMModule", "DivergenceError", "TrainStats", "apply_policy", "count_parameters", "fit",
]
