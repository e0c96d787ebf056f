"""The report: from results files to the template context, figures, and HTML and PDF. May import: results,
config, errors (never torch, training or execution: rendering never trains)."""
