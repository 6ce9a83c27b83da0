"""Ending the simulators' own tasks."""

from __future__ import annotations

import asyncio
from typing import Any


async def cancel_all(tasks: list[asyncio.Task[Any]]) -> list[BaseException]:
    """Cancel `tasks`, wait until every one has ended and return their exceptions.

    One `cancel()` is not always enough on Python 3.11: `asyncio.wait_for` (inside the `ocpp`
    library's `call`) swallows a cancellation that races with its result, leaving the task
    running. So cancel again until done, and finish even if we are cancelled meanwhile.
    """
    pending = {t for t in tasks if not t.done()}
    interrupted = False
    while pending:
        for task in pending:
            task.cancel()
        try:
            _, pending = await asyncio.wait(pending, timeout=0.5)
        except asyncio.CancelledError:
            interrupted = True
    errors = [e for t in tasks if not t.cancelled() and (e := t.exception()) is not None]
    if interrupted:
        raise asyncio.CancelledError
    return errors
