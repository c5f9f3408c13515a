"""The rules every row and call obeys: may it go now, and what to do after a failure.

The gate answers "may this row be queued or sent now" (quota spent, road closed, circuit open)
for the client, admission and the engine alike; the policy decides resend, back-off, split and
give-up (the circuit uses it too); the circuit tracks whether the service is reachable; the
disposition says what a queue worker does with a row's message once the row has an outcome.
Pure bookkeeping on explicit times: nothing here sleeps or sends. Changing a retry rule happens
here.

May import: ``_errors``, ``_util``, ``_budgets``, ``_api``.
"""
