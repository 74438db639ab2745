"""Training: Lightning modules (`lm_module`), the fit loop (`fit`), data loaders and
trainable-parameter policies (`policies`).

`fit` takes the config dataclasses themselves (`transplant.config.TrainerConfig`,
`OptimConfig`, `TrainableConfig`), so an option is declared once. Import from the submodules
(`from transplant.training.fit import fit`): this package imports nothing, so that a run's
checks never wait for Lightning (seconds to import).
"""
