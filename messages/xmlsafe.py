"""The one hardened XML parser for every untrusted byte.

No DTD is loaded or accepted, no entity is expanded, nothing is fetched from a
file or the network, the size is checked before parsing, and libxml2's own
depth and text-node limits stay on. Every refusal is a :class:`SIFError` 1/2
("not well-formed") naming the line where libxml2 stopped.
"""

from __future__ import annotations

import re
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
            # collect_ids stays at its default: with collect_ids=False libxml2 2.14 loads
            # external DTDs and parameter entities despite load_dtd=False.
        )
        _local.parser = parser
    return parser


_DTD_MARKERS = tuple(
    marker.encode(codec) for marker in ("<!DOCTYPE", "<!ENTITY") for codec in ("ascii", "utf-16-le", "utf-16-be")
)
_BOMS = ((b"\xef\xbb\xbf", "UTF-8", "utf-8"), (b"\xff\xfe", "UTF-16", "utf-16-le"),
         (b"\xfe\xff", "UTF-16", "utf-16-be"))
_DECLARED = re.compile(rb"^<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")


def _has_dtd(data: bytes) -> bool:
    """Any DOCTYPE or ENTITY declaration, in ASCII-compatible or UTF-16 bytes, anywhere.

    Checked on the raw bytes so that libxml2 never sees a DTD at all (no file, network
    or entity work can start); a legitimate SIF message never contains these markers.
    """
    return any(marker in data for marker in _DTD_MARKERS)


def _bom_contradiction(data: bytes) -> str | None:
    """XML 1.0 §4.3.3: a byte order mark that disagrees with the declared encoding is fatal."""
    for bom, family, codec in _BOMS:
        if data.startswith(bom):
            head = data[len(bom):len(bom) + 400].decode(codec, "ignore").encode("ascii", "ignore")
            m = _DECLARED.match(head)
            if m:
                declared = m.group(1).decode().upper().replace("_", "-")
                if not declared.startswith(family):
                    return f"the byte order mark says {family} but the declaration says {declared}"
            return None
    return None


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
    data = bytes(data)
    if not data.strip():
        raise not_well_formed("Empty message body: POST exactly one SIF_Message")
    if _has_dtd(data):
        raise not_well_formed(
            "DOCTYPE and entity declarations are not accepted in SIF messages; remove the DTD"
        )
    declared = _DECLARED.match(data.lstrip())
    if declared and declared.group(1).decode().upper() not in _ALLOWED_ENCODINGS:
        raise not_well_formed(f"Encoding {declared.group(1).decode()[:40]!r} is not accepted; send UTF-8")
    contradiction = _bom_contradiction(data)
    if contradiction:
        raise not_well_formed(f"Message encoding is inconsistent: {contradiction}; send UTF-8")
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
