"""Observation: the events hooks receive, the counters behind ``stats()``, OpenTelemetry.

Events are built from what the engine decided, never the other way round: nothing here acts on
a call, and the engine does not know whether anything listens.

May import: ``_errors``, ``_util``, ``_budgets``, ``_api``, ``_rules``, ``_queue``.
"""
