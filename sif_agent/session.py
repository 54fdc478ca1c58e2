"""One agent's conversation with one zone: the protocol decisions, no I/O of its own.

``ZoneSession`` builds messages, hands bytes to a transport and reads the SIF_Ack
that comes back. An error ack becomes :class:`messages.SIFError`; status 7 ("already
have a message with this SIF_MsgId") counts as delivered.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

from messages import (
    Ack, AgentACL, GetMessage, Header, Message, Ping, Protocol, Provision, Register, SIFError, Sleep, Status,
    StatusCode, SystemControl, Unregister, Wakeup, build, new_guid, now_timestamp, parse,
)
from messages.codes import ErrorCategory, GenericCode, RegistrationCode

from .config import OBJECT_LISTS, ZoneSettings
from .transport import Transport

log = logging.getLogger(__name__)

DELIVERED = (StatusCode.SUCCESS, StatusCode.ALREADY_HAVE_MESSAGE)


class ProtocolError(Exception):
    """The zone answered with something that is not a SIF_Ack for our message."""


@dataclass(frozen=True)
class Pulled:
    """What one SIF_GetMessage gave: a message (code 0), nothing (9) or "you are asleep" (8)."""

    code: int
    message: Message | None = None

    @property
    def empty(self) -> bool:
        return self.code == StatusCode.NO_MESSAGES

    @property
    def sleeping(self) -> bool:
        return self.code == StatusCode.RECEIVER_SLEEPING


class ZoneSession:
    def __init__(self, zone: ZoneSettings, transport: Transport, *, name: str | None = None,
                 ids: Callable[[], str] = new_guid, clock: Callable[[], str] = now_timestamp) -> None:
        self.zone = zone
        self.transport = transport
        self.name = name or zone.source_id
        self.ids = ids
        self.clock = clock
        self.version = zone.versions[0]  # until registration settles it
        self.acl: AgentACL | None = None
        self.push_url: str | None = None  # push mode: where our listener takes the zone's POSTs

    @property
    def source_id(self) -> str:
        return self.zone.source_id

    def header(self, destination: str | None = None, contexts: tuple[str, ...] = ()) -> Header:
        return Header.new(self.source_id, destination, contexts=contexts, ids=self.ids, clock=self.clock)

    # ------------------------------------------------------------------ exchange
    async def exchange(self, body: bytes, msg_id: str) -> Ack:
        """POST bytes; return the zone's SIF_Ack (any status) or raise SIFError for an error ack."""
        raw = await self.transport.post(body)
        try:
            # the zone validated what it delivers; our readers still refuse broken structure
            reply = parse(raw, validate=False)
        except SIFError as exc:
            raise ProtocolError(f"zone {self.zone.id} sent an unreadable reply: {exc}") from exc
        if not isinstance(reply, Ack):
            raise ProtocolError(f"zone {self.zone.id} answered {reply.kind}, not SIF_Ack")
        if reply.error is not None:
            raise reply.error.to_exception()
        if reply.original_msg_id not in (None, msg_id):
            raise ProtocolError(f"zone {self.zone.id} acknowledged {reply.original_msg_id}, not {msg_id}")
        return reply

    async def send(self, message: Message) -> Ack:
        ack = await self.exchange(build(message), message.msg_id)
        log.info("zone %s: %s %s -> %s", self.zone.id, message.kind, message.msg_id, ack.kind)
        if ack.status.code not in DELIVERED:
            raise ProtocolError(f"zone {self.zone.id} answered status {ack.status.code} to {message.kind}")
        return ack

    # ------------------------------------------------------------------ registration
    def register_message(self, version: str) -> Register:
        protocol = None
        if self.zone.mode == "Push":
            if not self.push_url:
                raise ProtocolError(f"zone {self.zone.id}: push mode needs the listener's URL before SIF_Register")
            protocol = Protocol(type="HTTPS" if self.push_url.startswith("https:") else "HTTP", url=self.push_url)
        return Register(header=self.header(), version=version, name=self.name, versions=self.zone.versions,
                        max_buffer_size=self.zone.max_buffer_size, mode=self.zone.mode, protocol=protocol)

    async def register(self) -> AgentACL | None:
        """SIF_Register, trying each configured version in turn as the envelope version.

        Idempotent: registering again updates the registration and keeps the queue.
        """
        last: SIFError | None = None
        for version in self.zone.versions:
            try:
                ack = await self.send(self.register_message(version))
            except SIFError as exc:
                if (exc.category, exc.code) in ((ErrorCategory.GENERIC, GenericCode.VERSION_NOT_SUPPORTED),
                                                (ErrorCategory.REGISTRATION, RegistrationCode.VERSION_UNSUPPORTED)):
                    last = exc
                    continue
                raise
            self.version = version
            data = ack.status.data
            self.acl = data if isinstance(data, AgentACL) else None
            return self.acl
        assert last is not None
        raise last

    def provision_message(self) -> Provision:
        lists = {f"{name}_objects": getattr(self.zone.objects, name) for name in OBJECT_LISTS}
        return Provision(header=self.header(), version=self.version, **lists)

    async def provision(self) -> AgentACL | None:
        """SIF_Provision with every configured list (the zone replaces what it had: idempotent)."""
        ack = await self.send(self.provision_message())
        data = ack.status.data
        if isinstance(data, AgentACL):
            self.acl = data
        return self.acl

    async def unregister(self) -> None:
        await self.send(Unregister(header=self.header(), version=self.version))

    # ------------------------------------------------------------------ queue
    async def control(self, command) -> Ack:
        return await self.send(SystemControl(header=self.header(), version=self.version, command=command))

    async def pull(self) -> Pulled:
        message = SystemControl(header=self.header(), version=self.version, command=GetMessage())
        ack = await self.exchange(build(message), message.msg_id)
        code = ack.status.code
        if code == StatusCode.SUCCESS:
            if ack.message is None:
                raise ProtocolError(f"zone {self.zone.id} answered GetMessage with 0 but no message")
            return Pulled(code, ack.message)
        if code in (StatusCode.NO_MESSAGES, StatusCode.RECEIVER_SLEEPING):
            return Pulled(code)
        raise ProtocolError(f"zone {self.zone.id} answered GetMessage with status {code}")

    def ack_message(self, delivered: Message, *, error: SIFError | None = None, code: int = 1) -> Ack:
        return Ack(header=self.header(), version=self.version, original_source_id=delivered.source_id,
                   original_msg_id=delivered.msg_id, status=None if error else Status(code=code),
                   error=error.to_error() if error else None)

    async def ack(self, delivered: Message, *, error: SIFError | None = None, code: int = 1) -> Ack:
        """Acknowledge a pulled message: status 1, or an error ack with the error's category/code."""
        return await self.send(self.ack_message(delivered, error=error, code=code))

    async def ping(self) -> Ack:
        return await self.control(Ping())

    async def sleep(self) -> Ack:
        return await self.control(Sleep())

    async def wakeup(self) -> Ack:
        return await self.control(Wakeup())
