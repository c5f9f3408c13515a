"""Benchmarks for leadsq-async: run ``uv run python -m benchmarks [--quick]``."""
