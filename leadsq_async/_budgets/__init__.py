"""The account's budgets: rate limits, limiters, learning a limit, the daily quota, Redis sharing.

A limiter hands out grants (one grant, one HTTP call); ``Budgets`` spends the general and the
bulk budget together and counts the quota; ``learning`` is the one place a rejection teaches a
limit. Changing how a limit is learned happens here.

May import: ``_errors``, ``_util``. Nothing of endpoints, rows or calls.
"""
