"""SIF 2.x (US) message layer: bytes ⇄ typed messages, hardened parsing, validation, codes.

Pure: nothing here performs I/O beyond reading the project's own schema files.

    from messages import parse, build, Ack, Header, Status, StatusCode
    msg = parse(body)              # SIFError with category/code on bad input
    reply = build(Ack(...))
"""

from .codec import build, parse, read, read_error, to_element
from .codes import (
    ErrorCategory,
    StatusCode,
    describe,
)
from .errors import Error, SIFError
from .model import (
    Ack,
    AgentACL,
    Application,
    CancelRequests,
    Condition,
    ConditionGroup,
    Conditions,
    Event,
    ExtendedQuery,
    GetAgentACL,
    GetMessage,
    GetZoneStatus,
    Header,
    Message,
    ObjectHolder,
    ObjectRef,
    Ping,
    Protocol,
    Provide,
    Provision,
    Query,
    Register,
    Request,
    Response,
    SecureChannel,
    SIFNode,
    Sleep,
    Status,
    Subscribe,
    SystemControl,
    Unprovide,
    Unregister,
    Unsubscribe,
    Wakeup,
    ZoneStatus,
    new_guid,
    now_timestamp,
    object_refs,
    parse_timestamp,
)
from .xmlobject import NS, XmlObject
from .xmlsafe import DEFAULT_MAX_BYTES, parse_xml

__all__ = [name for name in dir() if not name.startswith("_")]
