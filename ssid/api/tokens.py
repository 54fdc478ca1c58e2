"""Access tokens: opaque, random, stored only as hashes, expiring, revocable, capped per client.

Why opaque tokens and not signed JWTs: every API request reads the database anyway (the rate
counter), so a lookup by hash costs nothing extra, and revocation takes effect on the next
request instead of at expiry. A token is 256 random bits (``secrets``); its SHA-256 is the
primary key, so a stolen database copy yields no usable token. The live-token cap is checked
with the client's row locked (PostgreSQL ``FOR UPDATE``; SQLite's write transactions are
serial), so two workers cannot both hand out the last allowed token.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .clients import ApiClient, get_client
from .tables import clients_t, tokens_t

#: expired tokens are deleted this long after expiry (kept a while for investigating)
KEEP_EXPIRED = 86_400.0


class TokenCapReached(Exception):
    def __init__(self, cap: int, retry_after: int) -> None:
        super().__init__(f"cap {cap} reached")
        self.cap = cap
        self.retry_after = retry_after


@dataclass(frozen=True)
class Issued:
    token: str
    expires_in: int
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class TokenInfo:
    client: ApiClient
    scopes: tuple[str, ...]
    expires_at: float


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _live(now: float):
    return (tokens_t.c.revoked_at.is_(None)) & (tokens_t.c.expires_at > now)


async def issue(conn: AsyncConnection, client: ApiClient, scopes: tuple[str, ...], *, now: float, lifetime: int,
                cap: int, correlation_id: str | None = None) -> Issued:
    """A new token for ``client`` (inside the caller's write transaction)."""
    await get_client(conn, client.client_id, lock=True)  # serialise issuing per client
    await conn.execute(delete(tokens_t).where(tokens_t.c.client_id == client.client_id,
                                              tokens_t.c.expires_at < now - KEEP_EXPIRED))
    live = (await conn.execute(select(func.count(), func.min(tokens_t.c.expires_at))
                               .where(tokens_t.c.client_id == client.client_id, _live(now)))).one()
    if live[0] >= cap:
        raise TokenCapReached(cap, max(1, math.ceil(live[1] - now)))
    token = secrets.token_urlsafe(32)
    await conn.execute(insert(tokens_t).values(token_hash=hash_token(token), client_id=client.client_id,
                                               scopes=list(scopes), issued_at=now, expires_at=now + lifetime,
                                               revoked_at=None, correlation_id=correlation_id))
    return Issued(token, lifetime, scopes)


async def verify(conn: AsyncConnection, token: str, *, now: float) -> TokenInfo | None:
    """The live token's client and scopes, or None (unknown, expired, revoked, or client revoked)."""
    if not token or len(token) > 512:
        return None
    row = (await conn.execute(
        select(tokens_t.c.scopes, tokens_t.c.expires_at, clients_t)
        .select_from(tokens_t.join(clients_t, clients_t.c.client_id == tokens_t.c.client_id))
        .where(tokens_t.c.token_hash == hash_token(token), _live(now)))).first()
    if row is None:
        return None
    client = ApiClient.from_row(row)
    if not client.active:
        return None
    return TokenInfo(client, tuple(row.scopes or ()), row.expires_at)


async def revoke(conn: AsyncConnection, token: str, *, now: float, client_id: str | None = None) -> bool:
    """Revoke one token (only the named client's, when given); whether a live token was revoked."""
    q = update(tokens_t).where(tokens_t.c.token_hash == hash_token(token), _live(now))
    if client_id is not None:
        q = q.where(tokens_t.c.client_id == client_id)
    return ((await conn.execute(q.values(revoked_at=now))).rowcount or 0) > 0


async def live_count(conn: AsyncConnection, client_id: str, *, now: float) -> int:
    return (await conn.execute(select(func.count()).where(tokens_t.c.client_id == client_id, _live(now)))).scalar() or 0
