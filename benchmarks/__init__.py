"""Throughput benchmarks of parindex's event store: `make bench` (see `benchmarks/run.py`).

They write to a throwaway SQLite file and a throwaway PostgreSQL schema, never to a real store,
and record their results in `docs/performance.md`.
"""
