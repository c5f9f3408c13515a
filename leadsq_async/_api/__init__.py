"""Describing LeadSquared's API: operations, endpoint specs and their registry, encoding, answers.

What each endpoint is (path, rows per call, budget, group key, identities, encode, decode), how a
value goes on the wire, how an answer is read back row by row, and what an answer means for a
call (``verdict.classify``, a pure function). Adding an endpoint happens here: one spec, and the
operation it carries.

May import: ``_errors``, ``_util``, ``_budgets`` (rate limits a verdict names). Nothing that
queues, sends or observes.
"""
