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

        try:
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
                    outcome = Outcome(self._reply(zone, message, StatusCode.ALREADY_HAVE_MESSAGE,
                                                "Already have a message with this SIF_MsgId from you"))
                else:
                    outcome = await self._handlers[type(message)](zone, conn, message, agent, body, now)
                await self._log(conn, zone, message, outcome, findings, len(body), now)
        except SIFError as exc:
            return await self._refuse(zone, exc, message.source_id, message.msg_id, message.version, body,
                                      findings, now, message=message)
        if isinstance(message, (Register, Unregister)):
            self.on_register(zone.id, message.source_id)
        for receiver in outcome.receivers:
            self.on_enqueue(zone.id, receiver)
        return build(outcome.ack)

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
        if m.action not in PUBLISH_RIGHT:
            raise _err(ErrorCategory.EVENT, EventCode.INVALID_EVENT, f"Event action {m.action!r} is not Add, Change or Delete")
        right, code = PUBLISH_RIGHT[m.action]
        self._need(agent, right, m.object_name, code, f"publish {m.action} events for")
        wrong = [o.name for o in m.objects if o.name != m.object_name]
        if wrong or not m.objects:
            raise _err(ErrorCategory.EVENT, EventCode.INVALID_EVENT,
                       f"SIF_EventObject ObjectName={m.object_name} must hold {m.object_name} objects"
                       + (f", not {', '.join(sorted(set(wrong)))}" if wrong else " (it is empty)"))
        context = _context(m)
        receivers = [s for s in await self.store.subscribers(conn, zone.id, m.object_name, context)
                     if s != agent.source_id]
        for receiver in receivers:
            await self.store.enqueue(conn, zone_id=zone.id, receiver=receiver, msg_id=m.msg_id,
                                     sender=agent.source_id, kind="event", object_name=m.object_name,
                                     body=body, now=now)
        return Outcome(self._reply(zone, m, StatusCode.SUCCESS), receivers)

    # ================================================================ requests
    async def _request(self, zone, conn, m: Request, agent, body, now) -> Outcome:
        object_name = m.object_name
        self._need(agent, "request", object_name, AccessCode.NO_REQUEST, "request")
        context = _context(m)
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
        if isinstance(m.query, ExtendedQuery) and not extended_ok:
            raise _err(ErrorCategory.REQUEST_RESPONSE, RequestResponseCode.NO_EXTENDED_QUERY,
                       f"The provider of {object_name} does not support SIF_ExtendedQuery")
        if not any(versions.admitted(m.versions, v) for v in (responder.version,) + responder.versions
                   if versions.is_version(v)):
            raise _err(ErrorCategory.REQUEST_RESPONSE, RequestResponseCode.VERSION_NOT_SUPPORTED,
                       f"Responder {responder.source_id} speaks SIF {responder.version}, which none of "
                       f"the requested versions ({', '.join(m.versions)}) admits")
        await self.store.enqueue(conn, zone_id=zone.id, receiver=responder.source_id, msg_id=m.msg_id,
                                 sender=agent.source_id, kind="request", object_name=object_name, body=body, now=now)
        await self.store.add_request(conn, zone_id=zone.id, msg_id=m.msg_id, requester=agent.source_id,
                                     responder=responder.source_id, object_name=object_name,
                                     versions=json.dumps(list(m.versions)), max_buffer_size=m.max_buffer_size,
                                     deadline=now + zone.request_timeout, next_packet=1, state="pending")
        return Outcome(self._reply(zone, m, StatusCode.SUCCESS), [responder.source_id])

    async def _response(self, zone, conn, m: Response, agent, body, now) -> Outcome:
        req = await self.store.request(conn, zone.id, m.request_msg_id)
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
        await self.store.enqueue(conn, zone_id=zone.id, receiver=req["requester"], msg_id=m.msg_id,
                                 sender=agent.source_id, kind="response", object_name=req["object_name"],
                                 body=body, now=now)
        await self.store.set_request(conn, zone.id, m.request_msg_id, next_packet=m.packet_number + 1,
                                     state="pending" if m.more_packets else "done")
        return Outcome(self._reply(zone, m, StatusCode.SUCCESS), [req["requester"]])

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
        version = agent.version if row["kind"] != "response" else None
        payload = with_version(row["body"], version) if version else XmlObject.from_bytes(row["body"])
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
