"""Chunks of work done by worker processes, handed back in the order they were given.

Why: the legacy import and batch files both cut a file into chunks that fresh worker
processes prepare in parallel (CPU work: parsing, validation, standardisation, matching),
while the one writer consumes the results strictly in file order. Workers are spawned, not
forked: nothing of the parent's event loop, threads or connections is inherited.
"""

from __future__ import annotations

import asyncio
import collections
import multiprocessing
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


async def in_order(parts: Iterable[T], work: Callable[[T], R], *, workers: int,
                   initializer: Callable[..., None], initargs: tuple[Any, ...], ahead: int) -> AsyncIterator[R]:
    """``work(part)`` for every part in ``workers`` processes, at most ``ahead`` in flight; results in order."""
    loop = asyncio.get_running_loop()
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=initializer, initargs=initargs) as pool:
        pending: collections.deque[asyncio.Future[R]] = collections.deque()
        for part in parts:
            pending.append(asyncio.wrap_future(pool.submit(work, part), loop=loop))
            if len(pending) > ahead:
                yield await pending.popleft()
        while pending:
            yield await pending.popleft()
