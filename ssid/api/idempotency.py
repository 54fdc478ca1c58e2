"""Idempotency-Key: a retried POST gets the first answer; a reused key with another body is refused.

Why claim-then-work in one transaction: the key row is inserted (``ON CONFLICT DO NOTHING``)
in the same database transaction as the work it guards. A second worker handling the same key
at the same moment blocks on the primary key (PostgreSQL) or the write lock (SQLite) until the
first commits, then finds the finished answer and replays it; if the work fails, the claim
rolls back with it, so a refused request may simply be sent again. Only successful answers are
kept, for ``idempotency_ttl`` seconds. The fingerprint is a SHA-256 of the method, the path and
the body in canonical JSON, so whitespace or key order do not make two bodies different.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ..store import insert_ignore
from .tables import idempotency_t

HEADER = "Idempotency-Key"
MAX_LENGTH = 128
_VALID = re.compile(r"[\x21-\x7e]{1,128}")  # visible ASCII, e.g. a UUID


def is_valid(key: str) -> bool:
    return bool(_VALID.fullmatch(key))


def fingerprint(method: str, path: str, body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{method.upper()} {path}\n{canonical}".encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Stored:
    fingerprint: str
    status: int | None
    body: str | None


async def find(conn: AsyncConnection, client_id: str, key: str, *, now: float, ttl: int) -> Stored | None:
    row = (await conn.execute(select(idempotency_t.c.fingerprint, idempotency_t.c.status, idempotency_t.c.body)
                              .where(idempotency_t.c.client_id == client_id, idempotency_t.c.key == key,
                                     idempotency_t.c.created_at >= now - ttl))).first()
    return Stored(*row) if row else None


async def claim(conn: AsyncConnection, client_id: str, key: str, fp: str, *, now: float, ttl: int,
                correlation_id: str | None) -> Stored | None:
    """Claim the key for this request (None), or the earlier request's entry when it has one."""
    await conn.execute(delete(idempotency_t).where(idempotency_t.c.client_id == client_id,
                                                   idempotency_t.c.created_at < now - ttl))
    result = await conn.execute(insert_ignore(conn, idempotency_t).values(
        client_id=client_id, key=key, fingerprint=fp, status=None, body=None, created_at=now,
        correlation_id=correlation_id))
    if result.rowcount == 1:
        return None
    return await find(conn, client_id, key, now=now, ttl=ttl)


async def complete(conn: AsyncConnection, client_id: str, key: str, status: int, body: str) -> None:
    await conn.execute(update(idempotency_t).where(and_(idempotency_t.c.client_id == client_id,
                                                        idempotency_t.c.key == key))
                       .values(status=status, body=body))
