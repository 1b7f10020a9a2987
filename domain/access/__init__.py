"""Access tokens: who may act, as which role, for which unit."""
