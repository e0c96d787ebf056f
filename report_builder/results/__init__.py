"""Results on disk: results files, summary.csv, their history and their staleness (read and written).
May import: config, paths, errors (never torch, training, execution, analysis, findings or report)."""
