"""Analysis: the numbers the results hold (per-experiment views, statistics, power, timing, reproduction,
gradients, sweeps). Reads results; decides no verdict words. May import: results, config, errors."""
