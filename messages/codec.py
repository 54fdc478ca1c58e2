"""Bytes ⇄ typed messages: one writer and one reader per SIF element, in schema order.

``build(message) -> bytes`` and ``parse(bytes) -> Message`` never await and never
touch the network; ``parse`` runs the hardened parser, then (by default) schema
validation, then reads the tree. Readers also stand on their own: a missing
mandatory element is a clean SIFError 1/6, never an AttributeError.
"""

from __future__ import annotations

from typing import Callable

from lxml import etree

from . import versions
from .errors import Error, SIFError, invalid, invalid_value, missing, quote, unsupported_message
from .model import (
    ACL_LISTS,
    COMMANDS,
    MESSAGE_TYPES,
    PROVISION_LISTS,
    ZONE_STATUS_LISTS,
    Ack,
    AgentACL,
    Application,
    CancelRequests,
    Condition,
    ConditionGroup,
    Conditions,
    Event,
    ExtendedQuery,
    Header,
    Message,
    ObjectHolder,
    ObjectRef,
    Protocol,
    Provision,
    Query,
    Register,
    Request,
    Response,
    SecureChannel,
    SIFNode,
    Status,
    SystemControl,
    ZoneStatus,
    _ObjectListMessage,
)
from .xmlobject import NS, XmlObject
from .xmlsafe import DEFAULT_MAX_BYTES, parse_xml

XSI = "http://www.w3.org/2001/XMLSchema-instance"
NS_1X = "http://www.sifinfo.org/infrastructure/1.x"
_NSMAP = {None: NS}
_Q: dict[str, str] = {}


def q(name: str) -> str:
    """Clark name in the SIF 2.x namespace (cached)."""
    try:
        return _Q[name]
    except KeyError:
        _Q[name] = value = f"{{{NS}}}{name}"
        return value


# ---------------------------------------------------------------------------
# Small writing and reading helpers


def _sub(parent: etree._Element, name: str, text: object | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, q(name), attrs) if attrs else etree.SubElement(parent, q(name))
    if text is not None and text != "":
        el.text = str(text)
    return el


def _sub_opt(parent: etree._Element, name: str, text: object | None) -> None:
    if text is not None:
        _sub(parent, name, text)


def _path(el: etree._Element) -> str:
    names = []
    while el is not None:
        names.append(etree.QName(el).localname)
        el = el.getparent()
    return "/".join(reversed(names))


def _child(el: etree._Element, name: str) -> etree._Element | None:
    return el.find(q(name))


def _children(el: etree._Element, name: str) -> list[etree._Element]:
    return el.findall(q(name))


def _req(el: etree._Element, name: str) -> etree._Element:
    child = el.find(q(name))
    if child is None:
        raise missing(f"{_path(el)}: required element {name} is missing", line=el.sourceline,
                      element=f"{_path(el)}/{name}")
    return child


def _text(el: etree._Element | None) -> str:
    return (el.text or "").strip() if el is not None else ""


def _opt_text(el: etree._Element, name: str) -> str | None:
    child = el.find(q(name))
    if child is None:
        return None
    return (child.text or "").strip()


def _req_text(el: etree._Element, name: str) -> str:
    return _text(_req(el, name))


def _int(el: etree._Element, name: str) -> int:
    child = _req(el, name)
    try:
        return int(_text(child))
    except ValueError:
        raise invalid_value(f"{_path(child)} must be a whole number, got {child.text!r}",
                            line=child.sourceline, element=_path(child)) from None


def _attr(el: etree._Element, name: str) -> str:
    value = el.get(name)
    if value is None:
        raise missing(f"{_path(el)}: required attribute {name} is missing", line=el.sourceline,
                      element=f"{_path(el)}/@{name}")
    return value.strip()


def _yes_no(value: bool) -> str:
    return "Yes" if value else "No"


def _is_nil(el: etree._Element) -> bool:
    return el.get(f"{{{XSI}}}nil") in ("true", "1")


# ---------------------------------------------------------------------------
# Header, errors, shared parts


