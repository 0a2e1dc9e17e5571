"""Borderflow: a digital border gate platform for freight trucks at land border crossings."""

from borderflow import native as _native

__version__ = "0.1.0"

_native.install()  # the scenario lab's compiled modules, when built for this source
