"""Push-mode delivery: the zone POSTs each queued message to the agent's SIF_URL.

The agent's HTTP answer is its SIF_Ack. One message per agent at a time, oldest
first; a failed POST (connection, TLS, 5xx, timeout, unreadable answer) leaves the
message queued and backs the agent off exponentially with jitter.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time

import aiohttp

from messages import Ack, SIFError, StatusCode, XmlObject, parse

from .core import Zis, with_version
from .store import AgentRow

log = logging.getLogger(__name__)


class PushDelivery:
    def __init__(self, zis: Zis, *, ssl_context: ssl.SSLContext | None = None, timeout: float = 30.0,
                 base_delay: float = 0.5, max_delay: float = 60.0, rng: random.Random | None = None) -> None:
        self.zis = zis
        self.ssl_context = ssl_context
        self.timeout = timeout
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.rng = rng or random.Random()
        self._wake = asyncio.Event()
        self._failures: dict[tuple[str, str], int] = {}
        self._not_before: dict[tuple[str, str], float] = {}
        self._session: aiohttp.ClientSession | None = None

    def wake(self, zone_id: str, receiver: str) -> None:
        self._wake.set()

    def backoff(self, key: tuple[str, str]) -> float:
        n = self._failures.get(key, 0) + 1
        self._failures[key] = n
        delay = min(self.max_delay, self.base_delay * 2 ** (n - 1)) * self.rng.uniform(0.5, 1.5)
        self._not_before[key] = time.monotonic() + delay
        return delay

    async def run(self, stop: asyncio.Event) -> None:
        connector = aiohttp.TCPConnector(ssl=self.ssl_context if self.ssl_context is not None else True)
        async with aiohttp.ClientSession(connector=connector,
                                         timeout=aiohttp.ClientTimeout(total=self.timeout)) as session:
            self._session = session
            while not stop.is_set():
                self._wake.clear()
                delivered = await self.sweep()
                if delivered:
                    continue
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=1.0)
                except asyncio.TimeoutError:
                    pass

    async def sweep(self) -> int:
        """Deliver at most one message to every push agent that is due; return how many were acked."""
        count = 0
        for zone in self.zis.settings.zones:
            async with self.zis.store.engine.connect() as conn:
                push_agents = [a for a in await self.zis.store.agents_in(conn, zone.id)
                               if a.mode == "Push" and not a.sleeping and a.push_url]
            for agent in push_agents:
                key = (zone.id, agent.source_id)
                if self._not_before.get(key, 0) > time.monotonic():
                    continue
                try:
                    if await self.deliver_one(zone, agent):
                        count += 1
                        self._failures.pop(key, None)
                except Exception as exc:  # noqa: BLE001 - every failure means: keep it, back off
                    delay = self.backoff(key)
                    log.warning("push to %s in zone %s failed (%s); retrying in %.1fs", agent.source_id,
                                zone.id, exc, delay)
        return count

    async def deliver_one(self, zone, agent: AgentRow) -> bool:
        store = self.zis.store
        async with store.tx() as conn:
            current = await store.agent(conn, zone.id, agent.source_id, lock=True)
            if current is None:
                return False
            row = await store.head(conn, zone.id, agent.source_id, skip_events=current.smb_msg_id is not None)
            if row is None or (current.smb_msg_id and row["msg_id"] == current.smb_msg_id):
                return False
            await store.mark_delivered(conn, row["id"])
        body = (with_version(row["body"], current.version) if row["kind"] != "response"
                else XmlObject.from_bytes(row["body"]))
        from lxml import etree

        data = etree.tostring(body.view(), encoding="utf-8")
        assert self._session is not None
        async with self._session.post(current.push_url, data=data,
                                      headers={"Content-Type": 'application/xml;charset="utf-8"'}) as resp:
            if resp.status >= 500:
                raise RuntimeError(f"HTTP {resp.status}")
            answer = await resp.read()
        try:
            ack = parse(answer, max_bytes=self.zis.settings.max_message_bytes)
        except SIFError as exc:
            raise RuntimeError(f"unreadable SIF_Ack: {exc}") from None
        if not isinstance(ack, Ack) or ack.original_msg_id != row["msg_id"]:
            raise RuntimeError("the answer is not a SIF_Ack for the message pushed")
        if ack.status is not None and ack.status.code == StatusCode.RECEIVER_SLEEPING:
            async with store.tx() as conn:
                await store.set_agent(conn, zone.id, agent.source_id, sleeping=True)
            return False
        async with store.tx() as conn:
            fresh = await store.agent(conn, zone.id, agent.source_id, lock=True)
            await self.zis.acknowledge(zone, conn, ack, fresh)
        return True