def _w_header(parent: etree._Element, h: Header) -> None:
    el = _sub(parent, "SIF_Header")
    _sub(el, "SIF_MsgId", h.msg_id)
    _sub(el, "SIF_Timestamp", h.timestamp)
    if h.security is not None:
        ch = _sub(_sub(el, "SIF_Security"), "SIF_SecureChannel")
        _sub(ch, "SIF_AuthenticationLevel", h.security.authentication_level)
        _sub(ch, "SIF_EncryptionLevel", h.security.encryption_level)
    _sub(el, "SIF_SourceId", h.source_id)
    _sub_opt(el, "SIF_DestinationId", h.destination_id)
    _w_contexts(el, h.contexts)


def _w_contexts(parent: etree._Element, contexts: tuple[str, ...], *, required: bool = False) -> None:
    if not contexts and required:
        contexts = ("SIF_Default",)
    if contexts:
        el = _sub(parent, "SIF_Contexts")
        for c in contexts:
            _sub(el, "SIF_Context", c)


def _r_contexts(el: etree._Element) -> tuple[str, ...]:
    ctx = _child(el, "SIF_Contexts")
    return tuple(_text(c) for c in _children(ctx, "SIF_Context")) if ctx is not None else ()


def _r_header(el: etree._Element) -> Header:
    h = _req(el, "SIF_Header")
    security = None
    sec = _child(h, "SIF_Security")
    if sec is not None:
        ch = _req(sec, "SIF_SecureChannel")
        security = SecureChannel(
            authentication_level=_int(ch, "SIF_AuthenticationLevel"),
            encryption_level=_int(ch, "SIF_EncryptionLevel"),
        )
    return Header(
        msg_id=_req_text(h, "SIF_MsgId"),
        timestamp=_req_text(h, "SIF_Timestamp"),
        security=security,
        source_id=_req_text(h, "SIF_SourceId"),
        destination_id=_opt_text(h, "SIF_DestinationId"),
        contexts=_r_contexts(h),
    )


def _w_error(parent: etree._Element, e: Error) -> None:
    el = _sub(parent, "SIF_Error")
    _sub(el, "SIF_Category", e.category)
    _sub(el, "SIF_Code", e.code)
    _sub(el, "SIF_Desc", e.desc)
    _sub_opt(el, "SIF_ExtendedDesc", e.extended_desc)


def read_error(el: etree._Element) -> Error:
    """Read a SIF_Error element (also used by typed objects: StudentLocator/SIF_Error)."""
    return Error(
        category=_int(el, "SIF_Category"),
        code=_int(el, "SIF_Code"),
        desc=_req_text(el, "SIF_Desc"),
        extended_desc=_opt_text(el, "SIF_ExtendedDesc"),
    )


def write_error(parent: etree._Element, e: Error) -> None:
    _w_error(parent, e)


def _w_objref(parent: etree._Element, ref: ObjectRef, *, eqs: str = "omit", contexts_required: bool = False) -> None:
    """SIF_Object; ``eqs`` is how SIF_ExtendedQuerySupport appears: omit, optional, required."""
    el = _sub(parent, "SIF_Object", ObjectName=ref.object_name)
    if eqs == "required" or (eqs == "optional" and ref.extended_query_support is not None):
        _sub(el, "SIF_ExtendedQuerySupport", "true" if ref.extended_query_support else "false")
    _w_contexts(el, ref.contexts, required=contexts_required)


def _r_objref(el: etree._Element) -> ObjectRef:
    eqs_text = _opt_text(el, "SIF_ExtendedQuerySupport")
    return ObjectRef(
        object_name=_attr(el, "ObjectName"),
        contexts=_r_contexts(el),
        extended_query_support=None if eqs_text is None else eqs_text in ("true", "1"),
    )


def _r_objrefs(el: etree._Element) -> tuple[ObjectRef, ...]:
    return tuple(_r_objref(o) for o in _children(el, "SIF_Object"))


def _w_protocol(parent: etree._Element, p: Protocol) -> None:
    attrs = {"Type": p.type}
    if p.secure is not None:
        attrs["Secure"] = p.secure
    el = _sub(parent, "SIF_Protocol", **attrs)
    _sub_opt(el, "SIF_URL", p.url)
    for name, value in p.properties:
        prop = _sub(el, "SIF_Property")
        _sub(prop, "SIF_Name", name)
        _sub(prop, "SIF_Value", value)


