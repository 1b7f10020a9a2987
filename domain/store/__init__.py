"""Persistence configuration: the one store setting, transcodings and the evidence blob store."""
