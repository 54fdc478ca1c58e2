"""PostgreSQL fast path: the common SIF messages in one statement each, group-committed.

Nearly all of a busy zone's traffic is SIF_Event, SIF_Request, SIF_Response,
SIF_GetMessage and SIF_Ack. Handled the general way (``Store.tx``) each costs BEGIN,
a lock, the SIF_MsgId insert, one to three more statements and COMMIT: five to seven
round trips and a WAL flush (fsync) per message, which on a small machine cost more
CPU, in the zone and in PostgreSQL, than the rest of the message. Here instead:

* the zone decides in Python, as always, from rows it keeps in memory (agents,
  providers) or reads just before (the request a response answers), each with its
  row version (``xmin``: every UPDATE makes a new one);
* the function ``zis_apply_v1`` (``FUNCTION_SQL``, installed by ``Store.create``) then
  takes the sending agent's row lock, checks that every row the decision was made on still has the
  version seen (else it changes nothing: ``stale-…``), records the SIF_MsgId
  (``dup``: status 7) and applies the writes the decision implies;
* concurrent calls are sent together (``fetchmany``: one round trip, one implicit
  transaction, one COMMIT) and every caller waits for that COMMIT, so a SIF_Ack
  still promises only what is durable (synchronous_commit stays on).

Whatever the fast path does not cover, or finds changed, goes the general way, so
the rules live in one place (zone.core) and this module only applies them faster.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable

_logger = logging.getLogger(__name__)

FUNCTION = "zis_apply_v1"  # a new name for any change of its parameters or results

#: One SIF message's writes, after zone.core decided them. Parameters (all ops):
#: op, zone, sender, SIF_MsgId, now, version of the sender's row, then per op:
#:   get:      a3 = 'skip' while SMB holds an event (deliver requests/responses only)
#:   ack:      a1 = acknowledged SIF_MsgId, a2 = its sender (NULL: any)
#:   event:    a2 = object, a3 = context, body (queued for every subscriber there but the sender)
#:   request:  a1 = responder, v1 = its row version, a2 = object, a3 = provider's context
#:             (NULL: addressed by SIF_DestinationId), v2 = provider row version, body,
#:             versions, max_buffer, deadline
#:   response: a1 = request SIF_MsgId, v1 = request row version, a2 = requester, a3 = object,
#:             body, next_packet, state
#: Outcome: ok | dup (SIF_MsgId already seen) | miss (ack: nothing delivered by that id) |
#: stale-agent | stale-peer | stale-provider | stale-request (a row changed since read);
#: for a GetMessage the message delivered, for a request or response the request row's new version,
#: for an event the agents it was queued for.
FUNCTION_SQL = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}(
    op text, z text, src text, mid text, now_ float8, agent_v xid,
    a1 text, a2 text, a3 text, v1 xid, v2 xid, body_ bytea,
    versions_ text, max_buffer integer, deadline_ float8, next_packet_ integer, state_ text,
    OUT outcome text, OUT q_id bigint, OUT q_kind text, OUT q_body bytea, OUT q_version xid, OUT q_receivers text[])
LANGUAGE plpgsql AS $fn$
DECLARE
    head bigint;
    delivered integer;
BEGIN
    PERFORM 1 FROM zis_agents WHERE zone_id = z AND source_id = src AND xmin = agent_v FOR UPDATE;
    IF NOT FOUND THEN outcome := 'stale-agent'; RETURN; END IF;
    IF op = 'request' THEN
        PERFORM 1 FROM zis_agents WHERE zone_id = z AND source_id = a1 AND xmin = v1;
        IF NOT FOUND THEN outcome := 'stale-peer'; RETURN; END IF;
        IF a3 IS NOT NULL THEN
            PERFORM 1 FROM zis_provides
             WHERE zone_id = z AND object_name = a2 AND context = a3 AND source_id = a1 AND xmin = v2;
            IF NOT FOUND THEN outcome := 'stale-provider'; RETURN; END IF;
        END IF;
    ELSIF op = 'response' THEN
        PERFORM 1 FROM zis_requests WHERE zone_id = z AND msg_id = a1 AND xmin = v1 FOR UPDATE;
        IF NOT FOUND THEN outcome := 'stale-request'; RETURN; END IF;
    ELSIF op = 'ack' THEN
        IF a2 IS NULL THEN
            SELECT id, deliveries INTO head, delivered FROM zis_queue
             WHERE zone_id = z AND receiver = src AND msg_id = a1 ORDER BY id LIMIT 1;
        ELSE
            SELECT id, deliveries INTO head, delivered FROM zis_queue
             WHERE zone_id = z AND receiver = src AND msg_id = a1 AND sender = a2 ORDER BY id LIMIT 1;
        END IF;
        IF head IS NULL OR delivered = 0 THEN outcome := 'miss'; RETURN; END IF;
    ELSIF op NOT IN ('get', 'event') THEN
        RAISE EXCEPTION '{FUNCTION}: unknown op %', op;
    END IF;

    INSERT INTO zis_seen (zone_id, source_id, msg_id, at) VALUES (z, src, mid, now_) ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN outcome := 'dup'; RETURN; END IF;
    outcome := 'ok';

    IF op = 'get' THEN
        IF a3 = 'skip' THEN
            head := coalesce(
                (SELECT id FROM zis_queue WHERE zone_id = z AND receiver = src AND deliveries > 0
                   AND kind IN ('request', 'response') ORDER BY id LIMIT 1),
                (SELECT id FROM zis_queue WHERE zone_id = z AND receiver = src
                   AND kind IN ('request', 'response') ORDER BY id LIMIT 1));
        ELSE
            head := coalesce(
                (SELECT id FROM zis_queue WHERE zone_id = z AND receiver = src AND deliveries > 0
                  ORDER BY id LIMIT 1),
                (SELECT id FROM zis_queue WHERE zone_id = z AND receiver = src ORDER BY id LIMIT 1));
        END IF;
        IF head IS NOT NULL THEN
            UPDATE zis_queue SET deliveries = deliveries + 1 WHERE id = head
            RETURNING id, kind, body INTO q_id, q_kind, q_body;
        END IF;
    ELSIF op = 'ack' THEN
        DELETE FROM zis_queue WHERE id = head;
    ELSIF op = 'event' THEN
        SELECT coalesce(array_agg(source_id ORDER BY source_id), '{{}}') INTO q_receivers FROM zis_subscriptions
         WHERE zone_id = z AND object_name = a2 AND context = a3 AND source_id <> src;
        INSERT INTO zis_queue (zone_id, receiver, msg_id, sender, kind, object_name, body, deliveries, created_at)
        SELECT z, r, mid, src, 'event', a2, body_, 0, now_ FROM unnest(q_receivers) WITH ORDINALITY AS t(r, n)
         ORDER BY n;
    ELSIF op = 'request' THEN
        INSERT INTO zis_queue (zone_id, receiver, msg_id, sender, kind, object_name, body, deliveries, created_at)
        VALUES (z, a1, mid, src, 'request', a2, body_, 0, now_);
        INSERT INTO zis_requests (zone_id, msg_id, requester, responder, object_name, versions, max_buffer_size,
                                  deadline, next_packet, state)
        VALUES (z, mid, src, a1, a2, versions_, max_buffer, deadline_, 1, 'pending')
        RETURNING xmin INTO q_version;
    ELSE  -- response
        INSERT INTO zis_queue (zone_id, receiver, msg_id, sender, kind, object_name, body, deliveries, created_at)
        VALUES (z, a2, mid, src, 'response', a3, body_, 0, now_);
        UPDATE zis_requests SET next_packet = next_packet_, state = state_ WHERE zone_id = z AND msg_id = a1
        RETURNING xmin INTO q_version;
    END IF;
END
$fn$
"""