def _r_protocol(el: etree._Element) -> Protocol:
    return Protocol(
        type=_attr(el, "Type"),
        secure=el.get("Secure"),
        url=_opt_text(el, "SIF_URL"),
        properties=tuple(
            (_req_text(p, "SIF_Name"), _req_text(p, "SIF_Value")) for p in _children(el, "SIF_Property")
        ),
    )


def _w_application(parent: etree._Element, a: Application, tag: str = "SIF_Application", first: str = "SIF_Vendor") -> None:
    el = _sub(parent, tag)
    _sub(el, first, a.vendor)
    _sub(el, "SIF_Product", a.product)
    _sub(el, "SIF_Version", a.version)


def _r_application(el: etree._Element | None, first: str = "SIF_Vendor") -> Application | None:
    if el is None:
        return None
    return Application(
        vendor=_req_text(el, first), product=_req_text(el, "SIF_Product"), version=_req_text(el, "SIF_Version")
    )


def _append_payloads(parent: etree._Element, objects: tuple[XmlObject, ...]) -> None:
    for obj in objects:
        parent.append(obj.element())


def _r_payloads(el: etree._Element) -> tuple[XmlObject, ...]:
    # the tree was just parsed and is owned by this message: no copy needed
    return tuple(XmlObject(child, copy_element=False) for child in el if isinstance(child.tag, str))


# ---------------------------------------------------------------------------
# Writers, one per message type


def _w_register(el: etree._Element, m: Register) -> None:
    _sub(el, "SIF_Name", m.name)
    for v in m.versions:
        _sub(el, "SIF_Version", v)
    _sub(el, "SIF_MaxBufferSize", m.max_buffer_size)
    _sub(el, "SIF_Mode", m.mode)
    if m.protocol is not None:
        _w_protocol(el, m.protocol)
    _sub_opt(el, "SIF_NodeVendor", m.node_vendor)
    _sub_opt(el, "SIF_NodeVersion", m.node_version)
    if m.application is not None:
        _w_application(el, m.application)
    _sub_opt(el, "SIF_Icon", m.icon)


def _w_nothing(el: etree._Element, m: Message) -> None:
    return None


def _w_object_list(el: etree._Element, m: _ObjectListMessage) -> None:
    eqs = "optional" if m.TAG == "SIF_Provide" else "omit"
    for ref in m.objects:
        _w_objref(el, ref, eqs=eqs)


def _w_provision(el: etree._Element, m: Provision) -> None:
    for name, tag in PROVISION_LISTS:
        lst = _sub(el, tag)
        eqs = "optional" if name == "provide_objects" else "omit"
        for ref in getattr(m, name):
            _w_objref(lst, ref, eqs=eqs)


def _w_event(el: etree._Element, m: Event) -> None:
    data = _sub(el, "SIF_ObjectData")
    obj = _sub(data, "SIF_EventObject", ObjectName=m.object_name, Action=m.action)
    _append_payloads(obj, m.objects)


def _w_query(parent: etree._Element, query: Query) -> None:
    el = _sub(parent, "SIF_Query")
    qo = _sub(el, "SIF_QueryObject", ObjectName=query.object_name)
    for path in query.elements:
        _sub(qo, "SIF_Element", path)
    if query.condition_group is not None:
        group = _sub(el, "SIF_ConditionGroup", Type=query.condition_group.type)
        for conds in query.condition_group.conditions:
            c_el = _sub(group, "SIF_Conditions", Type=conds.type)
            for cond in conds.conditions:
                one = _sub(c_el, "SIF_Condition")
                _sub(one, "SIF_Element", cond.element)
                _sub(one, "SIF_Operator", cond.operator)
                _sub(one, "SIF_Value", cond.value)
    elif query.example is not None:
        _sub(el, "SIF_Example").append(query.example.element())


