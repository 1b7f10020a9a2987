"""Read models of parindex: every view is a pure function of the event log.

`scoreboard.py` folds events (with the domain's own aggregates), `store.py` keeps the derived rows
per generation (blue/green rebuilds), `runner.py` tails the log into them exactly once, and
`queries.py` answers reads, live or as of a past position or time.
"""
