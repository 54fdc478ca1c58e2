"""API clients (OAuth 2.0 client credentials): add, list, revoke, rotate, authenticate.

Why so: a client's secret is drawn here (256 random bits), shown once, and only its argon2id
hash is stored. The hash uses OWASP's minimum argon2id settings (19 MiB, 2 passes) rather
than the library's heavier defaults: the secret is machine-made and high-entropy, so the hash
only has to be one-way, and a token request stays fast. Authentication does the same hashing
work for an unknown client as for a known one, so timing does not tell which client ids exist.
Each client is bound to scopes and organisations (CDS code prefixes, ``*`` for every
organisation), with its own hourly request limit and live-token cap (NULL: the defaults).
"""

from __future__ import annotations

import asyncio
import functools
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .settings import SCOPES, ApiSettings
from .tables import clients_t, tokens_t

ACTIVE, REVOKED = "active", "revoked"
ALL_ORGANISATIONS = "*"
_ORG = re.compile(r"[0-9]{1,14}")
_CLIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,59}")

_hasher = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)


@functools.cache
def _dummy_hash() -> str:
    """A hash to verify against when the client id is unknown (made once, on first need)."""
    return _hasher.hash(secrets.token_urlsafe(32))


class ClientError(ValueError):
    """A client cannot be added or changed as asked; the message says what to do."""


@dataclass(frozen=True)
class ApiClient:
    client_id: str
    name: str
    scopes: tuple[str, ...]
    organisations: tuple[str, ...]
    hourly_limit: int | None
    token_cap: int | None
    status: str
    created_at: float
    updated_at: float
    secret_rotated_at: float | None
    revoked_at: float | None

    @classmethod
    def from_row(cls, r) -> ApiClient:
        m = r._mapping
        return cls(m["client_id"], m["name"], tuple(m["scopes"] or ()), tuple(m["organisations"] or ()),
                   m["hourly_limit"], m["token_cap"], m["status"], m["created_at"], m["updated_at"],
                   m["secret_rotated_at"], m["revoked_at"])

    @property
    def active(self) -> bool:
        return self.status == ACTIVE

    def may_see(self, cds_code: str) -> bool:
        """Whether the organisation with this CDS code is one the client is bound to."""
        return any(o == ALL_ORGANISATIONS or cds_code.startswith(o) for o in self.organisations)

    def limit(self, settings: ApiSettings) -> int:
        return self.hourly_limit if self.hourly_limit is not None else settings.default_hourly_limit

    def cap(self, settings: ApiSettings) -> int:
        return self.token_cap if self.token_cap is not None else settings.default_token_cap


def client_problems(name: str, scopes: Iterable[str], organisations: Iterable[str], hourly_limit: int | None,
                    token_cap: int | None) -> list[str]:
    """Everything wrong with a client's definition (empty when it is fine). Pure."""
    problems = []
    if not name.strip() or len(name) > 200:
        problems.append("the name must be 1 to 200 characters (who the client is, e.g. \"CCCApply production\")")
    scopes, organisations = list(scopes), list(organisations)
    if not scopes:
        problems.append(f"give at least one --scope ({', '.join(SCOPES)})")
    bad = [s for s in scopes if s not in SCOPES]
    if bad:
        problems.append(f"unknown scope(s) {', '.join(sorted(set(bad)))}: use {', '.join(SCOPES)}")
    if not organisations:
        problems.append("give at least one --org: a CDS code prefix of 1 to 14 digits (county, district or "
                        "school) or * for every organisation")
    bad = [o for o in organisations if o != ALL_ORGANISATIONS and not _ORG.fullmatch(o)]
    if bad:
        problems.append(f"{len(bad)} organisation(s) are neither * nor a CDS code prefix of 1 to 14 digits")
    if hourly_limit is not None and not 1 <= hourly_limit <= 10_000_000:
        problems.append("the hourly limit must be from 1 to 10000000 requests")
    if token_cap is not None and not 1 <= token_cap <= 10_000:
        problems.append("the live-token cap must be from 1 to 10000")
    return problems


def new_secret() -> str:
    return secrets.token_urlsafe(32)


async def hash_secret(secret: str) -> str:
    return await asyncio.to_thread(_hasher.hash, secret)


async def _verify(stored: str, secret: str) -> bool:
    def run() -> bool:
        try:
            return _hasher.verify(stored, secret)
        except (VerificationError, InvalidHashError):
            return False
    return await asyncio.to_thread(run)