def _w_request(el: etree._Element, m: Request) -> None:
    for v in m.versions:
        _sub(el, "SIF_Version", v)
    _sub(el, "SIF_MaxBufferSize", m.max_buffer_size)
    if isinstance(m.query, Query):
        _w_query(el, m.query)
    else:
        el.append(m.query.xml.element())


def _w_response(el: etree._Element, m: Response) -> None:
    _sub(el, "SIF_RequestMsgId", m.request_msg_id)
    _sub(el, "SIF_PacketNumber", m.packet_number)
    _sub(el, "SIF_MorePackets", _yes_no(m.more_packets))
    if m.error is not None:
        _w_error(el, m.error)
    elif m.objects is not None:
        _append_payloads(_sub(el, "SIF_ObjectData"), m.objects)
    else:
        el.append(m.extended_query_results.element())


def _w_acl(parent: etree._Element, acl: AgentACL) -> None:
    el = _sub(parent, "SIF_AgentACL")
    for name, tag in ACL_LISTS:
        lst = _sub(el, tag)
        for ref in getattr(acl, name):
            _w_objref(lst, ref, contexts_required=True)


def _w_holders(parent: etree._Element, tag: str, item: str, holders: tuple[ObjectHolder, ...]) -> None:
    if not holders:
        return
    eqs = "required" if item in ("SIF_Provider", "SIF_Responder", "SIF_Requester") else "omit"
    lst = _sub(parent, tag)
    for h in holders:
        h_el = _sub(lst, item, SourceId=h.source_id)
        ol = _sub(h_el, "SIF_ObjectList")
        for ref in h.objects:
            _w_objref(ol, ref, eqs=eqs, contexts_required=True)


def _w_node(parent: etree._Element, n: SIFNode) -> None:
    el = _sub(parent, "SIF_SIFNode", Type=n.type)
    _sub(el, "SIF_Name", n.name)
    _sub_opt(el, "SIF_Icon", n.icon)
    _sub_opt(el, "SIF_NodeVendor", n.node_vendor)
    _sub_opt(el, "SIF_NodeVersion", n.node_version)
    if n.application is not None:
        _w_application(el, n.application)
    _sub(el, "SIF_SourceId", n.source_id)
    _sub(el, "SIF_Mode", n.mode)
    if n.protocol is not None:
        _w_protocol(el, n.protocol)
    vl = _sub(el, "SIF_VersionList")
    for v in n.versions:
        _sub(vl, "SIF_Version", v)
    _sub_opt(el, "SIF_AuthenticationLevel", n.authentication_level)
    _sub_opt(el, "SIF_EncryptionLevel", n.encryption_level)
    _sub(el, "SIF_MaxBufferSize", n.max_buffer_size)
    _sub(el, "SIF_Sleeping", _yes_no(n.sleeping))


def _w_zone_status(parent: etree._Element, z: ZoneStatus) -> None:
    el = _sub(parent, "SIF_ZoneStatus", ZoneId=z.zone_id)
    _sub(el, "SIF_Name", z.name)
    _sub_opt(el, "SIF_Icon", z.icon)
    if z.vendor is not None:
        _w_application(el, z.vendor, tag="SIF_Vendor", first="SIF_Name")
    for name, tag, item in ZONE_STATUS_LISTS:
        _w_holders(el, tag, item, getattr(z, name))
    if z.nodes:
        nodes = _sub(el, "SIF_SIFNodes")
        for n in z.nodes:
            _w_node(nodes, n)
    if z.supported_authentication:
        auth = _sub(el, "SIF_SupportedAuthentication")
        for p in z.supported_authentication:
            _sub(auth, "SIF_ProtocolName", p)
    protocols = _sub(el, "SIF_SupportedProtocols")
    for p in z.supported_protocols:
        _w_protocol(protocols, p)
    sv = _sub(el, "SIF_SupportedVersions")
    for v in z.supported_versions:
        _sub(sv, "SIF_Version", v)
    _sub_opt(el, "SIF_AdministrationURL", z.administration_url)
    _w_contexts(el, z.contexts, required=True)