_APPLY = f"SELECT outcome, q_id, q_kind, q_body, q_version, q_receivers FROM {FUNCTION}" \
         "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
#: inspector lines, however many, in one statement (one row per array element)
LOG_COLUMNS = (("zone_id", "text", ""), ("at", "float8", 0.0), ("sender", "text", ""), ("receiver", "text", ""),
               ("kind", "text", ""), ("object_name", "text", ""), ("msg_id", "text", ""), ("ack", "text", ""),
               ("findings", "text", "[]"), ("size", "integer", 0))
_LOG = (f"INSERT INTO zis_log ({', '.join(c for c, _, _ in LOG_COLUMNS)}) SELECT * FROM unnest("
        + ", ".join(f"${i}::{t}[]" for i, (_, t, _) in enumerate(LOG_COLUMNS, 1)) + ")")
_AGENTS = "SELECT xmin, * FROM zis_agents WHERE zone_id = $1 AND source_id = ANY($2::text[])"
_PROVIDER = ("SELECT xmin, source_id, extended_query FROM zis_provides "
             "WHERE zone_id = $1 AND object_name = $2 AND context = $3")
_REQUEST = "SELECT xmin, * FROM zis_requests WHERE zone_id = $1 AND msg_id = $2"

#: rows kept per cache; past it the oldest go (agents and providers of a zone are few, so this
#: only bounds memory against a zone with open registration and endless new agents)
CACHE_ROWS = 4096


