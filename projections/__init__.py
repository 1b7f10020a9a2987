"""projections layer of parindex."""