def _w_ack(el: etree._Element, m: Ack) -> None:
    for name, value in (("SIF_OriginalSourceId", m.original_source_id), ("SIF_OriginalMsgId", m.original_msg_id)):
        child = _sub(el, name, value)
        if value is None:
            child.set(f"{{{XSI}}}nil", "true")
    if m.error is not None:
        _w_error(el, m.error)
        return
    st = _sub(el, "SIF_Status")
    _sub(st, "SIF_Code", m.status.code)
    _sub_opt(st, "SIF_Desc", m.status.desc)
    data = m.status.data
    if data is None:
        return
    d_el = _sub(st, "SIF_Data")
    if isinstance(data, Message):
        d_el.append(to_element(data))
    elif isinstance(data, AgentACL):
        _w_acl(d_el, data)
    elif isinstance(data, ZoneStatus):
        _w_zone_status(d_el, data)
    elif isinstance(data, XmlObject):  # a stored SIF_Message, embedded without re-reading it
        d_el.append(data.element())
    else:
        raise TypeError(f"SIF_Status/SIF_Data cannot carry {type(data).__name__}")


def _w_system_control(el: etree._Element, m: SystemControl) -> None:
    data = _sub(el, "SIF_SystemControlData")
    cmd = _sub(data, m.command.TAG)
    if isinstance(m.command, CancelRequests):
        _sub(cmd, "SIF_NotificationType", m.command.notification_type)
        ids = _sub(cmd, "SIF_RequestMsgIds")
        for mid in m.command.request_msg_ids:
            _sub(ids, "SIF_RequestMsgId", mid)


_WRITERS: dict[str, Callable] = {
    "SIF_Ack": _w_ack,
    "SIF_Event": _w_event,
    "SIF_Provide": _w_object_list,
    "SIF_Provision": _w_provision,
    "SIF_Register": _w_register,
    "SIF_Request": _w_request,
    "SIF_Response": _w_response,
    "SIF_Subscribe": _w_object_list,
    "SIF_SystemControl": _w_system_control,
    "SIF_Unprovide": _w_object_list,
    "SIF_Unregister": _w_nothing,
    "SIF_Unsubscribe": _w_object_list,
}


def to_element(message: Message) -> etree._Element:
    """The SIF_Message element for a message (Version = message.version)."""
    root = etree.Element(q("SIF_Message"), nsmap=_NSMAP, Version=message.version)
    body = _sub(root, message.TAG)
    _w_header(body, message.header)
    _WRITERS[message.TAG](body, message)
    return root


def build(message: Message) -> bytes:
    """Serialise a message as UTF-8 bytes, ready to POST."""
    return etree.tostring(to_element(message), encoding="utf-8")


# ---------------------------------------------------------------------------
# Readers, one per message type


def _r_register(el, header, version):
    protocol = _child(el, "SIF_Protocol")
    return Register(
        header=header,
        version=version,
        name=_req_text(el, "SIF_Name"),
        versions=tuple(_text(v) for v in _children(el, "SIF_Version")) or (_req_text(el, "SIF_Version"),),
        max_buffer_size=_int(el, "SIF_MaxBufferSize"),
        mode=_req_text(el, "SIF_Mode"),
        protocol=_r_protocol(protocol) if protocol is not None else None,
        node_vendor=_opt_text(el, "SIF_NodeVendor"),
        node_version=_opt_text(el, "SIF_NodeVersion"),
        application=_r_application(_child(el, "SIF_Application")),
        icon=_opt_text(el, "SIF_Icon"),
    )


def _r_object_list(cls):
    def reader(el, header, version):
        refs = _r_objrefs(el)
        if not refs:
            _req(el, "SIF_Object")
        return cls(header=header, version=version, objects=refs)

    return reader


def _r_provision(el, header, version):
    lists = {name: _r_objrefs(_req(el, tag)) for name, tag in PROVISION_LISTS}
    return Provision(header=header, version=version, **lists)


def _r_event(el, header, version):
    obj = _req(_req(el, "SIF_ObjectData"), "SIF_EventObject")
    return Event(
        header=header,
        version=version,
        object_name=_attr(obj, "ObjectName"),
        action=_attr(obj, "Action"),
        objects=_r_payloads(obj),
    )


