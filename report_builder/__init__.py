"""report_builder: declared deep-learning experiments in, an honest writeup out."""

__version__ = "0.1.0"
