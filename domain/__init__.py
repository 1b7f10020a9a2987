"""domain layer of parindex."""
