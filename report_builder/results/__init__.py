"""Results on disk: results files and summary.csv, their staleness, and the statistics of their numbers.
May import: config, errors (never torch, training, execution or report)."""
