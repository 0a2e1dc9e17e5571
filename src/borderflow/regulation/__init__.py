"""Regulation: the slot planner (a pure function) and, later, dispatch policies."""
