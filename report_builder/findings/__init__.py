"""Findings: what the numbers are taken to show (the tested claims and their verdicts, comparisons, Methods,
what changed since the last results). May import: analysis, results, config, errors (never report)."""
