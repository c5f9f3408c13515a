"""The ``vtime`` marker: an async test and its async fixtures run on virtual time."""

from __future__ import annotations

import asyncio
import time

import pytest

from . import vtime


@pytest.fixture
async def loop_of_fixture() -> asyncio.AbstractEventLoop:
    """The loop an async fixture runs on."""
    return asyncio.get_running_loop()


@pytest.mark.vtime
async def test_an_hour_of_sleep_takes_no_real_time(
    loop_of_fixture: asyncio.AbstractEventLoop,
) -> None:
    """Under the marker an hour's sleep ends at once, at exactly 3600 virtual seconds."""
    loop = asyncio.get_running_loop()
    assert isinstance(loop, vtime.VirtualTimeLoop)
    assert loop_of_fixture is loop
    started, real = loop.time(), time.monotonic()
    await asyncio.sleep(3600)
    assert loop.time() - started == 3600
    assert time.monotonic() - real < 1


async def test_without_the_marker_the_loop_keeps_real_time() -> None:
    """An async test without the marker runs on an ordinary loop."""
    assert not isinstance(asyncio.get_running_loop(), vtime.VirtualTimeLoop)
