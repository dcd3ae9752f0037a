"""Running a coroutine from a test, whatever runs on the test's thread.

A browser test earlier in the same process leaves Playwright's event loop running on the main
thread (its sync API), and ``asyncio.run`` refuses to start inside a running loop; a thread of
its own always can.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


def run_async(make: Callable[[], Awaitable[T]]) -> T:
    """``asyncio.run(make())`` on a fresh thread; returns its result or raises its exception."""
    async def main() -> T:
        return await make()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main()).result()
