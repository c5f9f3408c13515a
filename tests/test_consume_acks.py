"""The consumer's batched acknowledgements: which tags one flush settles, and how."""

from __future__ import annotations

import pytest

from leadsq_async._cli._acks import AckPlan, Held, plan_acks

H, R, S = Held.IN_HAND, Held.READY, Held.SETTLED


@pytest.mark.parametrize(
    ("floor", "states", "plan"),
    [
        (0, {}, AckPlan(None, (), 0)),
        (0, {1: R, 2: R, 3: R}, AckPlan(3, (), 3)),
        (10, {11: R, 12: H, 13: R}, AckPlan(11, (13,), 11)),
        (0, {1: H, 2: R, 3: R}, AckPlan(None, (2, 3), 0)),
        # a returned message (settled) inside the run: crossed, but never named
        (0, {1: R, 2: S, 3: R}, AckPlan(3, (), 3)),
        (0, {1: R, 2: R, 3: S}, AckPlan(2, (), 3)),
        (0, {1: S, 2: S}, AckPlan(None, (), 2)),
        # a tag never seen (dropped by the client library) ends the run: the rest go alone
        (0, {1: R, 3: R, 4: R}, AckPlan(1, (3, 4), 1)),
        (0, {2: R}, AckPlan(None, (2,), 0)),
        (5, {7: S, 8: R}, AckPlan(None, (8,), 5)),
    ],
)
def test_a_flush_acknowledges_the_unbroken_run_at_once_and_the_rest_alone(
    floor: int, states: dict[int, Held], plan: AckPlan
) -> None:
    """One multiple up to the run's last ready tag; ready tags past a gap or a held one alone."""
    assert plan_acks(floor, states) == plan
