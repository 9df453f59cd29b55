"""One module per stack; `constructs/` holds one construct per capability."""
