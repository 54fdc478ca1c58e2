"""Conformance: what we write validates against the official SIF XSDs.

Strict (data-model cardinality) OpenADK schemas for 2.0r1, 2.1, 2.2 and the lenient OpenZIS
schemas for 2.0r1–2.4, each for the version it covers. The schemas are read from
../shared/reference-xsd; these tests skip when that folder is absent.
"""

from __future__ import annotations

import pytest

from messages import build, versions
from messages.samples import KINDS, sample
from tests import reference
from tests.golden_cases import GOLDEN

pytestmark = pytest.mark.skipif(not reference.available(), reason="official XSDs not present")


def _cases():
    for label, directory, covered, strict in reference.SCHEMAS:
        for version in covered:
            for kind in KINDS:
                if kind == "cancelrequests" and versions.key(version) < versions.key("2.1"):
                    continue  # SIF_CancelRequests does not exist before 2.1
                yield pytest.param(directory, version, kind, id=f"{label}-{kind}")


@pytest.mark.parametrize("directory,version,kind", list(_cases()))
def test_sample_validates_against_official_schema(directory, version, kind):
    data = build(sample(kind, version))
    assert reference.errors(directory, data) == []


def test_cancelrequests_refused_for_2_0r1():
    with pytest.raises(ValueError, match="2.1"):
        sample("cancelrequests", "2.0r1")


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.xml")), ids=lambda p: p.name)
def test_golden_files_validate_against_official_schemas(path):
    data = path.read_bytes()
    version = "2.1" if b'Version="2.1"' in data else "2.0r1"
    for label, directory, covered, strict in reference.SCHEMAS:
        if version in covered:
            assert reference.errors(directory, data) == [], label


@pytest.mark.parametrize("path", sorted((GOLDEN / "peers").glob("*.xml")), ids=lambda p: p.name)
def test_peer_examples_are_valid_sif(path):
    """The hand-written 'real peer' files are themselves valid (lenient flavour)."""
    data = path.read_bytes()
    version = "2.1" if b'Version="2.1"' in data[:400] else "2.0r1"
    directory = f"{version}/openzis"
    assert reference.errors(directory, data) == []
