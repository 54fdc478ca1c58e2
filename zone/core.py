"""The Zone Integration Server's decisions: one handler per SIF message type.

``Zis.handle(zone_id, body, identity)`` takes the bytes of one HTTP POST and
returns the bytes of the synchronous SIF_Ack. Every accepted message changes the
database in one transaction; a refused message changes nothing (its transaction
is rolled back) and is answered with the SIF_Error that says what to fix.
The HTTP front end (zone/http.py) only moves bytes.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from lxml import etree

from messages import (
    Ack, AgentACL, CancelRequests, Event, ExtendedQuery, GetAgentACL, GetMessage, GetZoneStatus,
    Header, Message, ObjectHolder, ObjectRef, Ping, Protocol, Provide, Provision, Register, Request,
    Response, SIFError, SIFNode, Sleep, Status, StatusCode, Subscribe, SystemControl, Unprovide,
    Unregister, Unsubscribe, Wakeup, XmlObject, ZoneStatus, build, versions,
)
from messages.codec import envelope, read
from messages.codes import (
    AccessCode, AuthenticationCode, ErrorCategory, EventCode, GenericCode, ProvisionCode,
    RegistrationCode, RequestResponseCode, SmbCode, SubscriptionCode, XmlValidationCode,
)
from messages.errors import Error
from messages.validate import validate
from messages.xmlobject import NS
from messages.xmlsafe import parse_xml

from .acl import Rights
from .config import ServerSettings, ZoneSettings
from .pgfast import Applied, op_args
from .store import AgentRow, Store

log = logging.getLogger(__name__)

DEFAULT_CONTEXT = "SIF_Default"
SLF_OBJECTS = ("SchoolInfo", "StudentLocator", "StudentPersonal", "StudentSchoolEnrollment")
PUBLISH_RIGHT = {"Add": ("publish_add", AccessCode.NO_PUBLISH_ADD),
                 "Change": ("publish_change", AccessCode.NO_PUBLISH_CHANGE),
                 "Delete": ("publish_delete", AccessCode.NO_PUBLISH_DELETE)}


@dataclass(frozen=True)
class Identity:
    """Who the transport says is talking: the certificate CN or Basic user, if any."""

    principal: str | None = None
    method: str = "none"  # certificate | basic | none


@dataclass
class Outcome:
    """What handling a message produced: the ack and a log line for the inspector."""

    ack: Ack
    receivers: list[str] = field(default_factory=list)


class _AlreadySeen(Exception):
    """The fast path found the SIF_MsgId already seen: answer status 7."""


def _err(category: int, code: int, desc: str, extended: str | None = None) -> SIFError:
    return SIFError(category, code, desc, extended)


def _context(message: Message) -> str:
    contexts = message.header.contexts
    if len(contexts) > 1:
        raise _err(ErrorCategory.GENERIC, GenericCode.MULTIPLE_CONTEXTS_NOT_SUPPORTED,
                   "Multiple SIF_Context values are not supported; send one context per message")
    return contexts[0] if contexts else DEFAULT_CONTEXT


def _ref_contexts(ref: ObjectRef) -> tuple[str, ...]:
    return ref.contexts or (DEFAULT_CONTEXT,)


def with_version(body: bytes, version: str) -> XmlObject:
    """A stored SIF_Message re-stamped with the receiver's SIF version, ready to embed."""
    root = parse_xml(body, max_bytes=len(body) + 1)
    root.set("Version", version)
    return XmlObject(root, copy_element=False)


def _loose_header(root: etree._Element | None) -> tuple[str | None, str | None, str | None]:
    """(source id, msg id, version) from a tree we refused, for the error ack's Original* fields."""
    if root is None:
        return None, None, None
    version = root.get("Version")
    src = root.find(f".//{{{NS}}}SIF_Header/{{{NS}}}SIF_SourceId")
    mid = root.find(f".//{{{NS}}}SIF_Header/{{{NS}}}SIF_MsgId")

    def text(el):
        return (el.text or "").strip() or None if el is not None else None

    return text(src), text(mid), version


