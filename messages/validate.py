"""Validate SIF 2.x messages against the project's own schemas (``xsd/sif2x``).

Two modes share one set of files:

* **strict** — the schemas as written: data-model cardinality is enforced
  (``StudentLocator/StateProvinceId`` must be present, ``StudentPersonal/LocalId``
  too, ...). Use it for everything we send.
* **lenient** — derived at load time: inside the data-model files every
  ``xs:element`` gets ``minOccurs="0"``, as the official "SIF_Message" flavour
  schemas do. GUID patterns, enumerations, attributes and the whole
  infrastructure stay enforced. Use it for what imperfect peers send us.

One superset schema serves 2.0 ... 2.6; the few version differences that matter
are checked in Python after schema validation (:func:`_version_rules`).
Before the schema runs, the envelope is checked so that a 1.x message, an
unsupported version or an unknown message gets its proper SIF code (12/3, 12/2)
instead of a generic validation error.

libxml2's errors are turned into :class:`Finding` objects carrying a SIF
category/code (1/3 structure, 1/4 value, 1/6 missing), the line, a readable
element path and a plain-language sentence saying what is wrong and how to
fix it.
"""

from __future__ import annotations

import re
import threading
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from . import versions
from .codes import ErrorCategory, GenericCode, XmlValidationCode
from .errors import SIFError
from .xmlsafe import parse_xml

__all__ = [
    "Finding",
    "validate",
    "check",
    "validate_bytes",
    "SIF_NS",
    "SIF1_NS",
    "XSD_DIR",
]

SIF_NS = "http://www.sifinfo.org/infrastructure/2.x"
SIF1_NS = "http://www.sifinfo.org/infrastructure/1.x"

#: Where the schema files live; SIF_Message.xsd includes the others.
XSD_DIR = Path(__file__).resolve().parent.parent / "xsd" / "sif2x"
ROOT_XSD = "SIF_Message.xsd"

#: Files whose elements become optional in lenient mode (the data model).
DATA_MODEL_XSDS = frozenset(
    {
        "common-types.xsd",
        "StudentLocator.xsd",
        "StudentPersonal.xsd",
        "StudentSchoolEnrollment.xsd",
        "SchoolInfo.xsd",
    }
)

_XS = "{http://www.w3.org/2001/XMLSchema}"
_S = "{" + SIF_NS + "}"
_MESSAGE_TAG = _S + "SIF_Message"
_ERROR_TAG = _S + "SIF_Error"
_CANCEL_TAG = _S + "SIF_CancelRequests"

#: The twelve SIF 2.x messages this implementation handles.
MESSAGES = (
    "SIF_Ack",
    "SIF_Event",
    "SIF_Provide",
    "SIF_Provision",
    "SIF_Register",
    "SIF_Request",
    "SIF_Response",
    "SIF_Subscribe",
    "SIF_SystemControl",
    "SIF_Unprovide",
    "SIF_Unregister",
    "SIF_Unsubscribe",
)
_MESSAGE_TAGS = frozenset(_S + m for m in MESSAGES)
_SYSTEM_CONTROL_TAGS = frozenset(
    _S + m
    for m in (
        "SIF_Ping",
        "SIF_Sleep",
        "SIF_Wakeup",
        "SIF_GetMessage",
        "SIF_GetZoneStatus",
        "SIF_GetAgentACL",
        "SIF_CancelRequests",
    )
)
_ZONE_SERVICE_MESSAGES = {"SIF_ServiceInput", "SIF_ServiceOutput", "SIF_ServiceNotify"}

_V21 = (2, 1, 0)
_V24 = (2, 4, 0)


