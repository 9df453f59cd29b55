"""Constructs, one per capability: each owns its functions, grants and state."""
