"""Helpers for agent tests: runtime agents talking to an in-process Zis (no sockets)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from messages import Ack, Message, parse
from sif_agent.config import AgentSettings, ObjectLists, RetrySettings, ZoneSettings
from sif_agent.outbox import Outbox
from sif_agent.runtime import Agent
from sif_agent.transport import RetryableTransportError
from tests.zone.harness import ZONE, Harness
from zone.core import Identity


class ZisTransport:
    """Carries bytes to an in-process Zis; records every POST and its reply.

    ``down`` refuses before the zone sees anything (zone unreachable); ``lose_replies``
    lets the zone handle the message and then loses the answer (the worst crash window).
    """

    def __init__(self, harness: Harness, principal: str) -> None:
        self.harness = harness
        self.identity = Identity(principal, "certificate")
        self.sent: list[bytes] = []
        self.replies: list[bytes] = []
        self.down = False
        self.lose_replies = 0
        self.refuse_next: Callable[[bytes], bool] | None = None  # fail one POST it matches, unsent
        self.closed = False

    async def post(self, body: bytes) -> bytes:
        if self.down:
            raise RetryableTransportError("zone unreachable (test)")
        if self.refuse_next is not None and self.refuse_next(body):
            self.refuse_next = None
            raise RetryableTransportError("connection reset (test)")
        self.sent.append(body)
        reply = await self.harness.zis.handle(self.harness.zone_id, body, self.identity)
        if self.lose_replies:
            self.lose_replies -= 1
            raise RetryableTransportError("reply lost (test)")
        self.replies.append(reply)
        return reply

    async def aclose(self) -> None:
        self.closed = True

    def messages(self) -> list[Message]:
        return [parse(b, validate=False) for b in self.sent]

    def acks(self) -> list[Ack]:
        """The SIF_Acks this agent sent for delivered messages."""
        return [m for m in self.messages() if isinstance(m, Ack)]


def settings(source_id: str, tmp_path: Path, *, versions=("2.1",), pull_interval=0.01,
             request_timeout=5.0, **objects) -> AgentSettings:
    zone = ZoneSettings(id=ZONE, url="https://zone.invalid/zones/test-zone", source_id=source_id,
                        versions=tuple(versions), pull_interval=pull_interval,
                        request_timeout=request_timeout, objects=ObjectLists(**objects),
                        retry=RetrySettings(attempts=2, initial=0.001, maximum=0.01))
    return AgentSettings(source_id=source_id, name=f"{source_id} test agent", zones=(zone,),
                         outbox=f"sqlite+aiosqlite:///{tmp_path}/{source_id}-outbox.db")


def make_agent(harness: Harness, tmp_path: Path, source_id: str, *, transport: ZisTransport | None = None,
               **kw) -> tuple[Agent, ZisTransport]:
    s = settings(source_id, tmp_path, **kw)
    t = transport or ZisTransport(harness, source_id)
    return Agent(s, transports={ZONE: t}, outbox=Outbox.from_url(s.outbox)), t
