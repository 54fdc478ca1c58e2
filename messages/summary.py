"""Readable one-screen summaries of messages, for `slf sif show`, logs and the mock zone."""

from __future__ import annotations

from .codes import StatusCode, describe
from .model import (
    Ack,
    AgentACL,
    CancelRequests,
    Event,
    ExtendedQuery,
    Message,
    Provision,
    Register,
    Request,
    Response,
    SystemControl,
    ZoneStatus,
    PROVISION_LISTS,
    _ObjectListMessage,
)
from .objects import SchoolInfo, StudentLocator, StudentPersonal, StudentSchoolEnrollment
from .xmlobject import XmlObject

Lines = list[tuple[str, str]]


def _name(n) -> str:
    if n is None:
        return ""
    parts = [n.first_name, n.middle_name, n.last_name]
    return " ".join(p for p in parts if p)


def object_fields(obj: XmlObject) -> str:
    """Key fields of one payload object in a line."""
    typed = obj.typed()
    if isinstance(typed, StudentLocator):
        d = typed.demographics
        bits = [f"IdStatus={typed.id_status}", f"TransactionId={typed.transaction_id}",
                f"StateProvinceId={typed.state_province_id or '(empty)'}"]
        if typed.confidence:
            bits.append(f"Confidence={typed.confidence}")
        if typed.local_id:
            bits.append(f"LocalId={typed.local_id}")
        if typed.name_of_record:
            bits.append(f"Name={_name(typed.name_of_record)}")
        if d and d.birth_date:
            bits.append(f"BirthDate={d.birth_date}")
        if d and d.gender:
            bits.append(f"Gender={d.gender}")
        if typed.error:
            bits.append(f"SIF_Error={typed.error}")
        return " ".join(bits)
    if isinstance(typed, StudentPersonal):
        d = typed.demographics
        bits = [f"RefId={typed.ref_id}", f"LocalId={typed.local_id or ''}"]
        if typed.state_province_id:
            bits.append(f"StateProvinceId={typed.state_province_id}")
        if typed.name:
            bits.append(f"Name={_name(typed.name)}")
        if d and d.birth_date:
            bits.append(f"BirthDate={d.birth_date}")
        return " ".join(bits)
    if isinstance(typed, StudentSchoolEnrollment):
        grade = typed.grade_level.code if typed.grade_level else ""
        return (f"RefId={typed.ref_id} Student={typed.student_personal_ref_id} "
                f"School={typed.school_info_ref_id} Membership={typed.membership_type} "
                f"SchoolYear={typed.school_year} EntryDate={typed.entry_date or ''} Grade={grade}")
    if isinstance(typed, SchoolInfo):
        return (f"RefId={typed.ref_id} Name={typed.school_name or ''} "
                f"StateProvinceId={typed.state_province_id or ''} LocalId={typed.local_id or ''}")
    return f"<{obj.name}> ({len(obj.canonical())} bytes)"


def _objects(lines: Lines, objects: tuple[XmlObject, ...], limit: int = 25) -> None:
    lines.append(("Objects", str(len(objects))))
    for i, obj in enumerate(objects[:limit], 1):
        lines.append((f"  [{i}] {obj.name}", object_fields(obj)))
    if len(objects) > limit:
        lines.append(("  ...", f"{len(objects) - limit} more"))


def summarize(m: Message) -> Lines:
    h = m.header
    lines: Lines = [
        ("Type", m.kind),
        ("Version", m.version),
        ("SIF_MsgId", h.msg_id),
        ("Timestamp", h.timestamp),
        ("Source", h.source_id),
        ("Destination", h.destination_id or "(zone routes)"),
    ]
    if h.contexts:
        lines.append(("Contexts", ", ".join(h.contexts)))
    if isinstance(m, Register):
        lines += [("Agent name", m.name), ("Mode", m.mode), ("Versions", ", ".join(m.versions)),
                  ("Max buffer", f"{m.max_buffer_size} bytes")]
        if m.protocol and m.protocol.url:
            lines.append(("Push URL", m.protocol.url))
    elif isinstance(m, _ObjectListMessage):
        lines.append(("Objects", ", ".join(m.object_names)))
    elif isinstance(m, Provision):
        for name, tag in PROVISION_LISTS:
            refs = getattr(m, name)
            if refs:
                lines.append((tag, ", ".join(r.object_name for r in refs)))
    elif isinstance(m, Event):
        lines += [("Object", m.object_name), ("Action", m.action)]
        _objects(lines, m.objects)
    elif isinstance(m, Request):
        lines += [("Object", m.object_name), ("Response versions", ", ".join(m.versions)),
                  ("Max buffer", f"{m.max_buffer_size} bytes")]
        if isinstance(m.query, ExtendedQuery):
            lines.append(("Query", "SIF_ExtendedQuery"))
        elif m.query.example is not None:
            lines.append(("Query", "SIF_Example"))
            lines.append(("  Example", object_fields(m.query.example)))
        elif m.query.condition_group is not None:
            lines.append(("Query", "SIF_ConditionGroup"))
            for c in m.query.condition_group.flat():
                lines.append((f"  {c.element}", f"{c.operator} {c.value}"))
        else:
            lines.append(("Query", "all objects"))
    elif isinstance(m, Response):
        lines += [("Request", m.request_msg_id), ("Packet", f"{m.packet_number}"
                  + (" (more follow)" if m.more_packets else " (last)"))]
        if m.error is not None:
            lines.append(("SIF_Error", describe(m.error.category, m.error.code) + f" — {m.error.desc}"))
        elif m.objects is not None:
            _objects(lines, m.objects)
        else:
            lines.append(("Data", "SIF_ExtendedQueryResults"))
    elif isinstance(m, Ack):
        lines += [("Acknowledges", f"{m.original_msg_id or '(nil)'} from {m.original_source_id or '(nil)'}")]
        if m.error is not None:
            lines.append(("SIF_Error", describe(m.error.category, m.error.code) + f" — {m.error.desc}"))
            if m.error.extended_desc:
                lines.append(("Details", m.error.extended_desc))
        else:
            code = m.status.code
            try:
                text = StatusCode(code).description
            except ValueError:
                text = "not a SIF 2.x status code"
            lines.append(("Status", f"{code} {text}"))
            data = m.status.data
            if isinstance(data, Message):
                lines.append(("Carries", f"{data.kind} {data.msg_id} from {data.source_id}"))
            elif isinstance(data, AgentACL):
                lines.append(("Carries", "SIF_AgentACL"))
            elif isinstance(data, ZoneStatus):
                lines.append(("Carries", f"SIF_ZoneStatus of zone {data.zone_id}"))
    elif isinstance(m, SystemControl):
        if isinstance(m.command, CancelRequests):
            lines.append(("Cancels", ", ".join(m.command.request_msg_ids)))
            lines.append(("Notification", m.command.notification_type))
    return lines
