"""Frameworks: the versioned tree of fields, criteria and sub-criteria a unit group is scored on."""