class Zis:
    """All zones of one server process, over one Store."""

    def __init__(self, settings: ServerSettings, store: Store, *,
                 clock: Callable[[], float] = time.time,
                 on_enqueue: Callable[[str, str], None] | None = None,
                 on_register: Callable[[str, str], None] | None = None) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.on_enqueue = on_enqueue or (lambda zone_id, receiver: None)
        #: an agent registered or unregistered (its delivery mode may have changed)
        self.on_register = on_register or (lambda zone_id, source_id: None)
        self._handlers: dict[type, Callable[..., Awaitable[Outcome]]] = {
            Register: self._register,
            Unregister: self._unregister,
            Provide: self._provide,
            Unprovide: self._unprovide,
            Subscribe: self._subscribe,
            Unsubscribe: self._unsubscribe,
            Provision: self._provision,
            Event: self._event,
            Request: self._request,
            Response: self._response,
            Ack: self._handle_ack,
            SystemControl: self._system_control,
        }
        self._controls: dict[type, Callable[..., Awaitable[Outcome]]] = {
            Ping: self._ping,
            Sleep: self._sleep,
            Wakeup: self._wakeup,
            GetMessage: self._get_message,
            GetZoneStatus: self._get_zone_status,
            GetAgentACL: self._get_agent_acl,
            CancelRequests: self._cancel_requests,
        }

    # ================================================================ entry point
    async def handle(self, zone_id: str, body: bytes, identity: Identity = Identity()) -> bytes:
        zone = self.settings.zone(zone_id)
        if zone is None:
            raise KeyError(zone_id)
        now = self.clock()
        root = None
        findings: list[dict] = []
        try:
            root = parse_xml(body, max_bytes=self.settings.max_message_bytes)
            version, _ = envelope(root)
            findings = self._findings(zone, root, version)
            enforced = [f for f in findings if f["enforced"]]
            if enforced:
                first = enforced[0]
                raise SIFError(first["category"], first["code"], first["message"],
                               line=first["line"], element=first["element"])
            message = read(root)
            if version not in zone.versions:
                raise _err(ErrorCategory.GENERIC, GenericCode.VERSION_NOT_SUPPORTED,
                           f"Zone {zone.id} does not accept SIF {version}; it accepts {', '.join(zone.versions)}")
            self._authenticate(zone, message, identity)
        except SIFError as exc:
            source, msg_id, version = _loose_header(root)
            return await self._refuse(zone, exc, source, msg_id, version, body, findings, now)

        outcome = await self._fast(zone, message, body, now) if self.store.fast is not None else None
        if outcome is not None:
            await self._log(None, zone, message, outcome, findings, len(body), now)
        else:
            try:
                outcome = await self._general(zone, message, body, findings, now)
            except SIFError as exc:
                return await self._refuse(zone, exc, message.source_id, message.msg_id, message.version, body,
                                          findings, now, message=message)
        if isinstance(message, (Register, Unregister)):
            self.on_register(zone.id, message.source_id)
        for receiver in outcome.receivers:
            self.on_enqueue(zone.id, receiver)
        return build(outcome.ack)

    async def _general(self, zone, message: Message, body: bytes, findings, now) -> Outcome:
        """Any message, in one transaction: the sender's row lock, its SIF_MsgId, the handler."""
        async with self.store.tx() as conn:
            if not isinstance(message, Register):
                agent = await self.store.agent(conn, zone.id, message.source_id, lock=True)
                if agent is None:
                    raise _err(ErrorCategory.ACCESS, AccessCode.SOURCE_NOT_REGISTERED,
                               f"Agent {message.source_id} is not registered in zone {zone.id}; "
                               "send SIF_Register first")
            else:
                agent = None
            if not await self.store.first_sight(conn, zone.id, message.source_id, message.msg_id, now):
                outcome = Outcome(self._already_have(zone, message))
            else:
                outcome = await self._handlers[type(message)](zone, conn, message, agent, body, now)
            await self._log(conn, zone, message, outcome, findings, len(body), now)
        return outcome

    # ================================================================ fast path (PostgreSQL)
    async def _fast(self, zone, message: Message, body: bytes, now: float) -> Outcome | None:
        """The common messages decided here on remembered rows and applied by one group-committed
        statement (zone.pgfast), which first checks that those rows are unchanged. None: go the
        general way (an error to report, SMB, a sleeping or unknown agent, a row changed meanwhile),
        which decides again from scratch, so the rules live in the handlers alone."""
        kind = type(message)
        try:
            if kind is SystemControl and type(message.command) is GetMessage:
                return await self._fast_get(zone, message, now)
            if kind is Ack:
                return await self._fast_ack(zone, message, now)
            if kind is Request:
                return await self._fast_request(zone, message, body, now)
            if kind is Response:
                return await self._fast_response(zone, message, body, now)
            if kind is Event:
                return await self._fast_event(zone, message, body, now)
        except _AlreadySeen:
            return Outcome(self._already_have(zone, message))
        except SIFError:
            return None  # reported the general way, after its SIF_MsgId check as always
        return None

    async def _apply(self, zone, m: Message, now: float, op: str, version: int, **kw) -> Applied | None:
        """Run one op (zone.pgfast); None if it was not applied and the message must go the general
        way. Raises _AlreadySeen for a SIF_MsgId already seen (nothing was applied)."""
        done = await self.store.fast.apply(op_args(op, zone.id, m.source_id, m.msg_id, now, version, **kw))
        if done is not None and done.outcome == "dup":
            raise _AlreadySeen
        return done if done is not None and done.outcome == "ok" else None

    async def _sender(self, zone, m: Message) -> tuple[int, AgentRow] | None:
        (entry,) = await self.store.fast.agents(zone.id, m.source_id)
        return entry

    async def _fast_get(self, zone, m: SystemControl, now) -> Outcome | None:
        entry = await self._sender(zone, m)
        if entry is None or entry[1].mode == "Push" or entry[1].sleeping:
            return None
        version, agent = entry
        done = await self._apply(zone, m, now, "get", version, a3="skip" if agent.smb_msg_id is not None else None)
        if done is None:
            return None
        if done.queue_id is None:
            return Outcome(self._reply(zone, m, StatusCode.NO_MESSAGES, "No messages available"))
        return self._delivery(zone, m, agent, done.kind, done.body)

    async def _fast_ack(self, zone, m: Ack, now) -> Outcome | None:
        immediate = m.error is not None or (m.status is not None and m.status.code == StatusCode.IMMEDIATE)
        if not immediate or not m.original_msg_id:
            return None  # SMB's intermediate and final acks go the general way
        entry = await self._sender(zone, m)
        if entry is None or entry[1].smb_msg_id == m.original_msg_id:  # ending SMB: the general way
            return None
        if await self._apply(zone, m, now, "ack", entry[0], a1=m.original_msg_id, a2=m.original_source_id) is None:
            return None
        if m.error is not None:
            log.info("zone %s: %s could not process %s: %s", zone.id, m.source_id, m.original_msg_id, m.error)
        return Outcome(self._reply(zone, m, StatusCode.SUCCESS), [m.source_id])

    async def _fast_event(self, zone, m: Event, body: bytes, now) -> Outcome | None:
        entry = await self._sender(zone, m)
        if entry is None:
            return None
        context = self._check_event(m, entry[1])
        done = await self._apply(zone, m, now, "event", entry[0], a2=m.object_name, a3=context, body=body)
        return None if done is None else Outcome(self._reply(zone, m, StatusCode.SUCCESS), list(done.receivers))

    async def _fast_request(self, zone, m: Request, body: bytes, now) -> Outcome | None:
        fast = self.store.fast
        destination = m.header.destination_id
        entries = await fast.agents(zone.id, m.source_id, *((destination,) if destination else ()))
        if entries[0] is None:
            return None
        version, agent = entries[0]
        context = self._request_context(agent, m)
        provider = None
        if destination:
            responder = entries[1]
        else:
            provider = await fast.provider(zone.id, m.object_name, context)
            if provider is None:
                return None
            (responder,) = await fast.agents(zone.id, provider.source_id)
        if responder is None:
            return None
        self._check_responder(zone, m, responder[1], provider is None or provider.extended_query)
        row = {"zone_id": zone.id, "msg_id": m.msg_id, "requester": m.source_id, "responder": responder[1].source_id,
               "object_name": m.object_name, "versions": json.dumps(list(m.versions)),
               "max_buffer_size": m.max_buffer_size, "deadline": now + zone.request_timeout, "next_packet": 1,
               "state": "pending"}
        done = await self._apply(
            zone, m, now, "request", version, a1=row["responder"], v1=responder[0], a2=m.object_name,
            a3=None if provider is None else context, v2=None if provider is None else provider.version,
            body=body, versions=row["versions"], max_buffer=m.max_buffer_size, deadline=row["deadline"])
        if done is None:
            return None
        fast.routed(zone.id, m.msg_id, done.version, row)
        return Outcome(self._reply(zone, m, StatusCode.SUCCESS), [row["responder"]])

    async def _fast_response(self, zone, m: Response, body: bytes, now) -> Outcome | None:
        fast = self.store.fast
        entry = await self._sender(zone, m)
        found = await fast.request(zone.id, m.request_msg_id) if entry is not None else None
        if found is None:
            return None
        req_version, req = found
        self._check_response(zone, m, entry[1], req, body)
        update = {"next_packet": m.packet_number + 1, "state": "pending" if m.more_packets else "done"}
        done = await self._apply(zone, m, now, "response", entry[0], a1=m.request_msg_id, v1=req_version,
                                 a2=req["requester"], a3=req["object_name"], body=body, **update)
        if done is None:
            return None
        fast.routed(zone.id, m.request_msg_id, done.version, {**req, **update})
        return Outcome(self._reply(zone, m, StatusCode.SUCCESS), [req["requester"]])

    # ================================================================ checks
    def _findings(self, zone: ZoneSettings, root, version: str) -> list[dict]:
        """Schema findings: enforced per the zone's mode; strict ones also recorded for the inspector."""
        mode = zone.validation
        if mode == "strict":
            return [self._finding(f, True) for f in validate(root, version=version)]
        enforced = validate(root, version=version, lenient=True) if mode == "lenient" else []
        out = [self._finding(f, True) for f in enforced]
        if zone.record_findings:
            seen = {(f.category, f.code, f.line, f.element) for f in enforced}
            out += [self._finding(f, False) for f in validate(root, version=version)
                    if (f.category, f.code, f.line, f.element) not in seen]
        return out

    @staticmethod
    def _finding(f, enforced: bool) -> dict:
        return {"category": f.category, "code": f.code, "message": f.message, "line": f.line,
                "element": f.element, "enforced": enforced}

    @staticmethod
    def _authenticate(zone: ZoneSettings, message: Message, identity: Identity) -> None:
        if zone.authentication == "none":
            return
        if identity.principal is None:
            raise _err(ErrorCategory.AUTHENTICATION, AuthenticationCode.GENERIC,
                       f"Zone {zone.id} requires {zone.authentication} authentication; none was presented")
        if identity.principal != message.source_id:
            raise _err(ErrorCategory.AUTHENTICATION, AuthenticationCode.GENERIC,
                       f"Credentials identify agent {identity.principal}, but the message claims "
                       f"SIF_SourceId {message.source_id}; an agent may only send as itself")

    # ================================================================ replies
    def _already_have(self, zone: ZoneSettings, message: Message) -> Ack:
        return self._reply(zone, message, StatusCode.ALREADY_HAVE_MESSAGE,
                           "Already have a message with this SIF_MsgId from you")

    def _reply(self, zone: ZoneSettings, message: Message, code: int, desc: str | None = None, data=None) -> Ack:
        """The zone's SIF_Ack with a status for a message it accepted."""
        return Ack(header=Header.new(zone.source_id, message.source_id), version=message.version,
                   original_source_id=message.source_id, original_msg_id=message.msg_id,
                   status=Status(code=code, desc=desc, data=data))

    async def _refuse(self, zone, exc: SIFError, source, msg_id, version, body, findings, now, message=None) -> bytes:
        if version not in versions.SUPPORTED:
            version = versions.DEFAULT
        err = exc.to_error()
        ack = Ack(header=Header.new(zone.source_id, source), version=version,
                  original_source_id=source, original_msg_id=msg_id if msg_id and len(msg_id) == 32 else None,
                  error=err)
        if not findings:
            findings = [{"category": exc.category, "code": exc.code, "message": exc.desc, "line": exc.line,
                         "element": exc.element, "enforced": True}]
        try:
            await self.store.log_alone(zone_id=zone.id, at=now, sender=source or "?", receiver=zone.source_id,
                                       kind=message.kind if message else "(unreadable)",
                                       object_name=_object_of(message) if message else "",
                                       msg_id=msg_id or "", ack=f"{exc.category}/{exc.code} {exc.desc}"[:64],
                                       findings=json.dumps(findings), size=len(body))
        except Exception:  # the log must never stop the answer
            log.exception("could not log a refused message")
        log.info("zone %s refused %s from %s: %s", zone.id, msg_id, source, exc)
        return build(ack)

    async def _log(self, conn, zone, message: Message, outcome: Outcome, findings, size, now) -> None:
        ack = outcome.ack
        text = str(ack.status.code) if ack.status else f"{ack.error.category}/{ack.error.code}"
        await self.store.log(conn, zone_id=zone.id, at=now, sender=message.source_id,
                             receiver=",".join(outcome.receivers)[:64] or zone.source_id,
                             kind=message.kind[:64], object_name=_object_of(message), msg_id=message.msg_id,
                             ack=text, findings=json.dumps(findings), size=size)

    # ================================================================ registration
    async def _register(self, zone, conn, m: Register, agent, body, now) -> Outcome:
        configured = zone.agent(m.source_id)
        if configured is None and not zone.open_registration:
            raise _err(ErrorCategory.ACCESS, AccessCode.NO_REGISTER,
                       f"Agent {m.source_id} may not register in zone {zone.id}; ask the zone "
                       "administrator to add it to the zone's access list")
        rights = Rights.everything() if zone.open_registration and configured is None else configured.rights
        version = versions.negotiate(m.versions, zone.versions)
        if version is None:
            raise _err(ErrorCategory.REGISTRATION, RegistrationCode.VERSION_UNSUPPORTED,
                       f"None of the requested SIF versions ({', '.join(m.versions)}) is supported; "
                       f"zone {zone.id} speaks {', '.join(zone.versions)}")
        if m.max_buffer_size < zone.min_buffer_size:
            raise _err(ErrorCategory.REGISTRATION, RegistrationCode.BUFFER_TOO_SMALL,
                       f"SIF_MaxBufferSize {m.max_buffer_size} is too small; the zone needs at least "
                       f"{zone.min_buffer_size} bytes")
        push_url = None
        if m.mode == "Push":
            p = m.protocol
            if p is None or not p.url:
                raise _err(ErrorCategory.REGISTRATION, RegistrationCode.GENERIC,
                           "Push mode needs SIF_Protocol with the SIF_URL the zone should POST to")
            if p.type not in ("HTTPS", "HTTP"):
                raise _err(ErrorCategory.REGISTRATION, RegistrationCode.PROTOCOL_UNSUPPORTED,
                           f"Transport protocol {p.type} is not supported; use HTTPS")
            if self.settings.tls and not p.url.lower().startswith("https://"):
                raise _err(ErrorCategory.REGISTRATION, RegistrationCode.SECURE_TRANSPORT_REQUIRED,
                           "This zone requires a secure transport; register an https:// SIF_URL")
            push_url = p.url
        elif m.mode != "Pull":
            raise _err(ErrorCategory.XML_VALIDATION, XmlValidationCode.INVALID_VALUE,
                       f"SIF_Mode must be Push or Pull, not {m.mode!r}")
        await self.store.upsert_agent(conn, {
            "zone_id": zone.id, "source_id": m.source_id, "name": m.name, "mode": m.mode,
            "versions": json.dumps(list(m.versions)), "version": version, "max_buffer_size": m.max_buffer_size,
            "push_url": push_url, "sleeping": False, "rights": json.dumps(rights.to_json()),
            "registered_at": now,
        })
        acl = await self._acl(conn, zone, rights)
        return Outcome(self._reply(zone, m, StatusCode.SUCCESS, None, acl))

    async def _acl(self, conn, zone, rights: Rights) -> AgentACL:
        known = set(SLF_OBJECTS)
        for a in await self.store.agents_in(conn, zone.id):
            for p in await self.store.provided_by(conn, zone.id, a.source_id):
                known.add(p["object_name"])
        return rights.to_agent_acl(tuple(sorted(known)))

    async def _unregister(self, zone, conn, m: Unregister, agent, body, now) -> Outcome:
        await self.store.remove_agent(conn, zone.id, m.source_id)
        return Outcome(self._reply(zone, m, StatusCode.SUCCESS))

    # ================================================================ provision
    @staticmethod
    def _rights(agent: AgentRow) -> Rights:
        return Rights.from_json(agent.rights)

    def _need(self, agent: AgentRow, right: str, object_name: str, code: int, verb: str) -> None:
        if not self._rights(agent).allows(right, object_name):
            raise _err(ErrorCategory.ACCESS, code,
                       f"Agent {agent.source_id} has no permission to {verb} {object_name} in zone "
                       f"{agent.zone_id}; ask the zone administrator to grant it")

    async def _check_provides(self, zone, conn, agent: AgentRow, refs) -> None:
        for ref in refs:
            self._need(agent, "provide", ref.object_name, AccessCode.NO_PROVIDE, "provide")
            for ctx in _ref_contexts(ref):
                current = await self.store.provider(conn, zone.id, ref.object_name, ctx)
                if current is not None and current["source_id"] != agent.source_id:
                    raise _err(ErrorCategory.PROVISION, ProvisionCode.ALREADY_PROVIDED,
                               f"{ref.object_name} already has a provider in context {ctx}: "
                               f"{current['source_id']}")

    async def _add_provides(self, zone, conn, agent: AgentRow, refs) -> None:
        for ref in refs:
            for ctx in _ref_contexts(ref):
                # False: another agent provides it (its SIF_Provide, on another worker, got in
                # after _check_provides looked); the insert decides, not an earlier read
                if not await self.store.add_provide(conn, zone.id, ref.object_name, ctx, agent.source_id,
                                                    bool(ref.extended_query_support)):
                    raise _err(ErrorCategory.PROVISION, ProvisionCode.ALREADY_PROVIDED,
                               f"{ref.object_name} already has a provider in context {ctx}")

    async def _provide(self, zone, conn, m: Provide, agent, body, now) -> Outcome:
        await self._check_provides(zone, conn, agent, m.objects)
        await self._add_provides(zone, conn, agent, m.objects)
        return Outcome(self._reply(zone, m, StatusCode.SUCCESS))

    async def _withdraw(self, zone, conn, m, agent, remove, category: int, code: int, role: str) -> Outcome:
        """Unprovide/Unsubscribe: remove each (object, context) or refuse the whole message."""
        for ref in m.objects:
            for ctx in _ref_contexts(ref):
                if not await remove(conn, zone.id, ref.object_name, ctx, agent.source_id):
                    raise _err(category, code, f"Agent {agent.source_id} is not {role} {ref.object_name} ({ctx})")
        return Outcome(self._reply(zone, m, StatusCode.SUCCESS))

    async def _unprovide(self, zone, conn, m: Unprovide, agent, body, now) -> Outcome:
        return await self._withdraw(zone, conn, m, agent, self.store.remove_provide, ErrorCategory.PROVISION,
                                    ProvisionCode.NOT_PROVIDER, "the provider of")

    async def _subscribe(self, zone, conn, m: Subscribe, agent, body, now) -> Outcome:
        for ref in m.objects:
            self._need(agent, "subscribe", ref.object_name, AccessCode.NO_SUBSCRIBE, "subscribe to")
        for ref in m.objects:
            for ctx in _ref_contexts(ref):
                await self.store.subscribe(conn, zone.id, ref.object_name, ctx, agent.source_id)
        return Outcome(self._reply(zone, m, StatusCode.SUCCESS))

    async def _unsubscribe(self, zone, conn, m: Unsubscribe, agent, body, now) -> Outcome:
        return await self._withdraw(zone, conn, m, agent, self.store.unsubscribe, ErrorCategory.SUBSCRIPTION,
                                    SubscriptionCode.NOT_SUBSCRIBER, "subscribed to")

    async def _provision(self, zone, conn, m: Provision, agent, body, now) -> Outcome:
        checks = (
            ("subscribe_objects", "subscribe", AccessCode.NO_SUBSCRIBE, "subscribe to"),
            ("publish_add_objects", "publish_add", AccessCode.NO_PUBLISH_ADD, "publish Add events for"),
            ("publish_change_objects", "publish_change", AccessCode.NO_PUBLISH_CHANGE, "publish Change events for"),
            ("publish_delete_objects", "publish_delete", AccessCode.NO_PUBLISH_DELETE, "publish Delete events for"),
            ("request_objects", "request", AccessCode.NO_REQUEST, "request"),
            ("respond_objects", "respond", AccessCode.NO_RESPOND, "respond to requests for"),
        )
        for attr, right, code, verb in checks:
            for ref in getattr(m, attr):
                self._need(agent, right, ref.object_name, code, verb)
        await self._check_provides(zone, conn, agent, m.provide_objects)
        await self.store.clear_provision(conn, zone.id, agent.source_id)
        await self._add_provides(zone, conn, agent, m.provide_objects)
        for ref in m.subscribe_objects:
            for ctx in _ref_contexts(ref):
                await self.store.subscribe(conn, zone.id, ref.object_name, ctx, agent.source_id)
        acl = await self._acl(conn, zone, self._rights(agent))
        return Outcome(self._reply(zone, m, StatusCode.SUCCESS, None, acl))

    # ================================================================ events
    async def _event(self, zone, conn, m: Event, agent, body, now) -> Outcome:
        context = self._check_event(m, agent)
        receivers = [s for s in await self.store.subscribers(conn, zone.id, m.object_name, context)
                     if s != agent.source_id]
        for receiver in receivers:
            await self.store.enqueue(conn, zone_id=zone.id, receiver=receiver, msg_id=m.msg_id,
                                     sender=agent.source_id, kind="event", object_name=m.object_name,
                                     body=body, now=now)
        return Outcome(self._reply(zone, m, StatusCode.SUCCESS), receivers)

    def _check_event(self, m: Event, agent: AgentRow) -> str:
        """May ``agent`` publish this event? The context it goes to (every subscriber there but the
        publisher gets it)."""
        if m.action not in PUBLISH_RIGHT:
            raise _err(ErrorCategory.EVENT, EventCode.INVALID_EVENT, f"Event action {m.action!r} is not Add, Change or Delete")
        right, code = PUBLISH_RIGHT[m.action]
        self._need(agent, right, m.object_name, code, f"publish {m.action} events for")
        wrong = [o.name for o in m.objects if o.name != m.object_name]
        if wrong or not m.objects:
            raise _err(ErrorCategory.EVENT, EventCode.INVALID_EVENT,
                       f"SIF_EventObject ObjectName={m.object_name} must hold {m.object_name} objects"
                       + (f", not {', '.join(sorted(set(wrong)))}" if wrong else " (it is empty)"))
        return _context(m)

    # ================================================================ requests
    def _request_context(self, agent: AgentRow, m: Request) -> str:
        """The checks on the requester itself; the context its request is routed in."""
        self._need(agent, "request", m.object_name, AccessCode.NO_REQUEST, "request")
        return _context(m)

    def _check_responder(self, zone, m: Request, responder: AgentRow, extended_ok: bool) -> None:
        if isinstance(m.query, ExtendedQuery) and not extended_ok:
            raise _err(ErrorCategory.REQUEST_RESPONSE, RequestResponseCode.NO_EXTENDED_QUERY,
                       f"The provider of {m.object_name} does not support SIF_ExtendedQuery")
        if not any(versions.admitted(m.versions, v) for v in (responder.version,) + responder.versions
                   if versions.is_version(v)):
            raise _err(ErrorCategory.REQUEST_RESPONSE, RequestResponseCode.VERSION_NOT_SUPPORTED,
                       f"Responder {responder.source_id} speaks SIF {responder.version}, which none of "
                       f"the requested versions ({', '.join(m.versions)}) admits")

    async def _request(self, zone, conn, m: Request, agent, body, now) -> Outcome:
        object_name = m.object_name
        context = self._request_context(agent, m)
        destination = m.header.destination_id
        if destination:
            responder = await self.store.agent(conn, zone.id, destination)
            if responder is None:
                raise _err(ErrorCategory.REQUEST_RESPONSE, RequestResponseCode.NO_PROVIDER,
                           f"SIF_DestinationId {destination} is not registered in zone {zone.id}")
            extended_ok = True
        else:
            provider = await self.store.provider(conn, zone.id, object_name, context)
            if provider is None:
                raise _err(ErrorCategory.REQUEST_RESPONSE, RequestResponseCode.NO_PROVIDER,
                           f"No agent provides {object_name} in zone {zone.id} ({context})")
            responder = await self.store.agent(conn, zone.id, provider["source_id"])
            extended_ok = bool(provider["extended_query"])
        self._check_responder(zone, m, responder, extended_ok)
        await self.store.enqueue(conn, zone_id=zone.id, receiver=responder.source_id, msg_id=m.msg_id,
                                 sender=agent.source_id, kind="request", object_name=object_name, body=body, now=now)
        await self.store.add_request(conn, zone_id=zone.id, msg_id=m.msg_id, requester=agent.source_id,
                                     responder=responder.source_id, object_name=object_name,
                                     versions=json.dumps(list(m.versions)), max_buffer_size=m.max_buffer_size,
                                     deadline=now + zone.request_timeout, next_packet=1, state="pending")
        return Outcome(self._reply(zone, m, StatusCode.SUCCESS), [responder.source_id])

    async def _response(self, zone, conn, m: Response, agent, body, now) -> Outcome:
        req = await self.store.request(conn, zone.id, m.request_msg_id)
        self._check_response(zone, m, agent, req, body)
        await self.store.enqueue(conn, zone_id=zone.id, receiver=req["requester"], msg_id=m.msg_id,
                                 sender=agent.source_id, kind="response", object_name=req["object_name"],
                                 body=body, now=now)
        await self.store.set_request(conn, zone.id, m.request_msg_id, next_packet=m.packet_number + 1,
                                     state="pending" if m.more_packets else "done")
        return Outcome(self._reply(zone, m, StatusCode.SUCCESS), [req["requester"]])

    def _check_response(self, zone, m: Response, agent: AgentRow, req, body: bytes) -> None:
        """May this packet answer the request ``req`` (a row, or None if there is no such request)?"""
        if req is None or req["responder"] != agent.source_id:
            raise _err(ErrorCategory.REQUEST_RESPONSE, RequestResponseCode.INVALID_REQUEST_MSG_ID,
                       f"SIF_RequestMsgId {m.request_msg_id} names no request routed to {agent.source_id} "
                       "in this zone")
        if req["state"] == "cancelled":
            raise _err(ErrorCategory.REQUEST_RESPONSE, RequestResponseCode.CANCELLED_BY_REQUESTER,
                       f"Request {m.request_msg_id} was cancelled by {req['requester']}; discard it")
        if req["state"] == "expired":
            raise _err(ErrorCategory.REQUEST_RESPONSE, RequestResponseCode.REQUEST_TIMED_OUT,
                       f"Request {m.request_msg_id} timed out and was removed; the requester has been told")
        if req["state"] == "done":
            raise _err(ErrorCategory.REQUEST_RESPONSE, RequestResponseCode.INVALID_PACKET_NUMBER,
                       f"Request {m.request_msg_id} is already complete (its last packet said "
                       "SIF_MorePackets=No)")
        self._need(agent, "respond", req["object_name"], AccessCode.NO_RESPOND, "respond to requests for")
        if m.header.destination_id and m.header.destination_id != req["requester"]:
            raise _err(ErrorCategory.REQUEST_RESPONSE, RequestResponseCode.DESTINATION_MISMATCH,
                       f"SIF_DestinationId must be {req['requester']} (the requester), not {m.header.destination_id}")
        offered = json.loads(req["versions"])
        if not versions.admitted(offered, m.version):
            raise _err(ErrorCategory.REQUEST_RESPONSE, RequestResponseCode.VERSION_MISMATCH,
                       f"Response is SIF {m.version}; the request accepts only {', '.join(offered)}")
        if m.packet_number != req["next_packet"]:
            raise _err(ErrorCategory.REQUEST_RESPONSE, RequestResponseCode.INVALID_PACKET_NUMBER,
                       f"SIF_PacketNumber {m.packet_number} is out of order; expected {req['next_packet']}")
        if len(body) > req["max_buffer_size"]:
            raise _err(ErrorCategory.REQUEST_RESPONSE, RequestResponseCode.RESPONSE_TOO_LARGE,
                       f"Packet is {len(body)} bytes; the requester accepts at most {req['max_buffer_size']} "
                       "(split it into more packets)")

    # ================================================================ acks
    async def acknowledge(self, zone, conn, m: Ack, agent: AgentRow) -> None:
        """Apply an agent's SIF_Ack for a delivered message (pull: a POST; push: the HTTP answer)."""
        row = await self.store.queued(conn, zone.id, agent.source_id, m.original_msg_id or "",
                                         m.original_source_id)
        if row is None or row["deliveries"] == 0:
            raise _err(ErrorCategory.GENERIC, GenericCode.NO_SUCH_MESSAGE,
                       f"No delivered message {m.original_msg_id} is waiting for your acknowledgement")
        if m.error is not None:
            log.info("zone %s: %s could not process %s: %s", zone.id, agent.source_id, row["msg_id"], m.error)
            await self.store.dequeue(conn, row["id"])
            if agent.smb_msg_id == row["msg_id"]:
                await self.store.set_agent(conn, zone.id, agent.source_id, smb_msg_id=None)
            return
        code = m.status.code
        if code == StatusCode.IMMEDIATE:
            await self.store.dequeue(conn, row["id"])
            if agent.smb_msg_id == row["msg_id"]:
                await self.store.set_agent(conn, zone.id, agent.source_id, smb_msg_id=None)
        elif code == StatusCode.INTERMEDIATE:
            if row["kind"] != "event":
                raise _err(ErrorCategory.SMB, SmbCode.SMB_ONLY_ON_LIVE_EVENT,
                           "An intermediate SIF_Ack (status 2) is only valid for a delivered SIF_Event")
            await self.store.set_agent(conn, zone.id, agent.source_id, smb_msg_id=row["msg_id"])
        elif code == StatusCode.FINAL:
            if agent.smb_msg_id != row["msg_id"]:
                raise _err(ErrorCategory.SMB, SmbCode.INCORRECT_FINAL_ACK_MSG_ID,
                           f"Final SIF_Ack names {row['msg_id']}, but Selective Message Blocking holds "
                           f"{agent.smb_msg_id or 'no event'}")
            await self.store.dequeue(conn, row["id"])
            await self.store.set_agent(conn, zone.id, agent.source_id, smb_msg_id=None)
        else:
            raise _err(ErrorCategory.XML_VALIDATION, XmlValidationCode.INVALID_VALUE,
                       f"An agent's SIF_Ack may carry status 1, 2 or 3, not {code}")

    async def _handle_ack(self, zone, conn, m: Ack, agent, body, now) -> Outcome:
        if m.status is not None and m.status.code == StatusCode.FINAL:
            # A Final ack is not an answer to a delivery: it may name the held event directly.
            row = await self.store.queued(conn, zone.id, agent.source_id, m.original_msg_id or "",
                                         m.original_source_id)
            if agent.smb_msg_id is None or row is None:
                raise _err(ErrorCategory.SMB, SmbCode.INCORRECT_FINAL_ACK_MSG_ID,
                           f"Final SIF_Ack names {m.original_msg_id}, but no event is held by Selective "
                           "Message Blocking")
        await self.acknowledge(zone, conn, m, agent)
        # Ending SMB (or freeing the queue head) may make the next message deliverable: wake push.
        return Outcome(self._reply(zone, m, StatusCode.SUCCESS), [agent.source_id])

    # ================================================================ system control
    async def _system_control(self, zone, conn, m: SystemControl, agent, body, now) -> Outcome:
        return await self._controls[type(m.command)](zone, conn, m, agent, now)

    async def _ping(self, zone, conn, m, agent, now) -> Outcome:
        return Outcome(self._reply(zone, m, StatusCode.SUCCESS))

    async def _sleep(self, zone, conn, m, agent, now) -> Outcome:
        await self.store.set_agent(conn, zone.id, agent.source_id, sleeping=True)
        return Outcome(self._reply(zone, m, StatusCode.SUCCESS))

    async def _wakeup(self, zone, conn, m, agent, now) -> Outcome:
        await self.store.set_agent(conn, zone.id, agent.source_id, sleeping=False)
        return Outcome(self._reply(zone, m, StatusCode.SUCCESS), [agent.source_id])

    async def _get_message(self, zone, conn, m, agent: AgentRow, now) -> Outcome:
        if agent.mode == "Push":
            raise _err(ErrorCategory.REGISTRATION, RegistrationCode.PUSH_MODE_REGISTERED,
                       f"Agent {agent.source_id} is registered in push mode; the zone delivers to its "
                       "SIF_URL (re-register in pull mode to use SIF_GetMessage)")
        if agent.sleeping:
            return Outcome(self._reply(zone, m, StatusCode.RECEIVER_SLEEPING,
                                       "You are marked sleeping (SIF_Sleep); send SIF_Wakeup to receive messages"))
        row = await self.store.take(conn, zone.id, agent.source_id, skip_events=agent.smb_msg_id is not None)
        if row is None:
            return Outcome(self._reply(zone, m, StatusCode.NO_MESSAGES, "No messages available"))
        return self._delivery(zone, m, agent, row["kind"], row["body"])

    def _delivery(self, zone, m, agent: AgentRow, kind: str, body: bytes) -> Outcome:
        """The GetMessage reply carrying a queued message (re-stamped with the agent's version,
        except a response, which keeps the version the requester asked for)."""
        version = agent.version if kind != "response" else None
        payload = with_version(body, version) if version else XmlObject.from_bytes(body)
        return Outcome(self._reply(zone, m, StatusCode.SUCCESS, None, payload))

    async def _get_zone_status(self, zone, conn, m, agent, now) -> Outcome:
        return Outcome(self._reply(zone, m, StatusCode.SUCCESS, None, await self.zone_status(conn, zone)))

    async def _get_agent_acl(self, zone, conn, m, agent, now) -> Outcome:
        return Outcome(self._reply(zone, m, StatusCode.SUCCESS, None,
                                   await self._acl(conn, zone, self._rights(agent))))

    async def _cancel_requests(self, zone, conn, m: SystemControl, agent, now) -> Outcome:
        cmd: CancelRequests = m.command
        for msg_id in cmd.request_msg_ids:
            req = await self.store.request(conn, zone.id, msg_id)
            if req is None or req["requester"] != agent.source_id or req["state"] != "pending":
                continue
            await self.store.drop_queued_request(conn, zone.id, msg_id, req["responder"], req["requester"])
            await self.store.set_request(conn, zone.id, msg_id,
                                         state="cancelled" if cmd.notification_type == "Standard" else "done")
        return Outcome(self._reply(zone, m, StatusCode.SUCCESS))

    async def zone_status(self, conn, zone: ZoneSettings) -> ZoneStatus:
        agent_rows = await self.store.agents_in(conn, zone.id)
        providers, subscribers = {}, {}
        for a in agent_rows:
            provided = await self.store.provided_by(conn, zone.id, a.source_id)
            if provided:
                providers[a.source_id] = tuple(ObjectRef(object_name=p["object_name"], contexts=(p["context"],),
                                                         extended_query_support=bool(p["extended_query"]))
                                               for p in provided)
            subs = await self.store.subscriptions_of(conn, zone.id, a.source_id)
            if subs:
                subscribers[a.source_id] = tuple(ObjectRef(object_name=s["object_name"], contexts=(s["context"],))
                                                 for s in subs)
        return ZoneStatus(
            zone_id=zone.id, name=zone.name,
            providers=tuple(ObjectHolder(source_id=k, objects=v) for k, v in providers.items()),
            subscribers=tuple(ObjectHolder(source_id=k, objects=v) for k, v in subscribers.items()),
            nodes=tuple(SIFNode(type="Agent", name=a.name, source_id=a.source_id, mode=a.mode,
                                versions=(a.version,), max_buffer_size=a.max_buffer_size, sleeping=a.sleeping,
                                protocol=Protocol(type="HTTPS", url=a.push_url) if a.push_url else None)
                        for a in agent_rows),
            supported_protocols=(Protocol(type="HTTPS" if self.settings.tls else "HTTP",
                                          secure="Yes" if self.settings.tls else "No"),),
            supported_versions=zone.versions,
        )

    # ================================================================ timeouts
    async def expire_requests(self) -> int:
        """Answer every request whose deadline passed with SIF_Response SIF_Error 8/16."""
        now = self.clock()
        count = 0
        async with self.store.tx() as conn:
            for req in await self.store.expired_requests(conn, now):
                zone = self.settings.zone(req["zone_id"])
                if zone is None:
                    continue
                offered = json.loads(req["versions"])
                version = versions.negotiate(offered, zone.versions) or versions.DEFAULT
                response = Response(
                    header=Header.new(zone.source_id, req["requester"]), version=version,
                    request_msg_id=req["msg_id"], packet_number=req["next_packet"], more_packets=False,
                    error=Error(category=ErrorCategory.REQUEST_RESPONSE, code=RequestResponseCode.REQUEST_TIMED_OUT,
                                desc="SIF_Request deleted from cache due to timeout",
                                extended_desc=f"{req['responder']} did not answer within "
                                f"{zone.request_timeout:.0f} seconds"))
                await self.store.drop_queued_request(conn, zone.id, req["msg_id"], req["responder"],
                                                     req["requester"])
                await self.store.enqueue(conn, zone_id=zone.id, receiver=req["requester"],
                                         msg_id=response.msg_id, sender=zone.source_id, kind="response",
                                         object_name=req["object_name"], body=build(response), now=now)
                await self.store.set_request(conn, zone.id, req["msg_id"], state="expired")
                count += 1
                self.on_enqueue(zone.id, req["requester"])
        return count


def _object_of(message: Message | None) -> str:
    if isinstance(message, Event):
        return message.object_name
    if isinstance(message, Request):
        return message.object_name
    if isinstance(message, Response):
        return message.object_name or ""
    return ""
