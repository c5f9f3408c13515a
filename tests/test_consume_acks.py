"""The consumer's batched acknowledgements: which tags one flush settles, and how."""

from __future__ import annotations

import asyncio
from typing import cast

import pytest

from leadsq_async._cli._acks import AckPlan, Acks, Held, plan_acks
from leadsq_async._cli._delivery import Delivered

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


class Recorded:
    """A delivered message whose acks and nacks go into a shared log."""

    def __init__(self, tag: int, log: list[tuple[str, int, bool]]) -> None:
        self.delivery_tag = tag
        self.log = log

    async def ack(self, multiple: bool = False) -> None:
        """Log the ack (a multiple one covers every outstanding tag up to this one)."""
        self.log.append(("ack", self.delivery_tag, multiple))

    async def nack(self, multiple: bool = False, requeue: bool = True) -> None:
        """Log the return."""
        self.log.append(("nack", self.delivery_tag, multiple))


def settled_by(log: list[tuple[str, int, bool]]) -> dict[int, str]:
    """What the broker makes of the log: each tag's first settlement, as AMQP 0-9-1 says."""
    outcome: dict[int, str] = {}
    for kind, tag, multiple in log:
        for t in range(1, tag + 1) if multiple else (tag,):
            outcome.setdefault(t, kind)
    return outcome


async def test_a_batch_acknowledges_its_run_in_one_frame_and_never_covers_a_returned_one() -> None:
    """Tags 1-6 settled together, 3 returned: 3 nacked first, then one multiple ack for the rest."""
    log: list[tuple[str, int, bool]] = []
    acks = Acks()
    messages = [Recorded(tag, log) for tag in range(1, 7)]
    for message in messages:
        acks.hold(cast("Delivered", message))
    done = [acks.ack(cast("Delivered", m)) for i, m in enumerate(messages) if i != 2]
    await asyncio.gather(acks.nack(cast("Delivered", messages[2])), *done)
    assert log == [("nack", 3, False), ("ack", 6, True)]
    assert settled_by(log) == {1: "ack", 2: "ack", 3: "nack", 4: "ack", 5: "ack", 6: "ack"}
    assert acks.frames == 1


async def test_ready_messages_past_one_in_hand_are_acknowledged_alone_at_once() -> None:
    """Tag 2 still in hand: 1 goes in a multiple, 3 and 4 alone; 2 is never covered."""
    log: list[tuple[str, int, bool]] = []
    acks = Acks()
    messages = [Recorded(tag, log) for tag in range(1, 5)]
    for message in messages:
        acks.hold(cast("Delivered", message))
    await asyncio.gather(*(acks.ack(cast("Delivered", m)) for m in messages if m.delivery_tag != 2))
    assert log == [("ack", 1, True), ("ack", 3, False), ("ack", 4, False)]
    await acks.ack(cast("Delivered", messages[1]))  # the run reaches 4: one multiple, named 2
    assert log[-1] == ("ack", 2, True)
    assert settled_by(log) == {1: "ack", 2: "ack", 3: "ack", 4: "ack"}
