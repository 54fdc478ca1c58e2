"""The matcher's candidate source over the database (``ssid.matching.CandidateSource``).

Why here: the matching engine is pure and synchronous (no database, no event loop); the
database only supplies candidates. ``DbCandidateSource`` answers the engine's block requests
from ``ssid_block_keys`` (clustered by key) joined to the alias history (every version of
every *active* student; a deactivated ID is never offered as a match) and returns the stored
standardised records, so nothing is standardised again at lookup time. It works on a *sync*
connection: call the engine inside ``AsyncConnection.run_sync`` (``match`` below does), which
runs it on the async connection without a second thread or event loop.

Every request answers with the number of rows under the key and narrowing (``total``) as well
as the first ``limit`` rows in a stable order, so the engine can report what a cut left out:
candidates are never dropped silently.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from ..matching import Block, BlockRequest, CandidateRow, Matcher, StudentRecord
from ..matching.engine import Decision
from ..records import standardized_from_json
from .schema import ACTIVE, aliases_t, block_keys_t, students_t


class DbCandidateSource:
    def __init__(self, conn: Connection, *, include_deactivated: bool = False) -> None:
        self.conn = conn
        self.include_deactivated = include_deactivated

    def _where(self, req: BlockRequest) -> Any:
        k = block_keys_t.c
        cond = [k.key == req.key]
        if req.narrowing.gender:
            cond.append(or_(k.gender == req.narrowing.gender, k.gender == ""))
        if req.narrowing.first_initial:
            cond.append(or_(k.first_initial == req.narrowing.first_initial, k.first_initial == ""))
        if not self.include_deactivated:
            cond.append(students_t.c.status == ACTIVE)
        return and_(*cond)

    def fetch(self, requests: Sequence[BlockRequest]) -> list[Block]:
        out = []
        k = block_keys_t.c
        joined = block_keys_t.join(students_t, students_t.c.student_id == k.student_id)
        for req in requests:
            where = self._where(req)
            total = self.conn.execute(select(func.count()).select_from(joined).where(where)).scalar() or 0
            if total == 0:
                out.append(Block((), 0))
                continue
            q = (select(k.student_id, k.version, aliases_t.c.std, aliases_t.c.record)
                 .select_from(joined.join(aliases_t, and_(aliases_t.c.student_id == k.student_id,
                                                          aliases_t.c.version == k.version)))
                 .where(where).order_by(k.student_id, k.version).limit(req.limit))
            rows = tuple(CandidateRow(sid, version, standardized_from_json(std, record))
                         for sid, version, std, record in self.conn.execute(q))
            out.append(Block(rows, total))
        return out


async def match(conn: AsyncConnection, matcher: Matcher, record: StudentRecord) -> Decision:
    """``matcher.match(record)`` with candidates from this database connection."""
    def run(sync_conn: Connection) -> Decision:
        m = copy.copy(matcher)
        m.source = DbCandidateSource(sync_conn)
        return m.match(record)

    return await conn.run_sync(run)
