"""Borderflow: a digital border gate platform for freight trucks at land border crossings."""

__version__ = "0.1.0"