def _r_condition(el: etree._Element) -> Condition:
    return Condition(
        element=_req_text(el, "SIF_Element"),
        operator=_req_text(el, "SIF_Operator"),
        value=_req(el, "SIF_Value").text or "",
    )


def _r_query(el: etree._Element) -> Query:
    qo = _req(el, "SIF_QueryObject")
    group = _child(el, "SIF_ConditionGroup")
    example = _child(el, "SIF_Example")
    condition_group = None
    if group is not None:
        condition_group = ConditionGroup(
            type=_attr(group, "Type"),
            conditions=tuple(
                Conditions(type=_attr(c, "Type"), conditions=tuple(_r_condition(x) for x in _children(c, "SIF_Condition")))
                for c in _children(group, "SIF_Conditions")
            ),
        )
    example_obj = None
    if example is not None:
        inner = [c for c in example if isinstance(c.tag, str)]
        if len(inner) != 1:
            raise invalid("SIF_Example must contain exactly one object (a StudentLocator)",
                          line=example.sourceline, element=_path(example))
        example_obj = XmlObject(inner[0], copy_element=False)
    return Query(
        object_name=_attr(qo, "ObjectName"),
        elements=tuple(_text(e) for e in _children(qo, "SIF_Element")),
        condition_group=condition_group,
        example=example_obj,
    )


def _r_request(el, header, version):
    query_el = _child(el, "SIF_Query")
    if query_el is not None:
        query = _r_query(query_el)
    else:
        ext = _child(el, "SIF_ExtendedQuery")
        if ext is None:
            raise missing("SIF_Request must contain SIF_Query (or SIF_ExtendedQuery)",
                          line=el.sourceline, element=_path(el))
        query = ExtendedQuery(xml=XmlObject(ext))
    vs = tuple(_text(v) for v in _children(el, "SIF_Version"))
    if not vs:
        _req(el, "SIF_Version")
    return Request(header=header, version=version, versions=vs,
                   max_buffer_size=_int(el, "SIF_MaxBufferSize"), query=query)


def _r_response(el, header, version):
    more = _req_text(el, "SIF_MorePackets")
    if more not in ("Yes", "No"):
        raise invalid_value(f"SIF_MorePackets must be Yes or No, got {more!r}", element="SIF_Response/SIF_MorePackets")
    error = _child(el, "SIF_Error")
    data = _child(el, "SIF_ObjectData")
    eqr = _child(el, "SIF_ExtendedQueryResults")
    if error is None and data is None and eqr is None:
        raise missing("SIF_Response must contain SIF_Error, SIF_ObjectData or SIF_ExtendedQueryResults",
                      line=el.sourceline, element=_path(el))
    return Response(
        header=header,
        version=version,
        request_msg_id=_req_text(el, "SIF_RequestMsgId"),
        packet_number=_int(el, "SIF_PacketNumber"),
        more_packets=more == "Yes",
        error=read_error(error) if error is not None else None,
        objects=_r_payloads(data) if error is None and data is not None else None,
        extended_query_results=XmlObject(eqr) if error is None and data is None else None,
    )


def _r_acl(el: etree._Element) -> AgentACL:
    return AgentACL(**{name: _r_objrefs(_req(el, tag)) for name, tag in ACL_LISTS})


def _r_holders(el: etree._Element, tag: str, item: str) -> tuple[ObjectHolder, ...]:
    lst = _child(el, tag)
    if lst is None:
        return ()
    return tuple(
        ObjectHolder(source_id=_attr(h, "SourceId"), objects=_r_objrefs(_req(h, "SIF_ObjectList")))
        for h in _children(lst, item)
    )


def _opt_int(el: etree._Element, name: str) -> int | None:
    return _int(el, name) if _child(el, name) is not None else None