# --------------------------------------------------------------------------
# Findings
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One problem with a message: SIF code, plain-language text, where."""

    category: int
    code: int
    message: str
    line: int | None = None
    element: str | None = None

    def to_error(self) -> SIFError:
        return SIFError(self.category, self.code, self.message, line=self.line, element=self.element)

    def __str__(self) -> str:
        return f"{self.category}/{self.code} {self.message}"


def _f(category: int, code: int, message: str, line: int | None, element: str | None) -> Finding:
    # Messages may quote hostile input; keep them bounded like SIF_Desc (1024 characters).
    if len(message) > 1024:
        message = message[:1023] + "…"
    if element and len(element) > 256:
        element = element[:255] + "…"
    return Finding(int(category), int(code), message, line if line and line > 0 else None, element)


def _fl(category: int, code: int, message: str, line: int | None, element: str | None) -> Finding:
    """Like _f, with " (line N)" appended to the message when the line is known."""
    return _f(category, code, message + _at_line(line), line, element)


_XML = ErrorCategory.XML_VALIDATION
_STRUCTURE = XmlValidationCode.GENERIC_VALIDATION  # 1/3
_VALUE = XmlValidationCode.INVALID_VALUE  # 1/4
_MISSING = XmlValidationCode.MISSING_MANDATORY  # 1/6


# --------------------------------------------------------------------------
# Schema loading (lazy, cached; strict and lenient from the same files)
# --------------------------------------------------------------------------

_lock = threading.RLock()
_sources: dict[bool, dict[str, bytes]] = {}
_indexes: dict[bool, "_ModelIndex"] = {}
_local = threading.local()


def _plain_parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, remove_comments=True
    )


def _relax(data: bytes) -> bytes:
    """Lenient flavour of one data-model file: every local element optional."""
    tree = etree.fromstring(data, _plain_parser())
    for el in tree.iter(_XS + "element"):
        if el.getparent() is not tree:  # global declarations take no minOccurs
            el.set("minOccurs", "0")
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")


def _schema_sources(lenient: bool) -> dict[str, bytes]:
    """File name -> schema bytes for the mode (read and transformed once)."""
    src = _sources.get(lenient)
    if src is not None:
        return src
    with _lock:
        src = _sources.get(lenient)
        if src is None:
            src = {}
            for path in sorted(XSD_DIR.glob("*.xsd")):
                data = path.read_bytes()
                if lenient and path.name in DATA_MODEL_XSDS:
                    data = _relax(data)
                src[path.name] = data
            if ROOT_XSD not in src:
                raise FileNotFoundError(f"{XSD_DIR / ROOT_XSD} is missing")
            _sources[lenient] = src
    return src


class _LocalSchemaResolver(etree.Resolver):
    """Serves xs:include targets from memory; nothing else is ever fetched."""

    def __init__(self, sources: dict[str, bytes]) -> None:
        super().__init__()
        self._sources = sources

    def resolve(self, url, pubid, context):  # noqa: D401 - lxml API
        name = (url or "").replace("\\", "/").rsplit("/", 1)[-1]
        data = self._sources.get(name)
        if data is None:
            raise etree.XMLSchemaParseError(f"schema {url!r} is not part of {XSD_DIR}")
        return self.resolve_string(data, context, base_url=str(XSD_DIR / name))


def _compile(lenient: bool) -> etree.XMLSchema:
    sources = _schema_sources(lenient)
    parser = _plain_parser()
    parser.resolvers.add(_LocalSchemaResolver(sources))
    doc = etree.fromstring(sources[ROOT_XSD], parser, base_url=str(XSD_DIR / ROOT_XSD))
    return etree.XMLSchema(doc)


def schema(lenient: bool = False) -> etree.XMLSchema:
    """The compiled schema for the mode (one per thread: lxml validators keep
    their error log on the object, so they are not shared between threads)."""
    cache = getattr(_local, "schemas", None)
    if cache is None:
        cache = _local.schemas = {}
    compiled = cache.get(lenient)
    if compiled is None:
        compiled = cache[lenient] = _compile(lenient)
    return compiled


# --------------------------------------------------------------------------
# A small index of the content models, used only to word error messages
# --------------------------------------------------------------------------


class _ModelIndex:
    """Which children each element name may have, and which are mandatory.

    Keyed by element local name, united over every place the name is declared;
    it only has to tell "a mandatory element is missing" from "this element is
    misplaced or unknown" after libxml2 reported a content error.
    """

    def __init__(self, sources: dict[str, bytes]) -> None:
        self.allowed: dict[str, set[str]] = defaultdict(set)
        self.required: dict[str, set[str]] = defaultdict(set)
        self.open: set[str] = set()  # element names whose content has a wildcard
        docs = [etree.fromstring(data, _plain_parser()) for data in sources.values()]
        self._types: dict[str, etree._Element] = {}
        self._groups: dict[str, etree._Element] = {}
        for doc in docs:
            for node in doc:
                name = node.get("name")
                if node.tag == _XS + "complexType" and name:
                    self._types[name] = node
                elif node.tag == _XS + "group" and name:
                    self._groups[name] = node
        for doc in docs:
            for decl in doc.iter(_XS + "element"):
                name = decl.get("name")
                if not name:
                    continue
                for child, required in self._children_of_element(decl):
                    if child is None:
                        self.open.add(name)
                        continue
                    self.allowed[name].add(child)
                    if required:
                        self.required[name].add(child)

    @staticmethod
    def _local(qname: str | None) -> str:
        return (qname or "").rsplit(":", 1)[-1]

    def _children_of_element(self, decl):
        inline = decl.find(_XS + "complexType")
        if inline is not None:
            yield from self._model(inline, True, set())
        elif decl.get("type"):
            ctype = self._types.get(self._local(decl.get("type")))
            if ctype is not None:
                yield from self._model(ctype, True, set())

    def _model(self, node, required: bool, seen: set):
        for item in node:
            tag = item.tag
            if not isinstance(tag, str):
                continue
            once = item.get("minOccurs", "1") != "0"
            if tag == _XS + "element":
                name = item.get("name") or self._local(item.get("ref"))
                yield name, required and once
            elif tag == _XS + "any":
                yield None, False
            elif tag == _XS + "sequence":
                yield from self._model(item, required and once, seen)
            elif tag == _XS + "choice":
                members = [c for c in item if c.tag == _XS + "element"]
                yield from self._model(item, required and once and len(members) == 1, seen)
            elif tag == _XS + "group":
                group = self._groups.get(self._local(item.get("ref")))
                if group is not None:
                    yield from self._model(group, required and once, seen)
            elif tag in (_XS + "complexContent", _XS + "simpleContent"):
                for deriv in item:
                    if not isinstance(deriv.tag, str):
                        continue
                    base = self._local(deriv.get("base"))
                    if base in self._types and base not in seen:
                        yield from self._model(self._types[base], required, seen | {base})
                    yield from self._model(deriv, required, seen)


def _index(lenient: bool) -> _ModelIndex:
    idx = _indexes.get(lenient)
    if idx is None:
        with _lock:
            idx = _indexes.get(lenient)
            if idx is None:
                idx = _indexes[lenient] = _ModelIndex(_schema_sources(lenient))
    return idx


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------


def validate(root, *, version: str | None = None, lenient: bool = False) -> list[Finding]:
    """Check one SIF message; an empty list means it is valid.

    ``root`` is the SIF_Message element (or its tree). ``version`` overrides
    SIF_Message/@Version for the version-specific rules (e.g. the version
    negotiated with the peer). ``lenient`` relaxes data-object cardinality.
    """
    if isinstance(root, etree._ElementTree):
        root = root.getroot()
    if root.tag != _MESSAGE_TAG:
        return [_root_finding(root)]

    if version is None:
        version = root.get("Version")
    if version is not None and versions.is_version(version) and version not in versions.SUPPORTED:
        return [_unsupported_version(root, version)]

    early = _message_kind_finding(root)
    if early is not None:
        return [early]

    over = _over_budget(root)
    if over is not None:
        return [over]
    if not lenient and _partial_event(root):
        # A Change or Delete event carries only the key and what changed (SIF 2.x events
        # are partial objects): data-model cardinality applies to Adds and responses only.
        lenient = True
    compiled = schema(lenient)
    objects = _payload_objects(root)
    if len(objects) > _ONE_BY_ONE:
        # Many objects: validate them one at a time and stop at the first bad one, so a
        # hostile packet of thousands of invalid objects costs one object's error log.
        for obj in objects:
            if obj.tag in _OBJECT_TAGS and not compiled.validate(obj):
                return _explain(compiled.error_log, obj, lenient)[:_MAX_FINDINGS]
    if compiled.validate(root):
        findings: list[Finding] = []
    else:
        findings = _explain(compiled.error_log, root, lenient)[:_MAX_FINDINGS]

    if version is not None and versions.is_version(version):
        findings.extend(_version_rules(root, version))
    mixed = _mixed_payload(root)
    if mixed is not None:
        findings.append(mixed)
    return findings


def check(root, *, version: str | None = None, lenient: bool = False) -> None:
    """Raise the first finding as a :class:`SIFError`; return quietly if valid."""
    findings = validate(root, version=version, lenient=lenient)
    if findings:
        raise findings[0].to_error()


def validate_bytes(data: bytes, **kw) -> list[Finding]:
    """Parse with the hardened parser, then :func:`validate`.

    A message that cannot be parsed yields one finding (1/2 not well-formed).
    """
    try:
        root = parse_xml(data)
    except SIFError as exc:
        return [_f(exc.category, exc.code, exc.desc, exc.line, exc.element)]
    return validate(root, **kw)


# --------------------------------------------------------------------------
# Resource budget: bounded work for hostile input
# --------------------------------------------------------------------------

_ONE_BY_ONE = 16  # more payload objects than this are validated one at a time
_MAX_FINDINGS = 50
MAX_ATTRIBUTES = 64  # per element; SIF elements carry at most a handful
MAX_OBJECT_ELEMENTS = 5_000  # elements in one payload object
MAX_ENVELOPE_ELEMENTS = 5_000  # elements outside payload objects
_PAYLOAD_PARENTS = frozenset(_S + n for n in ("SIF_ObjectData", "SIF_EventObject", "SIF_Example"))
_OBJECT_TAGS = frozenset(_S + n for n in ("StudentLocator", "StudentPersonal", "StudentSchoolEnrollment",
                                          "SchoolInfo"))


def _partial_event(root) -> bool:
    obj = root.find(f"{_S}SIF_Event/{_S}SIF_ObjectData/{_S}SIF_EventObject")
    return obj is not None and obj.get("Action") in ("Change", "Delete")


def _payload_objects(root) -> list:
    return [child for parent in root.iter(*_PAYLOAD_PARENTS) for child in parent if isinstance(child.tag, str)]


def _over_budget(root) -> Finding | None:
    """Refuse shapes no SIF message has before the schema validator sees them.

    libxml2 reports every schema error with a path whose cost grows with the number of
    siblings, so thousands of errors cost seconds; these limits keep the number of
    possible errors per validation small.
    """
    objects = _payload_objects(root)
    inside = 0
    for obj in objects:
        size = sum(1 for _ in obj.iter())
        inside += size
        if size > MAX_OBJECT_ELEMENTS:
            return _f(_XML, _STRUCTURE, f"{etree.QName(obj).localname[:64]} has {size} elements; one SIF "
                      f"object may have at most {MAX_OBJECT_ELEMENTS}", obj.sourceline, None)
    total = 0
    for el in root.iter():
        total += 1
        if len(el.attrib) > MAX_ATTRIBUTES:
            return _f(_XML, _STRUCTURE, f"An element carries {len(el.attrib)} attributes; SIF elements carry at "
                      f"most a few (limit {MAX_ATTRIBUTES})", el.sourceline, None)
    if total - inside > MAX_ENVELOPE_ELEMENTS:
        return _f(_XML, _STRUCTURE, f"The message has {total - inside} elements outside its objects; a SIF "
                  f"envelope has a few dozen (limit {MAX_ENVELOPE_ELEMENTS})", root.sourceline, "SIF_Message")
    return None


# --------------------------------------------------------------------------
# Envelope checks made before the schema
# --------------------------------------------------------------------------


def _split(tag) -> tuple[str | None, str]:
    if not isinstance(tag, str):
        return None, ""
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return None, tag


def _root_finding(root) -> Finding:
    ns, local = _split(root.tag)
    line = root.sourceline
    if ns == SIF1_NS:
        return _fl(
            ErrorCategory.GENERIC,
            GenericCode.VERSION_NOT_SUPPORTED,
            f"This is a SIF 1.x message (namespace {SIF1_NS}); only SIF 2.x is supported — "
            f"send it with xmlns=\"{SIF_NS}\" and a 2.x Version such as 2.0r1",
            line,
            local or None,
        )
    if local == "SIF_Message":
        where = f"namespace {ns}" if ns else "no namespace"
        return _fl(
            _XML,
            _STRUCTURE,
            f"SIF_Message is in {where}; SIF 2.x messages must use "
            f"xmlns=\"{SIF_NS}\"",
            line,
            "SIF_Message",
        )
    shown = local if ns in (None, SIF_NS) else f"{{{ns}}}{local}"
    return _fl(
        _XML,
        _STRUCTURE,
        f"The document element is {shown}, not SIF_Message — every SIF message is one "
        f"<SIF_Message xmlns=\"{SIF_NS}\" Version=\"...\"> element",
        line,
        local or None,
    )


def _unsupported_version(root, version: str) -> Finding:
    supported = ", ".join(versions.SUPPORTED)
    return _fl(
        ErrorCategory.GENERIC,
        GenericCode.VERSION_NOT_SUPPORTED,
        f"SIF version {version} is not supported; send Version set to one of {supported}",
        root.sourceline,
        "SIF_Message/@Version",
    )


def _message_kind_finding(root) -> Finding | None:
    """12/2 for a SIF_Message holding a message we do not handle."""
    for child in root:
        tag = child.tag
        if tag in _MESSAGE_TAGS:
            if tag == _S + "SIF_SystemControl":
                return _system_control_kind(child)
            continue
        ns, local = _split(tag)
        if ns != SIF_NS:
            continue  # comments, foreign elements: the schema reports them (1/3)
        if local in _ZONE_SERVICE_MESSAGES:
            text = (
                f"{local} is a SIF 2.4 zone-service message; this implementation handles the "
                f"object messages only ({', '.join(MESSAGES)})"
            )
        else:
            text = f"{local} is not a SIF 2.x message; a SIF_Message holds one of {', '.join(MESSAGES)}"
        return _fl(
            ErrorCategory.GENERIC,
            GenericCode.MESSAGE_NOT_SUPPORTED,
            text,
            child.sourceline,
            f"SIF_Message/{local}",
        )
    return None


def _system_control_kind(message) -> Finding | None:
    data = message.find(_S + "SIF_SystemControlData")
    if data is None:
        return None
    for child in data:
        ns, local = _split(child.tag)
        if ns == SIF_NS and child.tag not in _SYSTEM_CONTROL_TAGS:
            return _fl(
                ErrorCategory.GENERIC,
                GenericCode.MESSAGE_NOT_SUPPORTED,
                f"SIF_SystemControl command {local} is not supported; use SIF_Ping, SIF_Sleep, "
                "SIF_Wakeup, SIF_GetMessage, SIF_GetZoneStatus, SIF_GetAgentACL or SIF_CancelRequests",
                child.sourceline,
                f"SIF_Message/SIF_SystemControl/SIF_SystemControlData/{local}",
            )
    return None


# --------------------------------------------------------------------------
# Version rules made after the schema
# --------------------------------------------------------------------------


def _owner_version(node, outer, outer_version: str) -> str | None:
    for anc in node.iterancestors(_MESSAGE_TAG):
        return outer_version if anc is outer else anc.get("Version")
    return outer_version


def _version_rules(root, version: str) -> list[Finding]:
    """Things the superset schema accepts but an older version does not."""
    findings: list[Finding] = []
    for node in root.iter(_ERROR_TAG, _CANCEL_TAG, _MESSAGE_TAG):
        if node.tag == _MESSAGE_TAG:
            if node is root:
                continue
            inner = node.get("Version")
            if inner and versions.is_version(inner) and inner not in versions.SUPPORTED:
                findings.append(
                    _fl(
                        ErrorCategory.GENERIC,
                        GenericCode.VERSION_NOT_SUPPORTED,
                        f"The enclosed message says SIF version {inner}, which is not supported; "
                        f"use one of {', '.join(versions.SUPPORTED)}",
                        node.sourceline,
                        _readable(node, root) + "/@Version",
                    )
                )
            continue
        owner = _owner_version(node, root, version)
        if not owner or not versions.is_version(owner):
            continue
        key = versions.key(owner)
        if node.tag == _CANCEL_TAG:
            if key < _V21:
                findings.append(
                    _fl(
                        ErrorCategory.GENERIC,
                        GenericCode.MESSAGE_NOT_SUPPORTED,
                        f"SIF_CancelRequests exists from SIF 2.1 on; this message is version {owner} "
                        "— send it as 2.1 or later, or wait for the responses instead",
                        node.sourceline,
                        _readable(node, root),
                    )
                )
            continue
        if key >= _V24:
            continue
        finding = _old_error_code(node, root, owner)
        if finding is not None:
            findings.append(finding)
    return findings


def _old_error_code(error, root, owner: str) -> Finding | None:
    category = (error.findtext(_S + "SIF_Category") or "").strip()
    code = (error.findtext(_S + "SIF_Code") or "").strip()
    infrastructure = error.getparent() is not None and error.getparent().tag in (
        _S + "SIF_Ack",
        _S + "SIF_Response",
    )
    if category == "14":
        where, what = "SIF_Category", "Error category 14 (SIF zone services)"
    elif infrastructure and (category, code) in {("4", "13"), ("4", "14"), ("4", "15"), ("8", "19")}:
        where, what = "SIF_Code", f"Error {category}/{code}"
    else:
        return None
    node = error.find(_S + where)
    return _fl(
        _XML,
        _VALUE,
        f"{what} exists from SIF 2.4 on; this message is version {owner} — use a code "
        "defined for that version (e.g. the category's generic code 1)",
        node.sourceline if node is not None else error.sourceline,
        _readable(error, root) + "/" + where,
    )


def _mixed_payload(root) -> Finding | None:
    """One SIF_Response packet carries objects of one kind (the official
    schemas say so per object; a wildcard cannot)."""
    data = root.find(_S + "SIF_Response/" + _S + "SIF_ObjectData")
    if data is None or len(data) < 2:
        return None
    first_tag = None
    for obj in data:
        if not isinstance(obj.tag, str):
            continue
        if first_tag is None:
            first_tag = obj.tag
        elif obj.tag != first_tag:
            kinds = (etree.QName(first_tag).localname, etree.QName(obj).localname)
            return _fl(
                _XML,
                _STRUCTURE,
                f"SIF_ObjectData mixes {kinds[0]} and {kinds[1]} objects; a SIF_Response carries "
                "only objects of the requested kind",
                obj.sourceline,
                _readable(obj, root),
            )
    return None


# --------------------------------------------------------------------------
# libxml2 errors -> findings
# --------------------------------------------------------------------------

_EXPECTED_RE = re.compile(r"Expected is (?:one of )?\( (.*?) \)")
_QNAME_RE = re.compile(r"\{[^}]*\}([A-Za-z_][\w.\-]*)")
_HEAD_RE = re.compile(r"^Element '[^']*', attribute '([^']+)': ")
_ENUM_RE = re.compile(r"set \{(.*)\}")
_BOUND_RE = re.compile(r"\('([^']*)'\)\.?$")
_LENGTH_RE = re.compile(r"length of '(\d+)'.*(?:maximum|minimum) length of '(\d+)'")
_ATOMIC_RE = re.compile(r"of the (?:atomic|union|list) type '([^']+)'")
_PREFIX_RE = re.compile(r"^Element '[^']*'(?:, attribute '[^']*')?: (?:\[facet '[^']*'\] )?")

_VALUE_ERRORS = {
    "SCHEMAV_CVC_PATTERN_VALID",
    "SCHEMAV_CVC_ENUMERATION_VALID",
    "SCHEMAV_CVC_LENGTH_VALID",
    "SCHEMAV_CVC_MINLENGTH_VALID",
    "SCHEMAV_CVC_MAXLENGTH_VALID",
    "SCHEMAV_CVC_MININCLUSIVE_VALID",
    "SCHEMAV_CVC_MAXINCLUSIVE_VALID",
    "SCHEMAV_CVC_MINEXCLUSIVE_VALID",
    "SCHEMAV_CVC_MAXEXCLUSIVE_VALID",
    "SCHEMAV_CVC_TOTALDIGITS_VALID",
    "SCHEMAV_CVC_FRACTIONDIGITS_VALID",
    "SCHEMAV_CVC_DATATYPE_VALID_1_2_1",
    "SCHEMAV_CVC_DATATYPE_VALID_1_2_2",
    "SCHEMAV_CVC_DATATYPE_VALID_1_2_3",
    "SCHEMAV_CVC_ATTRIBUTE_3",
    "SCHEMAV_CVC_ELT_5_2_2",
    "SCHEMAV_CVC_AU",
}
_ATTR_NOT_ALLOWED = {"SCHEMAV_CVC_COMPLEX_TYPE_3_2_1", "SCHEMAV_CVC_COMPLEX_TYPE_3_2_2"}

_FRIENDLY_TYPES = {
    "xs:date": "date written YYYY-MM-DD",
    "xs:dateTime": "date-time written YYYY-MM-DDThh:mm:ss with an optional zone, e.g. 2008-03-17T10:15:00-05:00",
    "xs:gYear": "year written YYYY",
    "xs:gYearMonth": "year-month written YYYY-MM",
    "xs:unsignedInt": "whole number from 0 to 4294967295",
    "xs:positiveInteger": "whole number of 1 or more",
    "xs:boolean": "boolean (true, false, 1 or 0)",
    "xs:decimal": "decimal number",
    "xs:anyURI": "URI",
    "xs:NCName": "XML name (letters, digits, '_', '-', '.'; no spaces or colons)",
    "MsgIdType": "GUID",
    "GUIDType": "GUID",
    "RefIdType": "GUID",
    "IdRefType": "GUID",
    "PartialDateType": "date, year-month or year (YYYY-MM-DD, YYYY-MM or YYYY)",
    "ObjectNameType": "SIF object name (letters, digits and '_', no spaces, at most 64 characters)",
    "ErrorCodeType": "SIF error code (a number from the category's code list, 1-19)",
    "VersionType": "SIF version such as 2.0r1 or 2.3",
    "VersionWithWildcardsType": "SIF version or wildcard such as 2.0r1, 2.*, 2.0r* or *",
}

_GUID_TEXT = "must be 32 uppercase hexadecimal digits without dashes or braces (a SIF GUID)"

#: What to say when a mandatory element is absent.
_MISSING_HINTS = {
    "SIF_Header": "every message starts with a SIF_Header (SIF_MsgId, SIF_Timestamp, SIF_SourceId)",
    "SIF_MsgId": "every message needs a new GUID (32 uppercase hex digits) in SIF_Header/SIF_MsgId",
    "SIF_Timestamp": "stamp every message with the time it was made, e.g. 2008-03-17T10:15:00-05:00",
    "SIF_SourceId": "every message must name its sender: put the agent's (or the ZIS's) id in "
    "SIF_Header/SIF_SourceId",
    "SIF_OriginalSourceId": "an acknowledgement names the sender of the message it acknowledges "
    "(use xsi:nil=\"true\" when that message could not be read)",
    "SIF_OriginalMsgId": "an acknowledgement names the SIF_MsgId of the message it acknowledges "
    "(use xsi:nil=\"true\" when that message could not be read)",
    "SIF_Version": "list the SIF versions accepted, e.g. <SIF_Version>2.*</SIF_Version>",
    "SIF_MaxBufferSize": "state the largest message, in bytes, that can be received",
    "SIF_Mode": "register as Push or Pull",
    "SIF_Name": "give the agent (or zone) a display name",
    "SIF_RequestMsgId": "a response names the SIF_MsgId of the request it answers",
    "SIF_PacketNumber": "number the response packets from 1",
    "SIF_MorePackets": "say Yes on every packet but the last, No on the last",
    "SIF_Category": "a SIF_Error needs SIF_Category, SIF_Code and SIF_Desc",
    "SIF_Code": "give the numeric code",
    "SIF_Desc": "describe the problem in SIF_Desc (up to 1024 characters)",
    "SIF_QueryObject": "a SIF_Query starts with <SIF_QueryObject ObjectName=\"...\"/>",
    "SIF_Contexts": "list the contexts, at least <SIF_Context>SIF_Default</SIF_Context>",
    "StateProvinceId": "write an empty <StateProvinceId/> when the state id is not known",
    "LocalId": "the district's own id for the student is mandatory in StudentPersonal",
    "Name": "the student's name of record (Type=\"04\") is mandatory",
    "LastName": "a name needs at least LastName and FirstName",
    "FirstName": "a name needs at least LastName and FirstName",
    "EntryDate": "an enrollment must say the day it starts",
    "SchoolName": "a school must have a name",
    "Relationship": "a contact must say how it relates to the student (NCES 0609 code)",
}


#: What to say when a mandatory attribute is absent.
_ATTR_HINTS = {
    "Version": "SIF_Message must carry the SIF version of the message, e.g. Version=\"2.0r1\"",
    "TransactionId": "every StudentLocator carries the GUID that ties one lookup's requests and "
    "responses together",
    "IdStatus": "say what the StudentLocator is: Request, Release, Valid, Ambiguous, Resolve, New, "
    "Cancel, Cancelled or Error",
    "RefId": "every SIF object carries its GUID in RefId",
    "SchoolYear": "give the school year as the year it ends, e.g. SchoolYear=\"2008\" for 2007-08",
    "MembershipType": "say Home, Concurrent or Summer",
    "TimeFrame": "say Current, Historical or Future",
    "StudentPersonalRefId": "point at the student's StudentPersonal RefId (GUID)",
    "SchoolInfoRefId": "point at the school's SchoolInfo RefId (GUID)",
    "Action": "say Add, Change or Delete",
    "ZoneId": "name the zone",
    "ObjectName": "name the SIF object, e.g. ObjectName=\"StudentLocator\"",
    "Name": "name the extended element, e.g. Name=\"DistrictProgramCode\"",
}

#: Attribute names too generic to stand alone in a sentence.
_GENERIC_ATTRS = {
    "Type", "Code", "Name", "ObjectName", "Action", "Codeset", "Severity", "SIF_RefObject",
    "SIF_Action", "Secure", "Ordering", "Distinct", "RowCount", "Alias", "SourceId",
}


def _nsmap(root) -> dict[str, str]:
    found: dict[str, str] = {}
    for el in root.iter():
        for prefix, uri in (el.nsmap or {}).items():
            if prefix and prefix not in found:
                found[prefix] = uri
    return found


def _node_at(root, path: str | None, cache: dict):
    if not path:
        return None
    if path in cache:
        return cache[path]
    node = None
    try:
        if "ns" not in cache:
            cache["ns"] = _nsmap(root)
        # The path is absolute in the document libxml2 validated, whose root is
        # ``root`` (lxml validates an inner element as its own document), so
        # drop the first step and walk from ``root``.
        steps = path.strip("/").split("/")[1:]
        hits = root.xpath("./" + "/".join(steps), namespaces=cache["ns"]) if steps else [root]
        if hits and isinstance(hits[0], etree._Element):
            node = hits[0]
    except (etree.XPathError, TypeError, ValueError):
        node = None
    cache[path] = node
    return node


def _readable(node, root=None) -> str:
    names = []
    while node is not None:
        if isinstance(node.tag, str):
            names.append(etree.QName(node).localname)
        if node is root:
            break
        node = node.getparent()
    return "/".join(reversed(names))


def _readable_path_text(path: str | None) -> str | None:
    """Fallback when the node cannot be found: '/sif:A/sif:B[1]' -> 'A/B'."""
    if not path:
        return None
    parts = [re.sub(r"\[\d+\]$", "", p).rsplit(":", 1)[-1] for p in path.strip("/").split("/")]
    return "/".join(parts)


def _short(path: str | None) -> str:
    """The last two steps of a readable path, for sentences."""
    if not path:
        return "the message"
    parts = path.split("/")
    return "/".join(parts[-2:]) if len(parts) > 1 else parts[0]


def _at_line(line: int | None) -> str:
    return f" (line {line})" if line and line > 0 else ""


def _explain(error_log, root, lenient: bool) -> list[Finding]:
    findings: list[Finding] = []
    seen: set = set()
    cache: dict = {}
    suppressed = 0
    for entry in error_log:
        node = _node_at(root, entry.path, cache)
        where = _readable(node, root) if node is not None else _readable_path_text(entry.path)
        line = entry.line if entry.line and entry.line > 0 else (node.sourceline if node is not None else None)
        message = entry.message or ""
        head = _HEAD_RE.match(message)
        attr = head.group(1) if head else None
        key = (id(node) if node is not None else entry.path, attr, entry.type_name in _VALUE_ERRORS)
        if key in seen:
            continue  # libxml2 reports a facet failure twice (facet, then type)
        seen.add(key)
        finding = _one(entry, message, node, where, line, attr, root, lenient)
        if finding is not None:
            findings.append(finding)
        else:
            suppressed += 1
    if not findings and not suppressed:
        findings.append(
            _f(_XML, _STRUCTURE, "The message does not match the SIF 2.x schema", root.sourceline, "SIF_Message")
        )
    return findings


def _one(entry, message, node, where, line, attr, root, lenient) -> Finding | None:
    kind = entry.type_name
    if kind == "SCHEMAV_ELEMENT_CONTENT":
        return _content_error(message, node, where, line, root, lenient)
    if kind == "SCHEMAV_CVC_COMPLEX_TYPE_4":
        name = attr or _first_quoted_after(message, "attribute")
        owner = etree.QName(node).localname if node is not None else _short(where)
        hint = _ATTR_HINTS.get(name or "", f"add {name}=\"...\" to {owner}")
        return _f(
            _XML,
            _MISSING,
            f"{owner}: attribute {name} is missing — {hint}{_at_line(line)}",
            line,
            f"{where}/@{name}" if where else None,
        )
    if kind in _ATTR_NOT_ALLOWED:
        return _attribute_not_allowed(node, where, line, attr)
    if kind in _VALUE_ERRORS:
        return _value_error(entry, message, node, where, line, attr, root)
    if kind == "SCHEMAV_CVC_ELT_3_1":
        name = etree.QName(node).localname if node is not None else _short(where)
        fix = " (write an empty <StateProvinceId/> instead)" if name == "StateProvinceId" else ""
        return _f(
            _XML,
            _STRUCTURE,
            f"{_short(where)} may not be nil — remove xsi:nil=\"true\" and give a value{fix}{_at_line(line)}",
            line,
            where,
        )
    if kind == "SCHEMAV_CVC_TYPE_3_1_2":
        return _f(
            _XML,
            _STRUCTURE,
            f"{_short(where)} holds only text — remove the element(s) inside it{_at_line(line)}",
            line,
            where,
        )
    if kind == "SCHEMAV_CVC_COMPLEX_TYPE_2_3":
        return _f(
            _XML,
            _STRUCTURE,
            f"{_short(where)} holds text, but it may contain only elements — remove the text"
            f"{_at_line(line)}",
            line,
            where,
        )
    if kind == "SCHEMAV_CVC_COMPLEX_TYPE_2_1":
        return _f(
            _XML,
            _STRUCTURE,
            f"{_short(where)} must be empty — remove its content{_at_line(line)}",
            line,
            where,
        )
    text = _PREFIX_RE.sub("", message).strip()
    return _f(_XML, _STRUCTURE, f"{_short(where)}: {text}{_at_line(line)}", line, where)


def _first_quoted_after(message: str, word: str) -> str | None:
    m = re.search(word + r" '([^']+)'", message)
    return m.group(1) if m else None


def _names_in(text: str) -> list[str]:
    names = _QNAME_RE.findall(text)
    if not names and "##" in text:
        return []
    return names


def _join(names: list[str]) -> str:
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " or " + names[-1]


def _content_error(message, node, where, line, root, lenient) -> Finding:
    expected_match = _EXPECTED_RE.search(message)
    expected = _names_in(expected_match.group(1)) if expected_match else []
    index = _index(lenient)

    if "Missing child element" in message:
        parent = etree.QName(node).localname if node is not None else (where or "").rsplit("/", 1)[-1]
        return _missing_children(parent, where, expected, line, index)

    # "This element is not expected."
    if node is None:
        return _f(_XML, _STRUCTURE, f"{where}: element not allowed here{_at_line(line)}", line, where)
    name = etree.QName(node).localname
    parent_node = node.getparent()
    parent = etree.QName(parent_node).localname if parent_node is not None else ""
    parent_where = where.rsplit("/", 1)[0] if "/" in (where or "") else parent
    ns = etree.QName(node).namespace

    if ns != SIF_NS:
        return _f(
            _XML,
            _STRUCTURE,
            f"{parent}: element {{{ns}}}{name} is not part of SIF — SIF 2.x elements use "
            f"xmlns=\"{SIF_NS}\"{_at_line(line)}",
            line,
            where,
        )
    if parent in index.open and name not in index.allowed.get(parent, ()):
        if any(isinstance(s.tag, str) for s in node.itersiblings(preceding=True)):
            text = f"only one object is allowed — remove the extra {name}"
        else:
            text = f"{name} is not allowed here"
        return _f(_XML, _STRUCTURE, f"{parent}: {text}{_at_line(line)}", line, where)
    if name not in index.allowed.get(parent, ()):
        allowed_here = ""
        if expected:
            allowed_here = f" (expected here: {_join(expected)})"
        return _f(
            _XML,
            _STRUCTURE,
            f"{parent}: {name} is not an element of {parent} in SIF 2.x — remove it"
            f"{allowed_here}{_at_line(line)}",
            line,
            where,
        )
    if parent == "SIF_Message" and name in MESSAGES:
        return _f(
            _XML,
            _STRUCTURE,
            f"SIF_Message holds exactly one message — send {name} in its own SIF_Message"
            f"{_at_line(line)}",
            line,
            where,
        )
    earlier = [s for s in node.itersiblings(preceding=True) if s.tag == node.tag]
    if earlier:
        return _f(
            _XML,
            _STRUCTURE,
            f"{parent}: {name} appears more often than allowed — keep one{_at_line(line)}",
            line,
            where,
        )
    # an expected element that still follows this one means this one came too early
    following = {etree.QName(s).localname for s in node.itersiblings() if isinstance(s.tag, str)}
    later = [e for e in expected if e in following]
    if later or not expected:
        wanted = f"; {_join(later)} must come before it" if later else ""
        return _f(
            _XML,
            _STRUCTURE,
            f"{parent}: {name} is out of order{wanted} (follow the element order of the "
            f"SIF specification){_at_line(line)}",
            line,
            where,
        )
    # a repeatable element already given (e.g. SIF_Version) is not what is missing
    given = {etree.QName(p).localname for p in node.itersiblings(preceding=True) if isinstance(p.tag, str)}
    required = [e for e in expected if e in index.required.get(parent, ()) and e not in given]
    if required:
        return _missing_children(parent, parent_where, required, line, index, before=name)
    return _f(
        _XML,
        _STRUCTURE,
        f"{parent}: {name} is out of order — at this point {parent} expects {_join(expected)} "
        f"(follow the element order of the SIF specification){_at_line(line)}",
        line,
        where,
    )


def _missing_children(parent, parent_where, names, line, index, before=None) -> Finding:
    if not names:
        return _f(
            _XML,
            _MISSING,
            f"{parent} is incomplete: a mandatory child element is missing{_at_line(line)}",
            line,
            parent_where,
        )
    first = names[0]
    element = f"{parent_where}/{first}" if parent_where else first
    if parent == "SIF_Message" and parent_where == "SIF_Message":
        return _f(
            _XML,
            _MISSING,
            f"SIF_Message is empty: it must hold one message ({', '.join(MESSAGES)}){_at_line(line)}",
            line,
            parent_where,
        )
    if len(names) > 1 and not any(n in index.required.get(parent, ()) for n in names):
        what = f"one of {_join(names)} is required"
        element = parent_where
    else:
        required = [n for n in names if n in index.required.get(parent, ())] or names
        first = required[0]
        element = f"{parent_where}/{first}" if parent_where else first
        what = None
    hint = _MISSING_HINTS.get(first)
    place = f" before {before}" if before else ""
    if what:
        text = f"{parent}: {what}{place}"
    elif first == "StateProvinceId":
        text = f"{parent}/StateProvinceId is required{place} ({hint})"
    else:
        text = f"{parent}: {first} is missing{place}"
        if hint:
            text += f" — {hint}"
    return _f(_XML, _MISSING, text + _at_line(line), line, element)


def _attribute_not_allowed(node, where, line, attr) -> Finding:
    owner = etree.QName(node).localname if node is not None else _short(where)
    if owner == "StudentLocator" and attr == "RefId":
        text = (
            "StudentLocator has no RefId attribute in SIF 2.x (it was added in the 3.x "
            "specifications) — remove RefId; TransactionId identifies the lookup"
        )
    else:
        text = f"{owner} does not take a {attr} attribute in SIF 2.x — remove it"
    return _f(_XML, _STRUCTURE, text + _at_line(line), line, f"{where}/@{attr}" if where else None)


def _value_of(node, attr) -> str:
    if node is None:
        return ""
    if attr:
        return node.get(attr, "")
    return (node.text or "").strip()


def _value_error(entry, message, node, where, line, attr, root) -> Finding | None:
    if attr:
        name = attr
        if attr in _GENERIC_ATTRS and node is not None:
            name = f"{etree.QName(node).localname}/@{attr}"
    elif node is not None:
        parent = node.getparent()
        name = etree.QName(node).localname
        if parent is not None and node is not root:
            name = f"{etree.QName(parent).localname}/{name}"
    else:
        name = _short(where)
    element = f"{where}/@{attr}" if attr and where else where
    value = _value_of(node, attr)
    kind = entry.type_name

    # System errors (category 11) may use any code number (codes.py); the schema
    # only knows the listed ones, so a numeric system code is let through.
    if (
        not attr
        and name == "SIF_Error/SIF_Code"
        and node is not None
        and node.getparent() is not None
        and node.getparent().tag == _ERROR_TAG
        and (node.getparent().findtext(_S + "SIF_Category") or "").strip() == "11"
        and value.isdigit()
    ):
        return None

    if kind == "SCHEMAV_CVC_PATTERN_VALID" and "[0-9A-F]{32}" in message:
        text = f"{name} '{value}' {_GUID_TEXT}"
    elif kind == "SCHEMAV_CVC_PATTERN_VALID" and name == "Version":
        text = f"Version '{value}' is not a SIF version — write it like 2.0r1 or 2.3"
    elif kind == "SCHEMAV_CVC_PATTERN_VALID" and name.endswith("SIF_Version"):
        text = f"SIF_Version '{value}' must be a version or wildcard such as 2.0r1, 2.*, 2.0r* or *"
    elif kind == "SCHEMAV_CVC_ENUMERATION_VALID":
        m = _ENUM_RE.search(message)
        allowed = m.group(1).replace("'", "") if m else "the values the specification lists"
        text = f"{name} '{value}' is not allowed; use one of: {allowed}"
    elif kind in ("SCHEMAV_CVC_MAXLENGTH_VALID", "SCHEMAV_CVC_MINLENGTH_VALID", "SCHEMAV_CVC_LENGTH_VALID"):
        m = _LENGTH_RE.search(message)
        if m and kind == "SCHEMAV_CVC_MAXLENGTH_VALID":
            text = f"{name} is {m.group(1)} characters long; at most {m.group(2)} are allowed"
        else:
            text = f"{name} '{value}' has the wrong length: " + _PREFIX_RE.sub("", message).strip()
    else:
        type_name = None
        m = _ATOMIC_RE.search(message)
        if m:
            type_name = m.group(1)
            type_name = re.sub(r"^\{[^}]*\}", "", type_name)
        friendly = _FRIENDLY_TYPES.get(type_name or "")
        if type_name in ("GUIDType", "MsgIdType", "RefIdType", "IdRefType"):
            text = f"{name} '{value}' {_GUID_TEXT}"
        elif friendly:
            text = f"{name} '{value}' is not a valid {friendly}"
        elif kind in ("SCHEMAV_CVC_MININCLUSIVE_VALID", "SCHEMAV_CVC_MAXINCLUSIVE_VALID",
                      "SCHEMAV_CVC_MINEXCLUSIVE_VALID", "SCHEMAV_CVC_MAXEXCLUSIVE_VALID"):
            bound = _BOUND_RE.search(message)
            side = "at most" if "MAX" in kind else "at least"
            if "EXCLUSIVE" in kind:
                side = "below" if "MAX" in kind else "above"
            text = f"{name} '{value}' is out of range" + (f"; it must be {side} {bound.group(1)}" if bound else "")
        elif kind == "SCHEMAV_CVC_FRACTIONDIGITS_VALID":
            bound = _BOUND_RE.search(message)
            text = f"{name} '{value}' has too many decimal places" + (
                f"; at most {bound.group(1)} are allowed" if bound else ""
            )
        else:
            text = f"{name} '{value}' is not a valid value: " + _PREFIX_RE.sub("", message).strip()
    return _f(_XML, _VALUE, text + _at_line(line), line, element)
