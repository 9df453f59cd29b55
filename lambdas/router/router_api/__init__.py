"""The router function's own code: request validation, the fallback chain, cache and telemetry.

Lives in its own package (not top-level modules) so that it cannot collide with the
layer's packages; the function's `handler.py` is the only top-level module.
"""
