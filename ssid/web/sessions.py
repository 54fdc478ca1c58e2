"""Server-side sessions: a random token in the cookie, its SHA-256 in the database.

Why server-side and hashed: a session can be revoked at once (sign-out, a suspension, an
administrator) and a copy of the table does not let anyone sign in. Each session ends after
``session_idle`` seconds without a request and ``session_absolute`` seconds after sign-in,
whatever happens. The CSRF token of a session is derived from its token (HMAC), so it needs no
storage, differs per session and is worthless without the cookie.

``is_live`` is the pure rule; ``Sessions`` does the I/O with an injected clock.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ..store import SsidStore

from .tables import sessions_t

TOKEN_BYTES = 32


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token(token: str) -> str:
    """The CSRF token of the session whose cookie carries ``token``."""
    return hmac.new(token.encode(), b"ssid-web csrf", hashlib.sha256).hexdigest()


def csrf_ok(token: str, submitted: str | None) -> bool:
    return bool(submitted) and hmac.compare_digest(csrf_token(token), str(submitted))


@dataclass(frozen=True)
class Session:
    token_hash: str
    user_id: str
    created_at: float
    last_seen: float
    revoked_at: float | None
    flash: str | None


def is_live(s: Session, now: float, idle: float, absolute: float) -> str | None:
    """None when the session may be used at ``now``; else why not (for the sign-in page). Pure."""
    if s.revoked_at is not None:
        return "signed out"
    if now - s.created_at >= absolute:
        return "the session reached its maximum length"
    if now - s.last_seen >= idle:
        return "the session was idle too long"
    return None


class Sessions:
    def __init__(self, store: SsidStore, clock: Callable[[], float], idle: float, absolute: float) -> None:
        self.store = store
        self.clock = clock
        self.idle = idle
        self.absolute = absolute

    async def create(self, user_id: str, address: str | None) -> str:
        """A new session; the token for the cookie (only its hash is stored)."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        now = self.clock()
        async with self.store.write() as conn:
            await conn.execute(insert(sessions_t).values(token_hash=token_hash(token), user_id=user_id,
                                                         created_at=now, last_seen=now, address=(address or "")[:64]))
        return token

    async def get(self, token: str | None) -> tuple[Session | None, str | None]:
        """(the live session, None) or (None, why it cannot be used); touching it on success."""
        if not token or len(token) > 128:
            return None, None
        h = token_hash(token)
        async with self.store.write() as conn:
            row = (await conn.execute(select(sessions_t).where(sessions_t.c.token_hash == h))).first()
            if row is None:
                return None, None
            m = row._mapping
            s = Session(h, m["user_id"], m["created_at"], m["last_seen"], m["revoked_at"], m["flash"])
            now = self.clock()
            why = is_live(s, now, self.idle, self.absolute)
            if why is not None:
                return None, why
            await conn.execute(update(sessions_t).where(sessions_t.c.token_hash == h).values(last_seen=now))
        return s, None

    async def revoke(self, token_hash_: str, why: str) -> None:
        async with self.store.write() as conn:
            await conn.execute(update(sessions_t).where(sessions_t.c.token_hash == token_hash_,
                                                        sessions_t.c.revoked_at.is_(None))
                               .values(revoked_at=self.clock(), revoked_why=why[:64]))

    async def revoke_user(self, conn: AsyncConnection, user_id: str, why: str) -> int:
        """End every session of a user (in the caller's transaction); how many were live."""
        result = await conn.execute(update(sessions_t).where(sessions_t.c.user_id == user_id,
                                                             sessions_t.c.revoked_at.is_(None))
                                    .values(revoked_at=self.clock(), revoked_why=why[:64]))
        return result.rowcount

    async def live_count(self, user_id: str) -> int:
        now = self.clock()
        async with self.store.read() as conn:
            rows = (await conn.execute(select(sessions_t.c.created_at, sessions_t.c.last_seen).where(
                sessions_t.c.user_id == user_id, sessions_t.c.revoked_at.is_(None)))).all()
        return sum(1 for c, s in rows if now - c < self.absolute and now - s < self.idle)

    async def set_flash(self, token_hash_: str, text: str | None) -> None:
        async with self.store.write() as conn:
            await conn.execute(update(sessions_t).where(sessions_t.c.token_hash == token_hash_).values(flash=text))
