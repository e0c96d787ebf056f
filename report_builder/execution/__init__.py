"""Execution: plans what must run, groups it into tasks, runs them (here, on local GPUs or on Slurm) and
writes results files. May import: training, results, config, progress, errors (never report)."""