def _r_node(el: etree._Element) -> SIFNode:
    protocol = _child(el, "SIF_Protocol")
    return SIFNode(
        type=_attr(el, "Type"),
        name=_req_text(el, "SIF_Name"),
        icon=_opt_text(el, "SIF_Icon"),
        node_vendor=_opt_text(el, "SIF_NodeVendor"),
        node_version=_opt_text(el, "SIF_NodeVersion"),
        application=_r_application(_child(el, "SIF_Application")),
        source_id=_req_text(el, "SIF_SourceId"),
        mode=_req_text(el, "SIF_Mode"),
        protocol=_r_protocol(protocol) if protocol is not None else None,
        versions=tuple(_text(v) for v in _children(_req(el, "SIF_VersionList"), "SIF_Version")),
        authentication_level=_opt_int(el, "SIF_AuthenticationLevel"),
        encryption_level=_opt_int(el, "SIF_EncryptionLevel"),
        max_buffer_size=_int(el, "SIF_MaxBufferSize"),
        sleeping=_req_text(el, "SIF_Sleeping") == "Yes",
    )


def _r_zone_status(el: etree._Element) -> ZoneStatus:
    nodes = _child(el, "SIF_SIFNodes")
    auth = _child(el, "SIF_SupportedAuthentication")
    return ZoneStatus(
        zone_id=_attr(el, "ZoneId"),
        name=_req_text(el, "SIF_Name"),
        icon=_opt_text(el, "SIF_Icon"),
        vendor=_r_application(_child(el, "SIF_Vendor"), first="SIF_Name"),
        nodes=tuple(_r_node(n) for n in _children(nodes, "SIF_SIFNode")) if nodes is not None else (),
        supported_authentication=tuple(_text(p) for p in _children(auth, "SIF_ProtocolName")) if auth is not None else (),
        supported_protocols=tuple(_r_protocol(p) for p in _children(_req(el, "SIF_SupportedProtocols"), "SIF_Protocol")),
        supported_versions=tuple(_text(v) for v in _children(_req(el, "SIF_SupportedVersions"), "SIF_Version")),
        administration_url=_opt_text(el, "SIF_AdministrationURL"),
        contexts=_r_contexts(el),
        **{name: _r_holders(el, tag, item) for name, tag, item in ZONE_STATUS_LISTS},
    )


def _r_nillable(el: etree._Element, name: str) -> str | None:
    child = _req(el, name)
    if _is_nil(child) and not (child.text or "").strip():
        return None
    return _text(child)


def _r_ack(el, header, version):
    original_source = _r_nillable(el, "SIF_OriginalSourceId")
    original_msg = _r_nillable(el, "SIF_OriginalMsgId")
    err = _child(el, "SIF_Error")
    if err is not None:
        return Ack(header=header, version=version, original_source_id=original_source,
                   original_msg_id=original_msg, error=read_error(err))
    st = _child(el, "SIF_Status")
    if st is None:
        raise missing("SIF_Ack must contain SIF_Status or SIF_Error", line=el.sourceline, element=_path(el))
    data = None
    d_el = _child(st, "SIF_Data")
    if d_el is not None:
        inner = [c for c in d_el if isinstance(c.tag, str)]
        if len(inner) != 1:
            raise invalid("SIF_Status/SIF_Data must hold exactly one element", line=d_el.sourceline,
                          element=_path(d_el))
        name = etree.QName(inner[0]).localname
        if name == "SIF_Message":
            data = read(inner[0])
        elif name == "SIF_AgentACL":
            data = _r_acl(inner[0])
        elif name == "SIF_ZoneStatus":
            data = _r_zone_status(inner[0])
        else:
            raise invalid(f"SIF_Status/SIF_Data cannot hold {name}", line=inner[0].sourceline,
                          element=_path(inner[0]))
    return Ack(
        header=header,
        version=version,
        original_source_id=original_source,
        original_msg_id=original_msg,
        status=Status(code=_int(st, "SIF_Code"), desc=_opt_text(st, "SIF_Desc"), data=data),
    )


def _r_system_control(el, header, version):
    data = _req(el, "SIF_SystemControlData")
    inner = [c for c in data if isinstance(c.tag, str)]
    if len(inner) != 1:
        raise missing("SIF_SystemControlData must hold exactly one command", line=data.sourceline,
                      element=_path(data))
    cmd_el = inner[0]
    name = etree.QName(cmd_el).localname
    cls = COMMANDS.get(name)
    if cls is None or etree.QName(cmd_el).namespace != NS:
        raise unsupported_message(f"SIF_SystemControl command {name} is not supported",
                                  line=cmd_el.sourceline, element=_path(cmd_el))
    if cls is CancelRequests:
        ids = _req(cmd_el, "SIF_RequestMsgIds")
        command = CancelRequests(
            notification_type=_req_text(cmd_el, "SIF_NotificationType"),
            request_msg_ids=tuple(_text(i) for i in _children(ids, "SIF_RequestMsgId")),
        )
    else:
        command = cls()
    return SystemControl(header=header, version=version, command=command)


