"""Waiting for another party's state in end-to-end tests: bounded polling, no timing asserts."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


async def eventually(
    predicate: Callable[[], bool], within_s: float = 20.0, every_s: float = 0.02
) -> None:
    """Poll `predicate` until it holds; TimeoutError after `within_s` (a bound that only stops a
    broken test from hanging — generous, because CI machines are loaded)."""
    async with asyncio.timeout(within_s):
        while not predicate():  # noqa: ASYNC110 - polling another party's state
            await asyncio.sleep(every_s)


async def eventually_async(
    predicate: Callable[[], Awaitable[bool]], within_s: float = 20.0, every_s: float = 0.2
) -> None:
    """`eventually` for a condition read through I/O (a database query, an HTTP request)."""
    async with asyncio.timeout(within_s):
        while not await predicate():  # noqa: ASYNC110 - polling another party's state
            await asyncio.sleep(every_s)
