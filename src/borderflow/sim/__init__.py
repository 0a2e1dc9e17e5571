"""The scenario lab: a discrete-event simulator of the border system (see docs/simulation.md)."""
