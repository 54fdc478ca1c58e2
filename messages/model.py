"""One frozen dataclass per SIF 2.x infrastructure message and its parts.

Names follow the specification without the ``SIF_`` prefix; each class carries
its element name in ``TAG``. Payload objects are :class:`XmlObject` (or typed
objects, converted on construction). Nothing here does I/O: see ``codec`` for
bytes in and out.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, ClassVar, Union

from . import versions
from .errors import Error
from .xmlobject import XmlObject

# ---------------------------------------------------------------------------
# Identifiers and time: injectable so golden files and tests are stable.


def new_guid() -> str:
    """A SIF GUID: 32 uppercase hexadecimal digits, no dashes."""
    return uuid.uuid4().hex.upper()


def now_timestamp() -> str:
    """Current time as xs:dateTime with a UTC offset, whole seconds (what peers expect)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def parse_timestamp(text: str | None) -> datetime | None:
    """Read SIF_Timestamp leniently: offsets, 'Z', fractions, or no offset at all.

    Returns None for text no reader could make sense of; a timestamp never makes a
    message invalid on its own and is never used for ordering.
    """
    if not text:
        return None
    t = text.strip()
    if t.endswith("Z"):
        t = t[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(t)
    except ValueError:
        return None


def _tuple(value) -> tuple:
    if value is None:
        return ()
    if isinstance(value, (str, bytes)):
        return (value,)
    return tuple(value)


def _payloads(value) -> tuple[XmlObject, ...]:
    return tuple(XmlObject.of(v) for v in _tuple(value))


def _freeze(obj, name: str, value) -> None:
    object.__setattr__(obj, name, value)


# ---------------------------------------------------------------------------
# Header


@dataclass(frozen=True, kw_only=True)
class SecureChannel:
    """SIF_Security/SIF_SecureChannel: authentication (0–3) and encryption (0–4) levels."""

    authentication_level: int = 0
    encryption_level: int = 0


@dataclass(frozen=True, kw_only=True)
class Header:
    """SIF_Header. ``timestamp`` is kept as the wire text; see :func:`parse_timestamp`."""

    msg_id: str
    timestamp: str
    source_id: str
    destination_id: str | None = None
    security: SecureChannel | None = None
    contexts: tuple[str, ...] = ()

    TAG: ClassVar[str] = "SIF_Header"

    def __post_init__(self) -> None:
        _freeze(self, "contexts", _tuple(self.contexts))

    @classmethod
    def new(
        cls,
        source_id: str,
        destination_id: str | None = None,
        *,
        contexts: tuple[str, ...] = (),
        security: SecureChannel | None = None,
        ids: Callable[[], str] = new_guid,
        clock: Callable[[], str] = now_timestamp,
    ) -> "Header":
        return cls(
            msg_id=ids(),
            timestamp=clock(),
            source_id=source_id,
            destination_id=destination_id,
            security=security,
            contexts=contexts,
        )

    @property
    def time(self) -> datetime | None:
        return parse_timestamp(self.timestamp)


# ---------------------------------------------------------------------------
# Shared parts


@dataclass(frozen=True, kw_only=True)
class ObjectRef:
    """SIF_Object with @ObjectName, as used by provide/subscribe/provision/ACL lists."""

    object_name: str
    contexts: tuple[str, ...] = ()
    extended_query_support: bool | None = None

    TAG: ClassVar[str] = "SIF_Object"

    def __post_init__(self) -> None:
        _freeze(self, "contexts", _tuple(self.contexts))


def object_refs(*names: str | ObjectRef) -> tuple[ObjectRef, ...]:
    """Convenience: object_refs("StudentLocator", "StudentPersonal")."""
    return tuple(n if isinstance(n, ObjectRef) else ObjectRef(object_name=n) for n in names)


def _with_context(refs: tuple[ObjectRef, ...]) -> tuple[ObjectRef, ...]:
    """Where the schema makes SIF_Contexts mandatory, an empty list means SIF_Default."""
    return tuple(r if r.contexts else ObjectRef(object_name=r.object_name, contexts=("SIF_Default",),
                                                extended_query_support=r.extended_query_support)
                 for r in refs)


@dataclass(frozen=True, kw_only=True)
class Protocol:
    """SIF_Protocol: transport type (HTTPS, HTTP, ...), Secure flag, push URL, properties."""

    type: str = "HTTPS"
    secure: str | None = None  # required on the wire; defaults to Yes for HTTPS, else No
    url: str | None = None
    properties: tuple[tuple[str, str], ...] = ()

    TAG: ClassVar[str] = "SIF_Protocol"

    def __post_init__(self) -> None:
        if self.secure is None:
            _freeze(self, "secure", "Yes" if self.type == "HTTPS" else "No")
        _freeze(self, "properties", tuple(tuple(p) for p in self.properties))


@dataclass(frozen=True, kw_only=True)
class Application:
    """SIF_Application: the product behind an agent."""

    vendor: str
    product: str
    version: str

    TAG: ClassVar[str] = "SIF_Application"


# ---------------------------------------------------------------------------
# Messages


@dataclass(frozen=True, kw_only=True)
class Message:
    """Base of every SIF_Message body; ``version`` is SIF_Message/@Version."""

    header: Header
    version: str = versions.DEFAULT

    TAG: ClassVar[str] = ""

    @property
    def msg_id(self) -> str:
        return self.header.msg_id

    @property
    def source_id(self) -> str:
        return self.header.source_id

    @property
    def kind(self) -> str:
        """Human name of the message type, e.g. 'SIF_SystemControl/SIF_GetMessage'."""
        return self.TAG


@dataclass(frozen=True, kw_only=True)
class Register(Message):
    name: str
    versions: tuple[str, ...]
    max_buffer_size: int
    mode: str  # "Push" | "Pull"
    protocol: Protocol | None = None
    node_vendor: str | None = None
    node_version: str | None = None
    application: Application | None = None
    icon: str | None = None

    TAG: ClassVar[str] = "SIF_Register"

    def __post_init__(self) -> None:
        _freeze(self, "versions", _tuple(self.versions))


@dataclass(frozen=True, kw_only=True)
class Unregister(Message):
    TAG: ClassVar[str] = "SIF_Unregister"


@dataclass(frozen=True, kw_only=True)
class _ObjectListMessage(Message):
    objects: tuple[ObjectRef, ...]

    def __post_init__(self) -> None:
        _freeze(self, "objects", object_refs(*_tuple(self.objects)))

    @property
    def object_names(self) -> tuple[str, ...]:
        return tuple(o.object_name for o in self.objects)


@dataclass(frozen=True, kw_only=True)
class Provide(_ObjectListMessage):
    TAG: ClassVar[str] = "SIF_Provide"


@dataclass(frozen=True, kw_only=True)
class Unprovide(_ObjectListMessage):
    TAG: ClassVar[str] = "SIF_Unprovide"


@dataclass(frozen=True, kw_only=True)
class Subscribe(_ObjectListMessage):
    TAG: ClassVar[str] = "SIF_Subscribe"


@dataclass(frozen=True, kw_only=True)
class Unsubscribe(_ObjectListMessage):
    TAG: ClassVar[str] = "SIF_Unsubscribe"


#: SIF_Provision lists and SIF_AgentACL lists, in schema order: (field, element).
PROVISION_LISTS: tuple[tuple[str, str], ...] = (
    ("provide_objects", "SIF_ProvideObjects"),
    ("subscribe_objects", "SIF_SubscribeObjects"),
    ("publish_add_objects", "SIF_PublishAddObjects"),
    ("publish_change_objects", "SIF_PublishChangeObjects"),
    ("publish_delete_objects", "SIF_PublishDeleteObjects"),
    ("request_objects", "SIF_RequestObjects"),
    ("respond_objects", "SIF_RespondObjects"),
)
ACL_LISTS: tuple[tuple[str, str], ...] = (
    ("provide", "SIF_ProvideAccess"),
    ("subscribe", "SIF_SubscribeAccess"),
    ("publish_add", "SIF_PublishAddAccess"),
    ("publish_change", "SIF_PublishChangeAccess"),
    ("publish_delete", "SIF_PublishDeleteAccess"),
    ("request", "SIF_RequestAccess"),
    ("respond", "SIF_RespondAccess"),
)


@dataclass(frozen=True, kw_only=True)
class Provision(Message):
    provide_objects: tuple[ObjectRef, ...] = ()
    subscribe_objects: tuple[ObjectRef, ...] = ()
    publish_add_objects: tuple[ObjectRef, ...] = ()
    publish_change_objects: tuple[ObjectRef, ...] = ()
    publish_delete_objects: tuple[ObjectRef, ...] = ()
    request_objects: tuple[ObjectRef, ...] = ()
    respond_objects: tuple[ObjectRef, ...] = ()

    TAG: ClassVar[str] = "SIF_Provision"

    def __post_init__(self) -> None:
        for name, _ in PROVISION_LISTS:
            _freeze(self, name, object_refs(*_tuple(getattr(self, name))))


@dataclass(frozen=True, kw_only=True)
class Event(Message):
    """SIF_Event: one SIF_EventObject (@ObjectName, @Action) holding one or more objects."""

    object_name: str
    action: str  # "Add" | "Change" | "Delete"
    objects: tuple[XmlObject, ...]

    TAG: ClassVar[str] = "SIF_Event"
    ACTIONS: ClassVar[tuple[str, ...]] = ("Add", "Change", "Delete")

    def __post_init__(self) -> None:
        _freeze(self, "objects", _payloads(self.objects))

    @property
    def kind(self) -> str:
        return f"SIF_Event {self.object_name} {self.action}"


@dataclass(frozen=True, kw_only=True)
class Condition:
    """SIF_Condition: an element path, an operator (EQ LT GT LE GE NE) and a value."""

    element: str
    value: str
    operator: str = "EQ"

    TAG: ClassVar[str] = "SIF_Condition"
    OPERATORS: ClassVar[tuple[str, ...]] = ("EQ", "LT", "GT", "LE", "GE", "NE")


@dataclass(frozen=True, kw_only=True)
class Conditions:
    """SIF_Conditions: conditions joined by @Type (And, Or or None for a single one)."""

    conditions: tuple[Condition, ...]
    type: str = "And"

    TAG: ClassVar[str] = "SIF_Conditions"

    def __post_init__(self) -> None:
        _freeze(self, "conditions", _tuple(self.conditions))


@dataclass(frozen=True, kw_only=True)
class ConditionGroup:
    conditions: tuple[Conditions, ...]
    type: str = "None"

    TAG: ClassVar[str] = "SIF_ConditionGroup"

    def __post_init__(self) -> None:
        _freeze(self, "conditions", _tuple(self.conditions))

    def flat(self) -> tuple[Condition, ...]:
        """Every condition in order (the SLF only uses one And group)."""
        return tuple(c for group in self.conditions for c in group.conditions)


@dataclass(frozen=True, kw_only=True)
class Query:
    """SIF_Query: object, optional field list, and conditions or an example object."""

    object_name: str
    elements: tuple[str, ...] = ()
    condition_group: ConditionGroup | None = None
    example: XmlObject | None = None

    TAG: ClassVar[str] = "SIF_Query"

    def __post_init__(self) -> None:
        _freeze(self, "elements", _tuple(self.elements))
        if self.example is not None:
            _freeze(self, "example", XmlObject.of(self.example))
        if self.condition_group is not None and self.example is not None:
            raise ValueError("SIF_Query takes SIF_ConditionGroup or SIF_Example, not both")


@dataclass(frozen=True, kw_only=True)
class ExtendedQuery:
    """SIF_ExtendedQuery, kept as XML: read so it can be refused cleanly (8/15)."""

    xml: XmlObject

    TAG: ClassVar[str] = "SIF_ExtendedQuery"

    def __post_init__(self) -> None:
        _freeze(self, "xml", XmlObject.of(self.xml))

    @property
    def object_names(self) -> tuple[str, ...]:
        from .xmlobject import NS

        return tuple(
            e.get("ObjectName", "")
            for e in self.xml.view().iterfind(f"{{{NS}}}SIF_From")
        )


@dataclass(frozen=True, kw_only=True)
class Request(Message):
    versions: tuple[str, ...]
    max_buffer_size: int
    query: Query | ExtendedQuery

    TAG: ClassVar[str] = "SIF_Request"

    def __post_init__(self) -> None:
        _freeze(self, "versions", _tuple(self.versions))

    @property
    def object_name(self) -> str:
        if isinstance(self.query, Query):
            return self.query.object_name
        names = self.query.object_names
        return names[0] if names else ""

    @property
    def kind(self) -> str:
        return f"SIF_Request {self.object_name}"

    def simple_query(self) -> Query:
        """The SIF_Query, or SIFError 8/15 for SIF_ExtendedQuery (which the SLF does not serve)."""
        if isinstance(self.query, Query):
            return self.query
        from .codes import RequestResponseCode
        from .errors import SIFError

        raise SIFError(8, RequestResponseCode.NO_EXTENDED_QUERY,
                       "SIF_ExtendedQuery is not supported by this responder; send a SIF_Query")

    def response_version(self, supported: tuple[str, ...] = versions.SUPPORTED) -> str | None:
        """The version to answer in: the newest we speak that the request's SIF_Version admits."""
        return versions.negotiate(self.versions, supported)


@dataclass(frozen=True, kw_only=True)
class Response(Message):
    """One SIF_Response packet: an error, object data, or extended-query results."""

    request_msg_id: str
    packet_number: int = 1
    more_packets: bool = False
    error: Error | None = None
    objects: tuple[XmlObject, ...] | None = None
    extended_query_results: XmlObject | None = None

    TAG: ClassVar[str] = "SIF_Response"

    def __post_init__(self) -> None:
        present = [self.error is not None, self.objects is not None, self.extended_query_results is not None]
        if sum(present) != 1:
            raise ValueError("SIF_Response carries exactly one of error, objects, extended_query_results")
        if self.objects is not None:
            _freeze(self, "objects", _payloads(self.objects))
        if self.extended_query_results is not None:
            _freeze(self, "extended_query_results", XmlObject.of(self.extended_query_results))

    @property
    def object_name(self) -> str | None:
        if self.objects:
            return self.objects[0].name
        return None

    @property
    def kind(self) -> str:
        return "SIF_Response" + (f" {self.object_name}" if self.object_name else "")


# --- SIF_Ack and what SIF_Status/SIF_Data may carry


@dataclass(frozen=True, kw_only=True)
class AgentACL:
    """SIF_AgentACL: what the ZIS lets this agent do, per object (and context)."""

    provide: tuple[ObjectRef, ...] = ()
    subscribe: tuple[ObjectRef, ...] = ()
    publish_add: tuple[ObjectRef, ...] = ()
    publish_change: tuple[ObjectRef, ...] = ()
    publish_delete: tuple[ObjectRef, ...] = ()
    request: tuple[ObjectRef, ...] = ()
    respond: tuple[ObjectRef, ...] = ()

    TAG: ClassVar[str] = "SIF_AgentACL"

    def __post_init__(self) -> None:
        for name, _ in ACL_LISTS:
            _freeze(self, name, _with_context(object_refs(*_tuple(getattr(self, name)))))

    def allows(self, right: str, object_name: str) -> bool:
        return any(o.object_name == object_name for o in getattr(self, right))


@dataclass(frozen=True, kw_only=True)
class ObjectHolder:
    """An agent named in a zone-status list (provider, subscriber, publisher, ...)."""

    source_id: str
    objects: tuple[ObjectRef, ...]

    def __post_init__(self) -> None:
        _freeze(self, "objects", _with_context(object_refs(*_tuple(self.objects))))


@dataclass(frozen=True, kw_only=True)
class SIFNode:
    """SIF_SIFNode in SIF_ZoneStatus: one agent (or the ZIS) known to the zone."""

    type: str  # "Agent" | "ZIS"
    name: str
    source_id: str
    mode: str
    versions: tuple[str, ...]
    max_buffer_size: int
    sleeping: bool = False
    icon: str | None = None
    node_vendor: str | None = None
    node_version: str | None = None
    application: Application | None = None
    protocol: Protocol | None = None
    authentication_level: int | None = None
    encryption_level: int | None = None

    def __post_init__(self) -> None:
        _freeze(self, "versions", _tuple(self.versions))


#: SIF_ZoneStatus holder lists in schema order: (field, list element, item element).
ZONE_STATUS_LISTS: tuple[tuple[str, str, str], ...] = (
    ("providers", "SIF_Providers", "SIF_Provider"),
    ("subscribers", "SIF_Subscribers", "SIF_Subscriber"),
    ("add_publishers", "SIF_AddPublishers", "SIF_Publisher"),
    ("change_publishers", "SIF_ChangePublishers", "SIF_Publisher"),
    ("delete_publishers", "SIF_DeletePublishers", "SIF_Publisher"),
    ("responders", "SIF_Responders", "SIF_Responder"),
    ("requesters", "SIF_Requesters", "SIF_Requester"),
)


@dataclass(frozen=True, kw_only=True)
class ZoneStatus:
    """SIF_ZoneStatus: the zone's description of itself and its agents."""

    zone_id: str
    name: str
    supported_protocols: tuple[Protocol, ...]
    supported_versions: tuple[str, ...]
    contexts: tuple[str, ...] = ("SIF_Default",)
    icon: str | None = None
    vendor: Application | None = None  # SIF_Vendor has Name, Product, Version
    providers: tuple[ObjectHolder, ...] = ()
    subscribers: tuple[ObjectHolder, ...] = ()
    add_publishers: tuple[ObjectHolder, ...] = ()
    change_publishers: tuple[ObjectHolder, ...] = ()
    delete_publishers: tuple[ObjectHolder, ...] = ()
    responders: tuple[ObjectHolder, ...] = ()
    requesters: tuple[ObjectHolder, ...] = ()
    nodes: tuple[SIFNode, ...] = ()
    supported_authentication: tuple[str, ...] = ()
    administration_url: str | None = None

    TAG: ClassVar[str] = "SIF_ZoneStatus"

    def __post_init__(self) -> None:
        for name in ("supported_protocols", "supported_versions", "contexts", "nodes",
                     "supported_authentication") + tuple(f for f, _, _ in ZONE_STATUS_LISTS):
            _freeze(self, name, _tuple(getattr(self, name)))


@dataclass(frozen=True, kw_only=True)
class Status:
    """SIF_Status: a status code, optional description and optional data."""

    code: int
    desc: str | None = None
    data: Union["Message", AgentACL, ZoneStatus, None] = None

    TAG: ClassVar[str] = "SIF_Status"


@dataclass(frozen=True, kw_only=True)
class Ack(Message):
    """SIF_Ack: answers every message; SIF_Status or SIF_Error, never both."""

    original_source_id: str | None
    original_msg_id: str | None
    status: Status | None = None
    error: Error | None = None

    TAG: ClassVar[str] = "SIF_Ack"

    def __post_init__(self) -> None:
        if (self.status is None) == (self.error is None):
            raise ValueError("SIF_Ack carries exactly one of status or error")

    @property
    def code(self) -> int | None:
        return self.status.code if self.status else None

    @property
    def message(self) -> "Message | None":
        """The message carried in SIF_Status/SIF_Data (a pulled message), if any."""
        data = self.status.data if self.status else None
        return data if isinstance(data, Message) else None

    @property
    def kind(self) -> str:
        if self.error is not None:
            return f"SIF_Ack error {self.error.category}/{self.error.code}"
        return f"SIF_Ack {self.status.code}"


# --- SIF_SystemControl


@dataclass(frozen=True)
class Ping:
    TAG: ClassVar[str] = "SIF_Ping"


@dataclass(frozen=True)
class Sleep:
    TAG: ClassVar[str] = "SIF_Sleep"


@dataclass(frozen=True)
class Wakeup:
    TAG: ClassVar[str] = "SIF_Wakeup"


@dataclass(frozen=True)
class GetMessage:
    TAG: ClassVar[str] = "SIF_GetMessage"


@dataclass(frozen=True)
class GetZoneStatus:
    TAG: ClassVar[str] = "SIF_GetZoneStatus"


@dataclass(frozen=True)
class GetAgentACL:
    TAG: ClassVar[str] = "SIF_GetAgentACL"


@dataclass(frozen=True, kw_only=True)
class CancelRequests:
    """SIF_CancelRequests (2.1 and later): cancel outstanding requests by SIF_MsgId."""

    request_msg_ids: tuple[str, ...]
    notification_type: str = "Standard"  # "Standard" | "None"

    TAG: ClassVar[str] = "SIF_CancelRequests"

    def __post_init__(self) -> None:
        _freeze(self, "request_msg_ids", _tuple(self.request_msg_ids))


Command = Union[Ping, Sleep, Wakeup, GetMessage, GetZoneStatus, GetAgentACL, CancelRequests]
COMMANDS: dict[str, type] = {
    c.TAG: c for c in (Ping, Sleep, Wakeup, GetMessage, GetZoneStatus, GetAgentACL, CancelRequests)
}


@dataclass(frozen=True, kw_only=True)
class SystemControl(Message):
    command: Command = field(default_factory=Ping)

    TAG: ClassVar[str] = "SIF_SystemControl"

    @property
    def kind(self) -> str:
        return f"SIF_SystemControl/{self.command.TAG}"


MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.TAG: cls
    for cls in (
        Ack, Event, Provide, Provision, Register, Request, Response,
        Subscribe, SystemControl, Unprovide, Unregister, Unsubscribe,
    )
}

__all__ = [
    "Ack", "AgentACL", "Application", "CancelRequests", "Condition", "ConditionGroup",
    "Conditions", "Error", "Event", "ExtendedQuery", "GetAgentACL", "GetMessage",
    "GetZoneStatus", "Header", "Message", "ObjectHolder", "ObjectRef", "Ping", "Protocol",
    "Provide", "Provision", "Query", "Register", "Request", "Response", "SIFNode",
    "SecureChannel", "Sleep", "Status", "Subscribe", "SystemControl", "Unprovide",
    "Unregister", "Unsubscribe", "Wakeup", "ZoneStatus", "XmlObject", "new_guid",
    "now_timestamp", "object_refs", "parse_timestamp",
]
