"""In-process zone conversations: agents talk to a Zis over SQLite (or PostgreSQL), no sockets.

    h = await Harness.start(tmp_path)
    loc = h.agent("ITC01-StudentLocator")
    ack = await loc.register()
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable

from messages import (
    Ack, CancelRequests, Event, GetAgentACL, GetMessage, GetZoneStatus, Header, Message, ObjectRef,
    Ping, Protocol, Provide, Provision, Query, Register, Request, Response, Sleep, Status,
    Subscribe, SystemControl, Unprovide, Unregister, Unsubscribe, Wakeup, build, parse,
)
from messages.errors import Error
from zone.acl import Rights
from zone.config import AgentSettings, ServerSettings, ZoneSettings
from zone.core import Identity, Zis
from zone.store import Store

ZONE = "test-zone"


class Clock:
    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@dataclass
class Harness:
    zis: Zis
    store: Store
    clock: Clock
    zone_id: str = ZONE

    @classmethod
    async def start(cls, tmp_path: Path, database: str | None = None, **zone_kw) -> "Harness":
        """A zone over ``database`` (a SQLAlchemy URL; default: a SQLite file in ``tmp_path``)."""
        agents = zone_kw.pop("agents", None)
        zone = ZoneSettings(id=ZONE, source_id="TestZIS", open_registration=agents is None,
                            agents=tuple(agents or ()), **zone_kw)
        settings = ServerSettings(database=database or f"sqlite+aiosqlite:///{tmp_path}/zone.db", zones=(zone,))
        store = Store.from_url(settings.database)
        await store.create()
        clock = Clock()
        return cls(Zis(settings, store, clock=clock), store, clock)

    async def close(self) -> None:
        await self.store.close()

    def agent(self, source_id: str, version: str = "2.1", principal: str | None = None) -> "Agent":
        agent = Agent(None, source_id, version)
        agent.identity = Identity(principal or source_id, "certificate")
        agent.post = lambda body: self.zis.handle(self.zone_id, body, agent.identity)
        return agent

    async def raw(self, body: bytes, identity: Identity = Identity()) -> Ack:
        return parse(await self.zis.handle(self.zone_id, body, identity))


@dataclass
class Agent:
    """A scripted SIF agent; ``post`` carries bytes to the zone (in process or over HTTPS)."""

    post: Callable[[bytes], Awaitable[bytes]] | None
    source_id: str
    version: str
    identity: Identity = Identity()
    sent: list[Message] = field(default_factory=list)

    def header(self, destination: str | None = None, contexts=()) -> Header:
        return Header.new(self.source_id, destination, contexts=contexts)

    async def send(self, message: Message) -> Ack:
        self.sent.append(message)
        reply = parse(await self.post(build(message)))
        assert isinstance(reply, Ack)
        assert reply.original_msg_id == message.msg_id
        return reply

    async def send_bytes(self, body: bytes) -> Ack:
        return parse(await self.post(body))

    # -- registration and provisioning
    def register_message(self, mode="Pull", versions=None, buffer=1_048_576, url=None) -> Register:
        return Register(header=self.header(), version=self.version, name=f"{self.source_id} agent",
                        versions=versions or (self.version,), max_buffer_size=buffer, mode=mode,
                        protocol=Protocol(type="HTTPS", url=url) if url else None)

    async def register(self, **kw) -> Ack:
        return await self.send(self.register_message(**kw))

    async def unregister(self) -> Ack:
        return await self.send(Unregister(header=self.header(), version=self.version))

    async def provide(self, *names: str) -> Ack:
        return await self.send(Provide(header=self.header(), version=self.version, objects=names))

    async def unprovide(self, *names: str) -> Ack:
        return await self.send(Unprovide(header=self.header(), version=self.version, objects=names))

    async def subscribe(self, *names: str) -> Ack:
        return await self.send(Subscribe(header=self.header(), version=self.version, objects=names))

    async def unsubscribe(self, *names: str) -> Ack:
        return await self.send(Unsubscribe(header=self.header(), version=self.version, objects=names))

    async def provision(self, **lists) -> Ack:
        return await self.send(Provision(header=self.header(), version=self.version, **lists))

    # -- events, requests, responses
    def event_message(self, obj, action="Add", object_name=None, contexts=()) -> Event:
        return Event(header=self.header(contexts=contexts), version=self.version,
                     object_name=object_name or obj.TAG, action=action, objects=(obj,))

    async def publish(self, obj, action="Add", object_name=None) -> Ack:
        return await self.send(self.event_message(obj, action, object_name))

    def request_message(self, object_name="StudentLocator", destination=None, versions=None,
                        buffer=1_048_576, example=None) -> Request:
        return Request(header=self.header(destination), version=self.version,
                       versions=versions or (self.version,), max_buffer_size=buffer,
                       query=Query(object_name=object_name, example=example))

    async def request(self, object_name="StudentLocator", **kw) -> tuple[Request, Ack]:
        m = self.request_message(object_name, **kw)
        return m, await self.send(m)

    def response_message(self, request: Request, objects=(), packet=1, more=False, destination="__requester__",
                         version=None, error: Error | None = None) -> Response:
        dest = request.source_id if destination == "__requester__" else destination
        return Response(header=self.header(dest), version=version or self.version,
                        request_msg_id=request.msg_id, packet_number=packet, more_packets=more,
                        objects=None if error else tuple(objects), error=error)

    async def respond(self, request: Request, objects=(), **kw) -> Ack:
        return await self.send(self.response_message(request, objects, **kw))

    # -- queue
    async def control(self, command) -> Ack:
        return await self.send(SystemControl(header=self.header(), version=self.version, command=command))

    async def get(self) -> Ack:
        return await self.control(GetMessage())

    async def ack(self, delivered: Message, code: int = 1, error: Error | None = None) -> Ack:
        return await self.send(Ack(header=self.header(), version=self.version,
                                   original_source_id=delivered.source_id, original_msg_id=delivered.msg_id,
                                   status=None if error else Status(code=code), error=error))

    async def take(self) -> Message:
        """Pull the next message (must exist) and acknowledge it with status 1."""
        reply = await self.get()
        assert reply.status and reply.status.code == 0, reply
        msg = reply.message
        assert (await self.ack(msg)).status.code == 0
        return msg

    async def ping(self) -> Ack:
        return await self.control(Ping())

    async def sleep(self) -> Ack:
        return await self.control(Sleep())

    async def wakeup(self) -> Ack:
        return await self.control(Wakeup())

    async def zone_status(self) -> Ack:
        return await self.control(GetZoneStatus())

    async def agent_acl(self) -> Ack:
        return await self.control(GetAgentACL())

    async def cancel(self, *msg_ids: str, notification="Standard") -> Ack:
        return await self.control(CancelRequests(request_msg_ids=msg_ids, notification_type=notification))


def code(ack: Ack) -> int | tuple[int, int]:
    """Status code, or (category, code) for an error ack."""
    if ack.error is not None:
        return (ack.error.category, ack.error.code)
    return ack.status.code


def rights(**kw) -> Rights:
    return Rights.from_mapping(kw)


def configured(source_id: str, **kw) -> AgentSettings:
    return AgentSettings(source_id=source_id, rights=rights(**kw))
