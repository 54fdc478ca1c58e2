"""The one hardened XML parser for every untrusted byte.

No DTD is loaded or accepted, no entity is expanded, nothing is fetched from a
file or the network, the size is checked before parsing, and libxml2's own
depth and text-node limits stay on. Every refusal is a :class:`SIFError` 1/2
("not well-formed") naming the line where libxml2 stopped.
"""

from __future__ import annotations

import threading

from lxml import etree

from .errors import SIFError, not_well_formed

#: Default cap on one message. SIF messages for the SLF are a few kilobytes; a
#: 20-candidate ambiguous response is ~20 KB. Callers may lower or raise it.
DEFAULT_MAX_BYTES = 4 * 1024 * 1024

_ALLOWED_ENCODINGS = {"UTF-8", "US-ASCII", "ASCII", "UTF-16", "UTF-16LE", "UTF-16BE", "ISO-8859-1"}

_local = threading.local()


def _parser() -> etree.XMLParser:
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            attribute_defaults=False,
            huge_tree=False,
            remove_blank_text=True,
            remove_comments=True,
            remove_pis=True,
            strip_cdata=True,
            collect_ids=False,
        )
        _local.parser = parser
    return parser


def _prolog_has_doctype(data: bytes) -> bool:
    """Fast refusal for ASCII-compatible input before libxml2 sees a DTD at all."""
    head = data[:4096]
    i = head.find(b"<!DOCTYPE")
    return i != -1 and b"<" not in head[:i].replace(b"<?", b"").replace(b"<!--", b"")


def parse_xml(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> etree._Element:
    """Parse untrusted bytes into an element tree or raise SIFError 1/2.

    Whitespace-only text between elements, comments and processing instructions
    are dropped: peers indent irregularly and none of those carry meaning in SIF.
    """
    if isinstance(data, str):
        raise TypeError("parse_xml takes bytes as received off the wire, not str")
    size = len(data)
    if size > max_bytes:
        raise not_well_formed(
            f"Message of {size} bytes exceeds the {max_bytes}-byte limit and was not read; "
            "send smaller messages (split responses into packets)"
        )
    if size == 0 or not bytes(data[:512]).strip():
        raise not_well_formed("Empty message body: POST exactly one SIF_Message")
    data = bytes(data)
    if b"<!DOCTYPE" in data and _prolog_has_doctype(data) or b"<!ENTITY" in data:
        raise not_well_formed(
            "DOCTYPE and entity declarations are not accepted in SIF messages; remove the DTD"
        )
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if exc.lineno and exc.lineno > 0 else None
        msg = (exc.msg or str(exc)).strip()
        raise not_well_formed(f"Message is not well-formed XML: {msg}", line=line) from None
    except ValueError as exc:  # e.g. unicode strings with encoding declarations
        raise not_well_formed(f"Message could not be read as XML: {exc}") from None
    tree = root.getroottree()
    info = tree.docinfo
    if info.doctype or info.internalDTD is not None or info.externalDTD is not None:
        raise not_well_formed(
            "DOCTYPE and entity declarations are not accepted in SIF messages; remove the DTD"
        )
    encoding = (info.encoding or "UTF-8").upper()
    if encoding not in _ALLOWED_ENCODINGS:
        raise not_well_formed(f"Encoding {info.encoding!r} is not accepted; send UTF-8")
    return root


__all__ = ["parse_xml", "DEFAULT_MAX_BYTES", "SIFError"]
