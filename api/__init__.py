"""api layer of parindex."""