async def get_client(conn: AsyncConnection, client_id: str, *, lock: bool = False) -> ApiClient | None:
    q = select(clients_t).where(clients_t.c.client_id == client_id)
    if lock:
        q = q.with_for_update()
    row = (await conn.execute(q)).first()
    return ApiClient.from_row(row) if row else None


async def list_clients(conn: AsyncConnection) -> list[ApiClient]:
    rows = (await conn.execute(select(clients_t).order_by(clients_t.c.created_at, clients_t.c.client_id))).all()
    return [ApiClient.from_row(r) for r in rows]


async def add_client(conn: AsyncConnection, name: str, scopes: Iterable[str], organisations: Iterable[str], *,
                     now: float, hourly_limit: int | None = None, token_cap: int | None = None,
                     client_id: str | None = None) -> tuple[ApiClient, str]:
    """Add a client; (the client, its secret). The secret is not stored and cannot be shown again."""
    scopes, organisations = sorted(set(scopes)), sorted(set(organisations))
    problems = client_problems(name, scopes, organisations, hourly_limit, token_cap)
    if client_id is not None and not _CLIENT_ID.fullmatch(client_id):
        problems.append("a client id is 1 to 60 letters, digits, '.', '_' or '-', starting with a letter or digit")
    if problems:
        raise ClientError("; ".join(problems))
    client_id = client_id or f"c-{secrets.token_hex(8)}"
    if await get_client(conn, client_id) is not None:
        raise ClientError(f"a client {client_id!r} exists already: choose another id, or rotate its secret")
    secret = new_secret()
    await conn.execute(insert(clients_t).values(
        client_id=client_id, name=name.strip(), secret_hash=await hash_secret(secret), scopes=scopes,
        organisations=organisations, hourly_limit=hourly_limit, token_cap=token_cap, status=ACTIVE,
        created_at=now, updated_at=now, secret_rotated_at=None, revoked_at=None))
    client = await get_client(conn, client_id)
    assert client is not None
    return client, secret


async def _require(conn: AsyncConnection, client_id: str) -> ApiClient:
    client = await get_client(conn, client_id, lock=True)
    if client is None:
        raise ClientError(f"no API client {client_id!r}: see `slf ssid api-client list`")
    return client


async def revoke_tokens(conn: AsyncConnection, client_id: str, now: float) -> int:
    """Revoke every live token of a client; how many were live."""
    result = await conn.execute(update(tokens_t).where(tokens_t.c.client_id == client_id,
                                                       tokens_t.c.revoked_at.is_(None),
                                                       tokens_t.c.expires_at > now).values(revoked_at=now))
    return result.rowcount or 0


async def revoke_client(conn: AsyncConnection, client_id: str, *, now: float, tokens_only: bool = False) -> int:
    """Revoke a client (it can no longer get tokens) and its live tokens; the tokens revoked."""
    client = await _require(conn, client_id)
    if not tokens_only:
        if not client.active:
            raise ClientError(f"client {client_id!r} was revoked already")
        await conn.execute(update(clients_t).where(clients_t.c.client_id == client_id)
                           .values(status=REVOKED, revoked_at=now, updated_at=now))
    return await revoke_tokens(conn, client_id, now)


async def rotate_secret(conn: AsyncConnection, client_id: str, *, now: float,
                        keep_tokens: bool = False) -> tuple[str, int]:
    """A new secret for a client (the old one stops working at once); (secret, tokens revoked)."""
    client = await _require(conn, client_id)
    if not client.active:
        raise ClientError(f"client {client_id!r} is revoked: add a new client instead")
    secret = new_secret()
    await conn.execute(update(clients_t).where(clients_t.c.client_id == client_id)
                       .values(secret_hash=await hash_secret(secret), secret_rotated_at=now, updated_at=now))
    revoked = 0 if keep_tokens else await revoke_tokens(conn, client_id, now)
    return secret, revoked


async def authenticate(conn: AsyncConnection, client_id: str, secret: str) -> ApiClient | None:
    """The active client with this id and secret, else None (same work either way)."""
    row = (await conn.execute(select(clients_t).where(clients_t.c.client_id == client_id))).first() \
        if _CLIENT_ID.fullmatch(client_id or "") else None
    ok = await _verify(row.secret_hash if row is not None else _dummy_hash(), secret)
    if row is None or not ok:
        return None
    client = ApiClient.from_row(row)
    return client if client.active else None
