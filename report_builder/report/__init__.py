"""The report: from findings to the template context, figures, and HTML and PDF. May import: findings,
analysis, results, config, errors (never torch, training or execution: rendering never trains)."""
