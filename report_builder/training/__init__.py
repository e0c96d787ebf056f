"""Training: the dataset, the model, both engines (explicit and autograd), CUDA graphs and probes; one call
trains runs and returns their records. May import: config, errors (never results, execution or report)."""