_READERS: dict[str, Callable] = {
    "SIF_Ack": _r_ack,
    "SIF_Event": _r_event,
    "SIF_Provide": _r_object_list(MESSAGE_TYPES["SIF_Provide"]),
    "SIF_Provision": _r_provision,
    "SIF_Register": _r_register,
    "SIF_Request": _r_request,
    "SIF_Response": _r_response,
    "SIF_Subscribe": _r_object_list(MESSAGE_TYPES["SIF_Subscribe"]),
    "SIF_SystemControl": _r_system_control,
    "SIF_Unprovide": _r_object_list(MESSAGE_TYPES["SIF_Unprovide"]),
    "SIF_Unregister": lambda el, header, version: MESSAGE_TYPES["SIF_Unregister"](header=header, version=version),
    "SIF_Unsubscribe": _r_object_list(MESSAGE_TYPES["SIF_Unsubscribe"]),
}


def envelope(root: etree._Element) -> tuple[str, etree._Element]:
    """Check the SIF_Message envelope; return (version, body element).

    Refusals: 1.x namespace or unsupported Version → 12/3; another namespace or root
    → 1/3; a body we do not know (including 2.4 zone-service messages) → 12/2.
    """
    qn = etree.QName(root)
    if qn.namespace == NS_1X:
        raise SIFError(12, 3, "SIF 1.x messages are not supported; send SIF 2.x "
                       f"(namespace {NS})", line=root.sourceline, element=qn.localname)
    if qn.localname != "SIF_Message" or qn.namespace != NS:
        raise invalid(
            f"Root element must be SIF_Message in namespace {NS}; got {quote(qn.localname)} in "
            f"{quote(qn.namespace or 'no namespace')}", line=root.sourceline, element=qn.localname[:64])
    version = root.get("Version")
    if version is None:
        raise missing("SIF_Message: required attribute Version is missing", line=root.sourceline,
                      element="SIF_Message/@Version")
    version = version.strip()
    if not versions.is_version(version):
        raise invalid_value(f"SIF_Message/@Version {quote(version)} is not a SIF version (e.g. 2.0r1, 2.3)",
                            line=root.sourceline, element="SIF_Message/@Version")
    versions.check_supported(version)
    body = [c for c in root if isinstance(c.tag, str)]
    if not body:
        raise missing("SIF_Message is empty: it must hold one message (SIF_Register, SIF_Request, ...)",
                      line=root.sourceline, element="SIF_Message")
    if len(body) != 1:
        raise invalid("SIF_Message must contain exactly one message element", line=root.sourceline,
                      element="SIF_Message")
    b = body[0]
    bq = etree.QName(b)
    if bq.namespace != NS:
        raise invalid(f"Message element {quote(bq.localname)} must be in the SIF namespace {NS}",
                      line=b.sourceline, element=f"SIF_Message/{bq.localname[:64]}")
    if bq.localname not in _READERS:
        raise unsupported_message(f"Message type {quote(bq.localname)} is not supported by this implementation",
                                  line=b.sourceline, element=f"SIF_Message/{bq.localname[:64]}")
    return version, b


def read(root: etree._Element) -> Message:
    """Read an already-parsed (and ideally validated) SIF_Message element."""
    version, body = envelope(root)
    return _READERS[etree.QName(body).localname](body, _r_header(body), version)


def parse(
    data: bytes,
    *,
    validate: bool = True,
    lenient: bool = False,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Message:
    """Untrusted bytes → typed message, or SIFError with the category/code to answer with."""
    root = parse_xml(data, max_bytes=max_bytes)
    envelope(root)
    if validate:
        from .validate import check

        check(root, lenient=lenient)
    return read(root)