@dataclass(frozen=True)
class Provider:
    source_id: str
    extended_query: bool
    version: int


@dataclass(frozen=True)
class Applied:
    """What ``zis_apply_v1`` did: ``outcome`` and, for a GetMessage, the message delivered."""

    outcome: str
    queue_id: int | None = None
    kind: str | None = None
    body: bytes | None = None
    version: int | None = None  # request, response: the request row's version now
    receivers: tuple[str, ...] = ()  # event: queued for these


def op_args(op: str, zone_id: str, source_id: str, msg_id: str, now: float, agent_version: int, *,
            a1: str | None = None, a2: str | None = None, a3: str | None = None, v1: int | None = None,
            v2: int | None = None, body: bytes | None = None, versions: str | None = None,
            max_buffer: int | None = None, deadline: float | None = None, next_packet: int | None = None,
            state: str | None = None) -> tuple:
    """The positional parameters of one ``zis_apply_v1`` call."""
    return (op, zone_id, source_id, msg_id, now, agent_version, a1, a2, a3, v1, v2, body, versions,
            max_buffer, deadline, next_packet, state)


class _Lru(OrderedDict):
    def __init__(self, limit: int = CACHE_ROWS) -> None:
        super().__init__()
        self.limit = limit

    def put(self, key, value) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)


