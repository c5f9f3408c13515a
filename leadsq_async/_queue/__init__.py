"""The queue: rows and their states, groups that may share a call, per-lead order, admission.

Rows wait here until the engine holds a grant; the batcher turns them into full calls and
applies what the engine tells it to do with a call's rows. It decides nothing about answers.

May import: ``_errors``, ``_util``, ``_budgets``, ``_api``, ``_rules``.
"""
