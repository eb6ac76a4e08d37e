"""Benchmarks of the harness: `uv run python -m bench` runs them all.

Each benchmark is a module with a `main(argv) -> int` that prints a table and
writes its results as JSON under `reports/bench/`, so runs on different
machines or commits can be compared. Servers always run in their own
processes, never in the load generator's.
"""
