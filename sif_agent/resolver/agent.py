"""The Student Resolver agent: StudentLocator requests in, SLF rows out, answers when decided.

    res = ResolverAgent(settings)        # settings from sif_agent.resolver.config.load(...)
    await res.run()                      # or: async with res.running(): ...

Why it defers: the SSID database decides on its own schedule (READY batches, staff resolving
ambiguous matches), so the request handler only records the request (``store.record``) and
returns ``DEFERRED``; the runtime acknowledges the SIF_Request after that commit, so a crash
before it makes the zone deliver the request again, and recording is idempotent per
SIF_MsgId and per TransactionId. The poller (:meth:`answer_due`, woken by ``store.changed``,
PostgreSQL NOTIFY, or every ``poll_interval``) claims rows with answerable requests, answers
each through ``Agent.respond`` (stored in the durable outbox before delivery, idempotent per
request) and then lets the store take the row's next step. Values the tables cannot hold and
unknown TransactionIds are answered at once (``Recorded.immediate``).

The agent registers in each configured zone as provider (and responder) of StudentLocator;
requests from any zone and any locator are kept apart by SIF_ZONE_ID and SIF_SOURCE_ID.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from typing import AsyncIterator

from messages import Request

from ..handlers import DEFERRED
from ..outbox import Outbox
from ..requests import RequestRef
from ..runtime import Agent, Context
from ..transport import Transport
from . import inbound
from .config import ResolverSettings
from .db import asyncpg_dsn
from .migrations import CHANNEL
from .store import ResolverStore, Work
from .wakeup import first_of, listen

log = logging.getLogger(__name__)

#: seconds between purges of the answered-request log
PURGE_EVERY = 3600.0


class ResolverAgent:
    def __init__(self, settings: ResolverSettings, *, transports: dict[str, Transport] | None = None,
                 outbox: Outbox | None = None, store: ResolverStore | None = None, **agent_kw) -> None:
        self.settings = settings
        self.agent = Agent(settings.agent, transports=transports, outbox=outbox, **agent_kw)
        self.store = store or ResolverStore.from_url(settings.database, policy=settings.policy,
                                                     extra_columns=settings.extra_columns,
                                                     worker_id=settings.worker_id)
        self.zones = tuple(z.id for z in settings.agent.zones)
        self._opened = False
        self._tasks: list[asyncio.Task] = []
        self._last_purge = 0.0
        #: set while LISTEN is connected (PostgreSQL)
        self.listening = asyncio.Event()
        self.agent.on_request("StudentLocator")(self._on_request)

    def __repr__(self) -> str:
        return f"ResolverAgent({self.settings.agent.source_id!r}, zones={list(self.zones)})"

    # ================================================================ lifecycle
    async def open(self) -> None:
        """Migrate the SLF tables and free claims a crashed run of this worker left behind."""
        if self._opened:
            return
        await self.store.migrate()  # logs each step it applies
        freed = await self.store.release_claims()
        if freed:
            log.info("released %d claim(s) left by an earlier run of worker %s", freed, self.store.worker_id)
        self._opened = True

    async def close(self) -> None:
        await self.store.close()

    def stop(self) -> None:
        self.agent.stop()

    def wake(self) -> None:
        """Look for answers now (e.g. a co-located database changed a row)."""
        self.store.changed.set()

    def _start_background(self) -> None:
        self._tasks.append(asyncio.create_task(self._poll_loop(), name="resolver-poller"))
        dsn = asyncpg_dsn(self.store.engine)
        if dsn and self.settings.listen:
            self._tasks.append(asyncio.create_task(
                listen(dsn, CHANNEL, self.wake, retry=min(5.0, self.settings.poll_interval), connected=self.listening),
                name="resolver-listen"))

    async def _stop_background(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def run(self, *, handle_signals: bool = False) -> None:
        """Until :meth:`stop` (or SIGTERM/SIGINT with ``handle_signals``): pull, record, answer."""
        await self.open()
        self._start_background()
        try:
            await self.agent.run(handle_signals=handle_signals)
        finally:
            await self._stop_background()
            await self.close()

    @asynccontextmanager
    async def running(self, timeout: float = 30.0) -> AsyncIterator["ResolverAgent"]:
        """Pull loops and the poller in the background (tests, embedding)."""
        await self.open()
        async with self.agent.running(timeout):
            self._start_background()
            try:
                yield self
            finally:
                await self._stop_background()

    # ================================================================ requests
    async def _on_request(self, request: Request, ctx: Context):
        s = self.settings
        incoming = inbound.read(request, s.columns, tables=s.code_tables, batch_num_path=s.policy.batching.batch_num_path,
                                school_year_start_month=s.policy.school_year_start_month)
        ref = RequestRef.of(ctx.zone_id, request, ctx.version)
        rec = await self.store.record(ctx.zone_id, request.source_id, request.msg_id, incoming, ref)
        if rec.immediate is not None:
            log.info("zone %s: %s %s from %s answered at once: %s (%s)", ctx.zone_id, incoming.id_status.value,
                     incoming.transaction_id, request.source_id, rec.immediate.id_status, rec.note)
            return list(rec.immediate.objects)
        return DEFERRED

    # ================================================================ answers
    async def answer_due(self) -> int:
        """One pass: answer every request that can be answered now; how many were answered."""
        total = 0
        while True:
            works = await self.store.claim(self.zones)
            for work in works:
                total += await self._answer(work)
            if len(works) < self.settings.policy.batch_size:
                return total

    async def _answer(self, work: Work) -> int:
        answered = []
        for req in work.requests:
            answer = work.answer(req)
            if answer is None:
                continue
            await self.agent.respond(req.ref, objects=answer.objects)
            log.info("zone %s: %s %s answered %s (request %s from %s)", req.ref.zone_id, req.id_status,
                     req.transaction_id, answer.id_status, req.ref.msg_id, req.ref.source_id)
            answered.append((req.id, answer))
        await self.store.finish(work, answered)
        return len(answered)

    async def _poll_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while not self.agent.stopping:
            self.store.changed.clear()
            try:
                await self.store.mark_ready()
                await self.answer_due()
                if loop.time() - self._last_purge > PURGE_EVERY:
                    self._last_purge = loop.time()
                    purged = await self.store.purge()
                    if purged:
                        log.info("forgot %d answered request(s) past the retention", purged)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - one bad pass must not stop the resolver
                log.exception("resolver: pass over the SLF tables failed")
            if not self.store.changed.is_set():
                await first_of(self.store.changed.wait(), self.agent.wait_or_stop(self.settings.poll_interval),
                               timeout=self.settings.poll_interval)
