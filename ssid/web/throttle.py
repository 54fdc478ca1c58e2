"""Failed sign-ins throttled per user and per address.

Why both: per user stops guessing one person's password from many addresses; per address
stops one machine trying a common password against many users. A user's count starts again
after a successful sign-in (so a colleague's typos do not pile up for days); an address's
count does not (an attacker could otherwise sign in to an account of its own to reset it).
While throttled, the password is not even checked, and the attempt is not counted, so the
wait ends when the window passes. ``wait_seconds`` is the pure rule.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import func, insert, select

from ..store import SsidStore
from .tables import logins_t


def wait_seconds(user_failures: Sequence[float], address_failures: Sequence[float], now: float, window: float,
                 per_user: int, per_address: int) -> float:
    """Seconds until another attempt is allowed (0: now). Failures are their times, in the window. Pure."""
    waits = [0.0]
    for times, limit in ((sorted(user_failures), per_user), (sorted(address_failures), per_address)):
        if len(times) >= limit:
            # allowed again once enough of the oldest failures have left the window
            waits.append(times[len(times) - limit] + window - now)
    return max(0.0, max(waits))


class Throttle:
    def __init__(self, store: SsidStore, clock: Callable[[], float], window: float, per_user: int,
                 per_address: int) -> None:
        self.store = store
        self.clock = clock
        self.window = window
        self.per_user = per_user
        self.per_address = per_address

    async def wait(self, user_id: str, address: str) -> float:
        now = self.clock()
        since = now - self.window
        t = logins_t.c
        async with self.store.read() as conn:
            last_ok = (await conn.execute(select(func.max(t.at)).where(t.user_id == user_id, t.ok.is_(True)))
                       ).scalar() or 0.0
            user_f = list((await conn.execute(select(t.at).where(
                t.user_id == user_id, t.ok.is_(False), t.at >= max(since, last_ok)))).scalars())
            addr_f = list((await conn.execute(select(t.at).where(
                t.address == address, t.ok.is_(False), t.at >= since))).scalars())
        return wait_seconds(user_f, addr_f, now, self.window, self.per_user, self.per_address)

    async def record(self, user_id: str, address: str, ok: bool) -> None:
        async with self.store.write() as conn:
            await conn.execute(insert(logins_t).values(at=self.clock(), user_id=user_id[:64], address=address[:64],
                                                       ok=ok))