class PgFast:
    """Row versions the zone decided on, and the group-committed apply calls."""

    def __init__(self, connect: Callable[[], Any], agent_of: Callable[[dict], Any]) -> None:
        self._connect = connect  # async context manager yielding a SQLAlchemy AsyncConnection
        self._agent_of = agent_of  # mapping -> zone.store.AgentRow
        self._agents: _Lru = _Lru()  # (zone, source) -> (xmin, AgentRow)
        self._providers: _Lru = _Lru()  # (zone, object, context) -> Provider
        # (zone, request SIF_MsgId) -> (xmin, row): pending requests this process routed
        self._requests: _Lru = _Lru(CACHE_ROWS // 4)
        self._pending: list[tuple[tuple, asyncio.Future]] = []
        self._drainer: asyncio.Task | None = None  # sends the groups while there are any
        self.batches = 0  # group commits so far, and the calls they carried (for tests and tuning)
        self.applied = 0

    @asynccontextmanager
    async def _raw(self) -> AsyncIterator[Any]:
        async with self._connect() as conn:
            yield (await conn.get_raw_connection()).driver_connection

    # ------------------------------------------------------------------ reads
    async def agents(self, zone_id: str, *source_ids: str) -> list[tuple[int, Any] | None]:
        """(row version, AgentRow) of each agent, None for one not registered. From memory when
        known; any row may be out of date: ``apply`` finds out and the message goes the general way."""
        found = [self._agents.get((zone_id, s)) for s in source_ids]
        missing = [s for s, f in zip(source_ids, found) if f is None]
        if missing:
            async with self._raw() as raw:
                rows = await raw.fetch(_AGENTS, zone_id, missing)
            for r in rows:
                m = dict(r.items())
                entry = (m.pop("xmin"), self._agent_of(m))
                self._agents.put((zone_id, m["source_id"]), entry)
            found = [self._agents.get((zone_id, s)) for s in source_ids]
        return found

    async def provider(self, zone_id: str, object_name: str, context: str) -> Provider | None:
        key = (zone_id, object_name, context)
        cached = self._providers.get(key)
        if cached is None:
            async with self._raw() as raw:
                row = await raw.fetchrow(_PROVIDER, zone_id, object_name, context)
            if row is None:
                return None
            cached = Provider(row["source_id"], bool(row["extended_query"]), row["xmin"])
            self._providers.put(key, cached)
        return cached

    async def request(self, zone_id: str, msg_id: str) -> tuple[int, dict] | None:
        """(row version, row) of a request: remembered if this process routed it (or its last packet),
        else read."""
        cached = self._requests.get((zone_id, msg_id))
        if cached is not None:
            return cached
        async with self._raw() as raw:
            row = await raw.fetchrow(_REQUEST, zone_id, msg_id)
        if row is None:
            return None
        m = dict(row.items())
        return m.pop("xmin"), m

    def routed(self, zone_id: str, msg_id: str, version: int, row: dict) -> None:
        """Remember a request row as written (a pending request, or one answered in part)."""
        if row["state"] == "pending":
            self._requests.put((zone_id, msg_id), (version, row))
        else:
            self._requests.pop((zone_id, msg_id), None)

    def forget(self, zone_id: str, outcome: str, args: tuple) -> None:
        """Drop what a ``stale-…`` outcome says changed, so the next message reads it afresh."""
        if outcome == "stale-agent":
            self._agents.pop((zone_id, args[2]), None)
        elif outcome == "stale-peer":
            self._agents.pop((zone_id, args[6]), None)
        elif outcome == "stale-provider":
            self._providers.pop((zone_id, args[7], args[8]), None)
        elif outcome == "stale-request":
            self._requests.pop((zone_id, args[6]), None)

    # ------------------------------------------------------------------ writes
    async def write_log(self, rows: list[dict]) -> None:
        """Inspector lines in one statement (a round trip per line would cost more than the line)."""
        columns = [[r.get(name, default) for r in rows] for name, _, default in LOG_COLUMNS]
        async with self._raw() as raw:
            await raw.execute(_LOG, *columns)

    async def apply(self, args: tuple) -> Applied | None:
        """Run one ``zis_apply_v1`` call with whatever others are ready; return once the COMMIT that
        made it durable is done. None if the group's transaction failed (nothing of it was applied):
        the caller handles the message the general way, alone."""
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self._pending.append((args, done))
        if self._drainer is None:
            self._drainer = loop.create_task(self._drain())
        result = await done
        if result is not None and result.outcome.startswith("stale-"):
            self.forget(args[1], result.outcome, args)
        return result

    async def _drain(self) -> None:
        try:
            await asyncio.sleep(0)  # handlers already running reach apply() and join this group
            while self._pending:
                group, self._pending = self._pending, []
                # agents' row locks in one order, so two workers' groups never wait on each other in a
                # cycle; sort is stable: one agent's messages keep their order
                group.sort(key=lambda item: (item[0][1], item[0][2]))
                try:
                    async with self._raw() as raw:
                        rows = await raw.fetchmany(_APPLY, [args for args, _ in group])
                except Exception as exc:  # noqa: BLE001 - each message then runs alone, the general way
                    _logger.warning("group of %d fast-path messages failed (%s); handling them one by one",
                                    len(group), exc)
                    for _, done in group:
                        if not done.done():
                            done.set_result(None)
                    continue
                self.batches += 1
                self.applied += len(group)
                for (_, done), row in zip(group, rows):
                    if not done.done():
                        done.set_result(Applied(row[0], row[1], row[2], row[3], row[4], tuple(row[5] or ())))
        finally:
            self._drainer = None
