"""Access to the official SIF XSDs in ../shared/reference-xsd (read there, never copied).

Tests that use them skip when the directory is absent.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from lxml import etree

ROOT = Path(os.environ.get("SLF_REFERENCE_XSD", Path(__file__).resolve().parents[2] / "shared" / "reference-xsd"))

#: (label, directory, versions the schema covers, strict?)
SCHEMAS = (
    ("2.0r1-openadk", "2.0r1/openadk-csharp", ("2.0r1",), True),
    ("2.1-openadk", "2.1/openadk-csharp", ("2.1",), True),
    ("2.2-openadk", "2.2/openadk-csharp", ("2.2",), True),
    ("2.0r1-openzis", "2.0r1/openzis", ("2.0r1",), False),
    ("2.1-openzis", "2.1/openzis", ("2.1",), False),
    ("2.2-openzis", "2.2/openzis", ("2.2",), False),
    ("2.3-openzis", "2.3/openzis", ("2.3",), False),
    ("2.4-openzis", "2.4/openzis", ("2.4",), False),
)


def available() -> bool:
    return (ROOT / "2.2" / "openadk-csharp" / "SIF_Message.xsd").exists()


class _LocalXml(etree.Resolver):
    """Map the w3.org xml.xsd import to the local copy beside each schema."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder

    def resolve(self, url, pubid, context):
        if url and url.endswith("xml.xsd"):
            for cand in (self.folder / "xml.xsd.xml", self.folder / "imports" / "xml" / "xml.xsd"):
                if cand.exists():
                    return self.resolve_filename(str(cand), context)
        return None


@functools.lru_cache(maxsize=None)
def schema(directory: str) -> etree.XMLSchema:
    folder = ROOT / directory
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    parser.resolvers.add(_LocalXml(folder))
    doc = etree.parse(str(folder / "SIF_Message.xsd"), parser)
    return etree.XMLSchema(doc)


def errors(directory: str, data: bytes) -> list[str]:
    s = schema(directory)
    doc = etree.fromstring(data)
    if s.validate(doc):
        return []
    return [f"{e.line}: {e.message}" for e in s.error_log]
