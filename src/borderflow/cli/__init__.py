"""The ``borderflow`` command line, grouped by noun."""
