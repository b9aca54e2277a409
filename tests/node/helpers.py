"""Small async helpers for node tests."""

from __future__ import annotations

from typing import Callable

import trio


async def wait_until(predicate: Callable[[], bool], timeout_s: float, poll_s: float = 0.02) -> float:
    """Poll ``predicate`` until true; return the seconds waited. Fails the
    test with TooSlowError after ``timeout_s``."""
    start = trio.current_time()
    with trio.fail_after(timeout_s):
        while not predicate():
            await trio.sleep(poll_s)
    return trio.current_time() - start
