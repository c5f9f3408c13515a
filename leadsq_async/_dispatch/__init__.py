"""Dispatch: the engine's one loop (grant, take, send, apply), the sender, connections, reconciling,
and the account's lead fields writes are checked against (``fields``).

The engine is the one place that acts on a verdict, with one clock; the sender turns a call into
an HTTP request and its answer into a verdict, and knows nothing of the queue.

May import every part below it: ``_errors``, ``_util``, ``_budgets``, ``_api``, ``_rules``,
``_queue``, ``_observe``.
"""
