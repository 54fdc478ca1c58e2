"""Prompt wake-ups for the poller: PostgreSQL LISTEN, and waiting on an event or a timeout.

Why: the issue asks that answer latency not be bound by a long polling interval. Changes
arrive three ways: a request this process recorded, a co-located database that calls
``ResolverStore.notify_changed()``, and on PostgreSQL a NOTIFY on channel ``slf_status``,
sent by the trigger of migration 2 for every insert or N_SLF_STATUS change, whoever made
it. The poller waits for any of them, or for ``poll_interval`` as a fallback (a lost
notification costs at most one interval, never an answer).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

log = logging.getLogger(__name__)


async def first_of(*waits: Awaitable, timeout: float) -> bool:
    """Wait until any awaitable completes or ``timeout`` passes; True if one completed."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        done, _ = await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        return bool(done)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def listen(dsn: str, channel: str, wake: Callable[[], None], *, retry: float = 5.0,
                 connected: asyncio.Event | None = None) -> None:
    """LISTEN on ``channel`` until cancelled, calling ``wake()`` for every notification.

    Reconnects after ``retry`` seconds when the connection drops, and wakes once after each
    (re)connection, for whatever changed while nobody listened.
    """
    import asyncpg

    while True:
        conn = None
        try:
            conn = await asyncpg.connect(dsn)
            lost = asyncio.Event()
            conn.add_termination_listener(lambda _c: lost.set())
            await conn.add_listener(channel, lambda *_a: wake())
            log.info("listening for %s notifications", channel)
            wake()
            if connected is not None:
                connected.set()
            await lost.wait()
            log.warning("LISTEN %s: connection lost; reconnecting in %g s", channel, retry)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the poll interval covers us meanwhile
            log.warning("LISTEN %s failed (%s); polling only, retrying in %g s", channel, exc, retry)
        finally:
            if connected is not None:
                connected.clear()
            if conn is not None and not conn.is_closed():
                try:
                    await asyncio.wait_for(conn.close(), 5)
                except Exception:  # noqa: BLE001
                    conn.terminate()
        await asyncio.sleep(retry)
