"""Heartbeats of the SSID server, and the availability they prove (Supplement Three).

Why heartbeats in the database: availability is "the ability of the system to accept all
transactions"; a row written every ``interval`` seconds by ``slf ssid serve`` into the same
database that answers the transactions proves both were up at that moment. Reading them back:

* two consecutive beats (of any server process: several may share the database) no more than
  two intervals apart mean the service was up in between;
* a longer gap counts as down, the whole of it (the last beat proves nothing about the minutes
  that followed); so does the time since the last beat once it exceeds two intervals;
* time before the first heartbeat ever written is "not measured", never counted as up or down.

``availability`` is pure (tested with injected times); ``beat`` and ``beats_around`` are the
I/O edges; ``run`` is the server's loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Column, Float, Index, Integer, String, Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from .db.schema import metadata

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = 60.0
#: a gap longer than this many intervals between beats counts as down
GAP_INTERVALS = 2

heartbeats_t = Table(
    "ssid_heartbeats", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("interval_s", Float, nullable=False),  # the writer's interval: what "a gap" means for this beat
    Column("process", String(128), nullable=False),  # host:pid of the server that wrote it
    Column("started_at", Float, nullable=False),  # when that server process started
    Index("ix_ssid_heartbeats_at", "at"),
)


@dataclass(frozen=True)
class Beat:
    at: float
    interval: float


@dataclass(frozen=True)
class Availability:
    """Up and down seconds over the measured part of a period (``measured_from`` None: not measured)."""

    measured_from: float | None
    measured_to: float | None
    up: float = 0.0
    down: float = 0.0
    outages: int = 0

    @property
    def measured(self) -> bool:
        return self.measured_from is not None

    @property
    def share(self) -> float | None:
        total = self.up + self.down
        return self.up / total if self.measured and total > 0 else None


def availability(beats: Sequence[Beat], start: float, end: float, now: float,
                 first_beat: float | None = None) -> Availability:
    """Availability over [start, min(end, now)) from ``beats``.

    ``beats``: every beat in the period plus the last one before it and the first one after it
    (any order); ``first_beat``: the first beat ever written (default: the earliest given).
    """
    beats = sorted(beats, key=lambda b: b.at)
    end = min(end, now)
    first = first_beat if first_beat is not None else (beats[0].at if beats else None)
    if first is None or not beats or first >= end:
        return Availability(None, None)
    lo = max(start, first)
    up, outages = 0.0, 0
    gaps: list[tuple[float, float, bool]] = []  # (from, to, up)
    for a, b in zip(beats, beats[1:]):
        gaps.append((a.at, b.at, b.at - a.at <= GAP_INTERVALS * a.interval))
    last = beats[-1]
    if now > last.at:
        gaps.append((last.at, now, now - last.at <= GAP_INTERVALS * last.interval))
    for a, b, is_up in gaps:
        overlap = min(b, end) - max(a, lo)
        if overlap <= 0:
            continue
        if is_up:
            up += overlap
        else:
            outages += 1
    return Availability(lo, end, up, max(0.0, (end - lo) - up), outages)


async def beat(conn: AsyncConnection, at: float, interval: float, process: str, started_at: float) -> None:
    await conn.execute(insert(heartbeats_t).values(at=at, interval_s=interval, process=process,
                                                   started_at=started_at))


async def beats_around(conn: AsyncConnection, start: float, end: float) -> tuple[float | None, list[Beat]]:
    """(first beat ever, the beats ``availability`` needs for [start, end))."""
    h = heartbeats_t.c
    first = (await conn.execute(select(func.min(h.at)))).scalar()
    if first is None:
        return None, []
    inside = (await conn.execute(select(h.at, h.interval_s).where(h.at >= start, h.at < end)
                                 .order_by(h.at))).all()
    before = (await conn.execute(select(h.at, h.interval_s).where(h.at < start).order_by(h.at.desc()).limit(1))).all()
    after = (await conn.execute(select(h.at, h.interval_s).where(h.at >= end).order_by(h.at).limit(1))).all()
    return float(first), [Beat(float(a), float(i)) for a, i in (*before, *inside, *after)]


def process_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:128]


async def run(store, stop: asyncio.Event, interval: float = DEFAULT_INTERVAL,
              clock: Callable[[], float] = time.time, process: str | None = None) -> None:
    """Write a beat now and every ``interval`` seconds until ``stop``; a failed write is logged
    (and shows as downtime, which it is: the database did not take a write)."""
    process = process or process_name()
    started = clock()
    while not stop.is_set():
        try:
            async with store.write() as conn:
                await beat(conn, clock(), interval, process, started)
        except Exception as exc:  # noqa: BLE001 - the next beat may succeed
            log.warning("heartbeat not written (%s: %s); retrying in %.0f s", type(exc).__name__, exc, interval)
        try:
            await asyncio.wait_for(stop.wait(), interval)
        except asyncio.TimeoutError:
            pass


__all__ = ["Availability", "Beat", "DEFAULT_INTERVAL", "GAP_INTERVALS", "availability", "beat", "beats_around",
           "heartbeats_t", "process_name", "run"]
