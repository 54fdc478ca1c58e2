"""The golden table: (file name, message) pairs, built with fixed ids and clock.

`python -m tests.golden_cases --write` regenerates tests/golden/*.xml after a deliberate
wire-format change; review the diff (and the conformance tests) before committing it.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

from lxml import etree

from messages import (
    Ack, AgentACL, Application, ExtendedQuery, GetAgentACL, Header, ObjectHolder, ObjectRef,
    Protocol, Register, Request, Response, SecureChannel, SIFNode, Status, SystemControl,
    Unprovide, Unsubscribe, XmlObject, ZoneStatus, codec,
)
from messages.samples import KINDS, Samples

GOLDEN = Path(__file__).with_name("golden")
CLOCK = "2026-11-25T09:30:00-05:00"


def fixed_ids():
    counter = itertools.count(1)
    return lambda: f"{next(counter):032X}"


def samples(version: str = "2.0r1") -> Samples:
    return Samples(version, ids=fixed_ids(), clock=lambda: CLOCK)


def _header(source: str, dest: str | None = None, **kw) -> Header:
    return Header(msg_id="F" * 31 + "1", timestamp=CLOCK, source_id=source, destination_id=dest, **kw)


EXTENDED_QUERY = b"""<SIF_ExtendedQuery xmlns="http://www.sifinfo.org/infrastructure/2.x">
<SIF_Select Distinct="false" RowCount="All"><SIF_Element ObjectName="StudentPersonal">LocalId</SIF_Element></SIF_Select>
<SIF_From ObjectName="StudentPersonal"/></SIF_ExtendedQuery>"""

EXTENDED_RESULTS = b"""<SIF_ExtendedQueryResults xmlns="http://www.sifinfo.org/infrastructure/2.x">
<SIF_ColumnHeaders><SIF_Element ObjectName="StudentPersonal">LocalId</SIF_Element></SIF_ColumnHeaders>
<SIF_Rows><R><C>100234</C></R></SIF_Rows></SIF_ExtendedQueryResults>"""


def extra_cases() -> list[tuple[str, object]]:
    """Messages and shapes the sample kinds do not cover."""
    s = samples("2.1")
    ctx = ("SIF_Default",)
    return [
        ("register__push_with_protocol.xml", Register(
            header=_header("District043802-SIS", security=SecureChannel(authentication_level=1, encryption_level=2)),
            version="2.1", name="District SIS", versions=("2.1", "2.0r1", "1.5r1"), max_buffer_size=524288,
            mode="Push",
            protocol=Protocol(type="HTTPS", secure="Yes", url="https://sis.example.org:8443/sif",
                              properties=(("Accept-Encoding", "gzip"),)),
            node_vendor="Example SIS Co.", node_version="7.4",
            application=Application(vendor="Example SIS Co.", product="Example SIS", version="7.4.2"),
            icon="https://sis.example.org/icon.png")),
        ("unprovide.xml", Unprovide(header=_header("State-StudentResolver"), version="2.1",
                                    objects=(ObjectRef(object_name="StudentLocator"),))),
        ("unsubscribe.xml", Unsubscribe(header=_header("ITC01-StudentLocator"), version="2.1",
                                        objects=(ObjectRef(object_name="SchoolInfo", contexts=ctx),))),
        ("getagentacl.xml", SystemControl(header=_header("ITC01-StudentLocator"), version="2.1",
                                          command=GetAgentACL())),
        ("ack__agent_acl.xml", s.ack_agent_acl()),
        ("ack__zone_status.xml", Ack(
            header=_header("StateZIS", "ITC01-StudentLocator"), version="2.1",
            original_source_id="ITC01-StudentLocator", original_msg_id="A" * 32,
            status=Status(code=0, data=ZoneStatus(
                zone_id="state-zone", name="State StudentLocator zone",
                vendor=Application(vendor="Student Locator Framework", product="ZIS", version="0.1.0"),
                providers=(ObjectHolder(source_id="State-StudentResolver",
                                        objects=(ObjectRef(object_name="StudentLocator", extended_query_support=False),)),),
                requesters=(ObjectHolder(source_id="ITC01-StudentLocator",
                                         objects=(ObjectRef(object_name="StudentLocator", extended_query_support=False),)),),
                nodes=(SIFNode(type="Agent", name="ITC01 Student Locator", source_id="ITC01-StudentLocator",
                               mode="Pull", versions=("2.1",), max_buffer_size=1048576, sleeping=False),),
                supported_protocols=(Protocol(type="HTTPS", secure="Yes", url="https://zis.example.org/zones/state-zone"),),
                supported_versions=("2.0r1", "2.1"),
            )))),
        ("request__extended_query.xml", Request(
            header=_header("ITC01-StudentLocator"), version="2.1", versions=("2.1",), max_buffer_size=65536,
            query=ExtendedQuery(xml=XmlObject.from_bytes(EXTENDED_QUERY)))),
        ("response__extended_query_results.xml", Response(
            header=_header("District043802-SIS", "ITC01-StudentLocator"), version="2.1",
            request_msg_id="B" * 32, extended_query_results=XmlObject.from_bytes(EXTENDED_RESULTS))),
        ("response__packet_2_of_3.xml", Response(
            header=_header("State-StudentResolver", "ITC01-StudentLocator"), version="2.1",
            request_msg_id="B" * 32, packet_number=2, more_packets=True,
            objects=(s.candidate("AB1234567", "91", "Amara", "2017-04-12"),))),
        ("ack__nil_original.xml", Ack(
            header=_header("StateZIS", "ITC01-StudentLocator"), version="2.1",
            original_source_id=None, original_msg_id=None,
            error=codec.Error(category=1, code=2, desc="Message is not well-formed"))),
    ]


def cases() -> list[tuple[str, object]]:
    out = []
    for kind, method in KINDS.items():
        version = "2.1" if kind == "cancelrequests" else "2.0r1"
        out.append((f"{kind}.xml", getattr(samples(version), method)()))
    return out + extra_cases()


def write() -> None:
    GOLDEN.mkdir(exist_ok=True)
    for name, message in cases():
        root = codec.to_element(message)
        (GOLDEN / name).write_bytes(etree.tostring(root, pretty_print=True, xml_declaration=True, encoding="UTF-8"))
        print("wrote", name)


if __name__ == "__main__":
    if "--write" in sys.argv:
        write()
