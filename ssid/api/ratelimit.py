"""Per-client request limits that hold across every worker process sharing the database.

Why a counter row per (client, fixed window) updated with one upsert (``INSERT ... ON CONFLICT
DO UPDATE SET count = count + 1 RETURNING count``): the increment and the read are one atomic
statement on both SQLite and PostgreSQL, so two workers can never both see the last allowed
request as free; no worker keeps state of its own. Fixed hourly windows match what the seed
asks ("connections per hour") and what the client can be told exactly: the headers follow
the IETF RateLimit header fields draft (``RateLimit-Policy: "hourly";q=5000;w=3600`` and
``RateLimit: "hourly";r=<remaining>;t=<seconds to reset>``), plus ``Retry-After`` on a 429.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from .tables import rate_t


@dataclass(frozen=True)
class RateState:
    limit: int
    used: int  # requests counted in this window, this one included
    window: int
    reset_in: int  # seconds until the window ends

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    @property
    def exceeded(self) -> bool:
        return self.used > self.limit

    @property
    def policy_name(self) -> str:
        return "hourly" if self.window == 3600 else f"per-{self.window}s"

    def headers(self) -> dict[str, str]:
        out = {"RateLimit-Policy": f'"{self.policy_name}";q={self.limit};w={self.window}',
               "RateLimit": f'"{self.policy_name}";r={self.remaining};t={self.reset_in}'}
        if self.exceeded:
            out["Retry-After"] = str(self.reset_in)
        return out


def window_of(now: float, window: int) -> tuple[int, int]:
    """(start of the window holding ``now``, whole seconds until it ends, at least 1). Pure."""
    start = int(now // window) * window
    return start, max(1, math.ceil(start + window - now))


async def hit(conn: AsyncConnection, client_id: str, *, limit: int, now: float, window: int) -> RateState:
    """Count one request of ``client_id`` (inside the caller's write transaction)."""
    start, reset_in = window_of(now, window)
    ins = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = (ins(rate_t).values(client_id=client_id, window_start=start, count=1)
            .on_conflict_do_update(index_elements=[rate_t.c.client_id, rate_t.c.window_start],
                                   set_={"count": rate_t.c.count + 1})
            .returning(rate_t.c.count))
    used = (await conn.execute(stmt)).scalar_one()
    if used == 1:  # first request of a new window: forget the client's older windows
        await conn.execute(delete(rate_t).where(rate_t.c.client_id == client_id, rate_t.c.window_start < start))
    return RateState(limit, used, window, reset_in)
