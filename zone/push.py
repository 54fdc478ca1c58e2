"""Push-mode delivery: the zone POSTs each queued message to the agent's SIF_URL.

The agent's HTTP answer is its SIF_Ack (status 1, or a SIF_Error: the message is
done; status 2 for an event: Selective Message Blocking holds it; status 8: the
agent is asleep until it sends SIF_Wakeup). One message per agent at a time,
oldest first (the message in flight is redelivered until acknowledged).

Anything else — no connection, TLS failure, timeout, an HTTP status other than
2xx, an unreadable answer, an answer that is not a SIF_Ack for the message
pushed — leaves the message queued and backs that agent off exponentially with
jitter: attempt n waits ``min(max_delay, base_delay * 2**(n-1)) * U(0.5, 1)``
(never shorter than the previous delay, never in lock-step with other zones).

Several push workers (zone server processes on one PostgreSQL database) share
the work: a worker claims an agent with a lease (``Store.claim_push``, ``FOR
UPDATE SKIP LOCKED``) before POSTing, so no two workers push to one agent at
once, and the failure count and next-attempt time live in the database, so the
backoff holds whichever worker tries next.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import ssl
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Callable

import aiohttp
from lxml import etree

from messages import Ack, SIFError, StatusCode, XmlObject, parse

from .core import Zis, with_version
from .store import PushClaim

log = logging.getLogger(__name__)


class PushFailed(Exception):
    """The message was not acknowledged; it stays queued and the agent is backed off."""

    def __init__(self, reason: str, msg_id: str | None = None) -> None:
        super().__init__(reason)
        self.msg_id = msg_id


@dataclass(frozen=True)
class PushAttempt:
    """One POST to an agent, for logs, the inspector and tests."""

    zone_id: str
    source_id: str
    msg_id: str | None
    at: float  # clock time the attempt ended
    outcome: str  # acked | intermediate | sleeping | failed
    error: str | None = None
    delay: float | None = None  # backoff chosen after a failure


class PushDelivery:
    def __init__(self, zis: Zis, *, ssl_context: ssl.SSLContext | None = None, timeout: float = 30.0,
                 base_delay: float = 0.5, max_delay: float = 60.0, rng: random.Random | None = None,
                 concurrency: int = 4, idle_poll: float = 1.0, clock: Callable[[], float] = time.time,
                 worker_id: str | None = None) -> None:
        self.zis = zis
        self.ssl_context = ssl_context
        self.timeout = timeout
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.rng = rng or random.Random()
        self.concurrency = concurrency  # agents pushed to at once (each needs a pool connection briefly)
        self.idle_poll = idle_poll
        self.clock = clock  # wall clock: leases and backoff are shared with other workers
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease = 2 * timeout + 10.0  # longer than any POST this worker can be waiting on
        self.attempts: deque[PushAttempt] = deque(maxlen=1000)
        self._wake = asyncio.Event()
        self._pull: set[tuple[str, str]] = set()  # agents known to pull (see wake)
        self._session: aiohttp.ClientSession | None = None
        self._own_session = False

    # ------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> "PushDelivery":
        self._ensure_session()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=self.ssl_context if self.ssl_context is not None else True)
            self._session = aiohttp.ClientSession(connector=connector,
                                                  timeout=aiohttp.ClientTimeout(total=self.timeout))
            self._own_session = True
        return self._session

    async def aclose(self) -> None:
        if self._session is not None and self._own_session:
            await self._session.close()
        self._session = None

    def wake(self, zone_id: str, receiver: str) -> None:
        """Something was queued (or an agent woke up): sweep now rather than at the next poll.

        Messages for agents known to pull are ignored: at hundreds of messages a second a sweep
        per message would cost more than the messages themselves. The set of pull agents is
        re-read on every idle pass (at most ``idle_poll`` old) and dropped for an agent that
        registers again (it may have switched to push)."""
        if (zone_id, receiver) not in self._pull:
            self._wake.set()

    def forget(self, zone_id: str, source_id: str) -> None:
        """The agent registered or unregistered: its mode may have changed."""
        self._pull.discard((zone_id, source_id))
        self._wake.set()

    # ------------------------------------------------------------------ backoff
    def backoff_delay(self, failures: int) -> float:
        """Delay after the ``failures``-th consecutive failure: exponential, capped, "equal jitter"."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** max(0, failures - 1))
        return ceiling * self.rng.uniform(0.5, 1.0)

    # ------------------------------------------------------------------ loop
    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; sleeps until woken, the next backoff ends, or ``idle_poll``."""
        self._ensure_session()
        try:
            while not stop.is_set():
                self._wake.clear()
                try:
                    delivered = await self.sweep()
                except Exception:  # noqa: BLE001 - e.g. the database is restarting: try again later
                    log.exception("push sweep failed")
                    delivered = 0
                if delivered:
                    continue
                await self._idle(stop)
        finally:
            await self.aclose()

    async def _idle(self, stop: asyncio.Event) -> None:
        wait = self.idle_poll
        try:
            async with self.zis.store.engine.connect() as conn:
                self._pull = await self.zis.store.pull_agents(conn, self._zone_ids())
                due = await self.zis.store.next_push_due(conn, self._zone_ids())
            if due is not None:
                wait = min(wait, max(0.0, due - self.clock()) + 0.001)
        except Exception:  # noqa: BLE001
            log.exception("push: could not read the next due time")
        waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(waiters, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()

    def _zone_ids(self) -> list[str]:
        return [z.id for z in self.zis.settings.zones]

    async def sweep(self) -> int:
        """Claim the push agents that are due and deliver one message to each; return how many
        messages the agents took (acknowledged with status 1/2 or a SIF_Error)."""
        self._ensure_session()
        store = self.zis.store
        async with store.tx() as conn:
            claims = await store.claim_push(conn, self._zone_ids(), self.worker_id, self.clock(), self.lease,
                                            self.concurrency)
        if not claims:
            return 0
        results = await asyncio.gather(*(self._attempt(c) for c in claims))
        return sum(results)

    async def _attempt(self, claim: PushClaim) -> int:
        store = self.zis.store
        failures, not_before, error, took = 0, 0.0, None, 0
        msg_id = None
        try:
            outcome, msg_id = await asyncio.wait_for(self.deliver_one(claim), timeout=self.timeout + 5.0)
            took = 1 if outcome in ("acked", "intermediate") else 0
            if outcome != "empty":
                self.attempts.append(PushAttempt(claim.zone_id, claim.source_id, msg_id, self.clock(), outcome))
        except Exception as exc:  # noqa: BLE001 - every failure means: keep the message, back off
            failures = claim.failures + 1
            delay = self.backoff_delay(failures)
            not_before = self.clock() + delay
            error = f"{type(exc).__name__}: {exc}"[:1000]
            self.attempts.append(PushAttempt(claim.zone_id, claim.source_id, getattr(exc, "msg_id", None),
                                             self.clock(), "failed", error, delay))
            log.warning("push to %s in zone %s failed (%s); attempt %d, retrying in %.2fs",
                        claim.source_id, claim.zone_id, error, failures, delay)
        finally:
            try:
                async with store.tx() as conn:
                    await store.release_push(conn, claim, self.worker_id, failures=failures,
                                             not_before=not_before, error=error)
            except Exception:  # noqa: BLE001 - the lease runs out by itself
                log.exception("push: could not release %s/%s", claim.zone_id, claim.source_id)
        return took

    # ------------------------------------------------------------------ one message
    async def deliver_one(self, claim: PushClaim) -> tuple[str, str | None]:
        """POST the agent's next message and apply its answer.

        Returns (outcome, msg_id): "acked" (status 1 or SIF_Error: dequeued), "intermediate"
        (status 2: SMB holds the event), "sleeping" (status 8), or "empty" (nothing to send).
        Raises PushFailed (or a transport error) when the message stays queued.
        """
        zis, store = self.zis, self.zis.store
        zone = zis.settings.zone(claim.zone_id)
        if zone is None:
            return "empty", None
        async with store.tx() as conn:
            agent = await store.agent(conn, zone.id, claim.source_id, lock=True)
            if agent is None or agent.mode != "Push" or agent.sleeping or not agent.push_url:
                return "empty", None
            row = await store.take(conn, zone.id, agent.source_id, skip_events=agent.smb_msg_id is not None)
            if row is None:
                return "empty", None
        msg_id = row["msg_id"]
        body = (with_version(row["body"], agent.version) if row["kind"] != "response"
                else XmlObject.from_bytes(row["body"]))
        data = etree.tostring(body.view(), encoding="utf-8")
        try:
            answer = await self._post(agent.push_url, data)
        except PushFailed as exc:
            raise PushFailed(str(exc), msg_id) from None
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ssl.SSLError) as exc:
            raise PushFailed(f"{type(exc).__name__}: {exc}", msg_id) from exc
        try:
            ack = parse(answer, lenient=True, max_bytes=zis.settings.max_message_bytes)
        except SIFError as exc:
            raise PushFailed(f"unreadable answer ({exc})", msg_id) from None
        if not isinstance(ack, Ack) or ack.original_msg_id != msg_id:
            got = f"a SIF_Ack for {ack.original_msg_id}" if isinstance(ack, Ack) else type(ack).__name__
            raise PushFailed(f"the answer is not a SIF_Ack for {msg_id} (got {got})", msg_id)
        code = ack.status.code if ack.status is not None else None
        if code == StatusCode.RECEIVER_SLEEPING:
            async with store.tx() as conn:
                await store.set_agent(conn, zone.id, agent.source_id, sleeping=True)
            log.info("push: %s in zone %s is sleeping; holding its queue until SIF_Wakeup", agent.source_id, zone.id)
            return "sleeping", msg_id
        try:
            async with store.tx() as conn:
                fresh = await store.agent(conn, zone.id, agent.source_id, lock=True)
                if fresh is None:
                    raise PushFailed(f"{agent.source_id} unregistered while its message was pushed", msg_id)
                await zis.acknowledge(zone, conn, ack, fresh)
        except SIFError as exc:
            raise PushFailed(f"the agent's SIF_Ack was refused: {exc}", msg_id) from None
        return ("intermediate" if code == StatusCode.INTERMEDIATE else "acked"), msg_id

    async def _post(self, url: str, data: bytes) -> bytes:
        session = self._ensure_session()
        limit = self.zis.settings.max_message_bytes
        async with session.post(url, data=data, headers={"Content-Type": 'application/xml;charset="utf-8"'},
                                allow_redirects=False) as resp:
            if not 200 <= resp.status < 300:
                raise PushFailed(f"HTTP {resp.status}")
            chunks, size = [], 0
            async for chunk in resp.content.iter_chunked(65536):
                size += len(chunk)
                if size > limit:
                    raise PushFailed(f"answer larger than {limit} bytes")
                chunks.append(chunk)
        return b"".join(chunks)
