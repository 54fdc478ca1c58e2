"""Passwords: argon2id hashes, a policy for new ones, and setting one with its audit row.

Why argon2id with a cost from configuration: it is the password hash OWASP ASVS names first;
the cost can grow without a release and old hashes are upgraded at the next sign-in
(``needs_rehash``). Verification runs in a worker thread: one hash takes tens of
milliseconds of CPU and must not stall every other request on the event loop.

An unknown user is verified against a dummy hash, so a wrong user id costs as much time as a
wrong password and sign-in timing does not tell which user ids exist.
"""

from __future__ import annotations

import asyncio
import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .. import audit
from ..audit import Actor, ChangeType
from ..store import NotFound, Refused, SsidStore, insert_ignore
from .tables import passwords_t, sessions_t

MIN_LENGTH = 12
MAX_LENGTH = 256


def hasher(time_cost: int = 3, memory_kib: int = 65536) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=2)


@functools.lru_cache(maxsize=8)
def _dummy(time_cost: int, memory_kib: int) -> str:
    return hasher(time_cost, memory_kib).hash("not a password of anyone")


def password_problems(password: str, user_id: str = "") -> list[str]:
    """Why a new password is refused (empty when acceptable). Pure.

    Length over composition rules (NIST SP 800-63B): at least 12 characters, not the user id.
    """
    out = []
    if len(password) < MIN_LENGTH:
        out.append(f"use at least {MIN_LENGTH} characters (a short sentence is easy to remember)")
    if len(password) > MAX_LENGTH:
        out.append(f"use at most {MAX_LENGTH} characters")
    if user_id and user_id.lower() in password.lower():
        out.append("do not include the user id in the password")
    if password and len(set(password)) < 4:
        out.append("use more than three different characters")
    return out


async def verify(ph: PasswordHasher, stored: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored`` (always spends one hash's time, even without a hash)."""
    def run() -> bool:
        try:
            return ph.verify(stored or _dummy(ph.time_cost, ph.memory_cost), password) and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(run)


async def stored_hash(conn: AsyncConnection, user_id: str) -> str | None:
    return (await conn.execute(select(passwords_t.c.hash).where(passwords_t.c.user_id == user_id))).scalar()


async def set_password(store: SsidStore, conn: AsyncConnection, user_id: str, password: str, by: Actor,
                       ph: PasswordHasher | None = None) -> None:
    """Store a new hash for an existing user, with a USER audit row (never the password or hash).

    The user's sessions end: whoever knew the old password is signed out."""
    if await store.user(user_id, conn) is None:
        raise NotFound(f"no user {user_id!r}: add the user first (slf ssid user add)")
    problems = password_problems(password, user_id)
    if problems:
        raise Refused("the password is refused: " + "; ".join(problems))
    ph = ph or hasher()
    digest = await asyncio.to_thread(ph.hash, password)
    await rehash(store, conn, user_id, digest, by.user_id)
    await conn.execute(update(sessions_t).where(sessions_t.c.user_id == user_id, sessions_t.c.revoked_at.is_(None))
                       .values(revoked_at=store.clock(), revoked_why="password changed"))
    await audit.record(conn, audit.entry(store.clock(), ChangeType.USER, by, None, None, None,
                                         detail={"user_id": user_id, "action": "set-password"}))


async def rehash(store: SsidStore, conn: AsyncConnection, user_id: str, digest: str, by: str | None) -> None:
    """Write ``digest`` as the user's hash (insert or replace)."""
    now = store.clock()
    result = await conn.execute(insert_ignore(conn, passwords_t).values(user_id=user_id, hash=digest, changed_at=now,
                                                                        changed_by=by))
    if result.rowcount != 1:
        await conn.execute(update(passwords_t).where(passwords_t.c.user_id == user_id)
                           .values(hash=digest, changed_at=now, changed_by=by))
