"""Resolver test fixtures: SLF databases on SQLite and PostgreSQL, requests, a store.

PostgreSQL is the scale-out store; the store tests run on both. A PostgreSQL test gets a
fresh database (``slf_test_<random>``, tests/pg.py), dropped when it ends; without a server
the PostgreSQL runs are skipped with the reason.
"""

from __future__ import annotations

import pytest

from messages import Condition, ConditionGroup, Conditions, Header, Query, Request
from messages.objects import (
    Code, Demographics, ExtendedElement, IdStatus, Language, Name, Race, RequestingAgencyId, StudentLocator,
)
from sif_agent.requests import RequestRef
from sif_agent.resolver.config import Batching, StorePolicy
from sif_agent.resolver.store import ResolverStore
from tests.pg import BACKENDS, backend_url
from tests.pg import pg_databases  # noqa: F401 - a fixture

ZONE, SOURCE = "state", "ITC01-StudentLocator"
TXN = "5A4B3C2D1E0F11223344556677889900"


@pytest.fixture(params=BACKENDS)
async def slf_url(request, tmp_path):
    """A fresh, empty SLF database URL on each backend."""
    async with backend_url(request.param, tmp_path / "slf.db") as url:
        yield url


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:  # 2027-01-15
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def make_store(slf_url):
    made: list[ResolverStore] = []

    async def make(policy: StorePolicy | None = None, **kw) -> ResolverStore:
        kw.setdefault("clock", Clock())
        store = ResolverStore.from_url(slf_url, policy=policy or StorePolicy(), **kw)
        await store.migrate()
        made.append(store)
        return store

    yield make
    for s in made:
        await s.close()


def policy(**batching) -> StorePolicy:
    keep = batching.pop("on_complete", "delete")
    return StorePolicy(batching=Batching(**batching), on_complete=keep)


def locator(txn: str = TXN, id_status: str = "Request", **kw) -> StudentLocator:
    """A StudentLocator as the Ohio-mapped locator sends it."""
    values = dict(
        state_province_id="", local_id="100234",
        requesting_agency_ids=(RequestingAgencyId(type="LEA", value="043802"),
                               RequestingAgencyId(type="School", value="012345")),
        grade_level=Code(code="03"),
        names=(Name(type="04", last_name="Okafor", first_name="Amara", middle_name="Grace"),),
        demographics=Demographics(races=(Race(code="1000"),), gender="F", birth_date="2017-04-12",
                                  place_of_birth="Columbus", languages=(Language(code="eng"),)),
        effective_date="2026-08-19",
        extended_elements=(ExtendedElement(name="AdmissionReason", value="1"),),
    )
    values.update(kw)
    return StudentLocator(id_status=id_status, transaction_id=txn, **values)


def request(loc: StudentLocator | None = None, *, form: str = "example", source: str = SOURCE,
            msg_id: str | None = None, **kw) -> Request:
    """A SIF_Request carrying ``loc`` as SIF_Example or as SIF_Conditions (value for value)."""
    loc = loc or locator(**kw)
    if form == "example":
        query = Query(object_name="StudentLocator", example=loc)
    else:
        query = Query(object_name="StudentLocator", condition_group=ConditionGroup(
            type="None", conditions=(Conditions(type="And", conditions=tuple(conditions(loc))),)))
    header = Header.new(source)
    if msg_id:
        header = Header(msg_id=msg_id, timestamp=header.timestamp, source_id=source)
    return Request(header=header, version="2.1", versions=("2.1",), max_buffer_size=1_048_576, query=query)


def conditions(loc: StudentLocator) -> list[Condition]:
    """The condition paths the locator's mapping emits, for every value ``loc`` carries."""
    from sif_agent.sifpath import first

    el = loc.to_element()
    paths = ["@IdStatus", "@TransactionId", "StateProvinceId", "LocalId", 'RequestingAgencyId[@Type="LEA"]',
             'RequestingAgencyId[@Type="School"]', "GradeLevel/Code", 'Name[@Type="04"]/LastName',
             'Name[@Type="04"]/FirstName', 'Name[@Type="04"]/MiddleName', "Demographics/RaceList/Race/Code",
             "Demographics/Gender", "Demographics/BirthDate", "Demographics/PlaceOfBirth",
             "Demographics/LanguageList/Language/Code", "EffectiveDate",
             'SIF_ExtendedElements/SIF_ExtendedElement[@Name="AdmissionReason"]']
    out = []
    for p in paths:
        v = first(el, p)
        if v is not None:
            out.append(Condition(element=p, value=v))
    return out


def ref_of(req: Request, zone: str = ZONE) -> RequestRef:
    return RequestRef.of(zone, req, "2.1")


__all__ = ["Clock", "IdStatus", "SOURCE", "TXN", "ZONE", "conditions", "locator", "policy", "ref_of", "request"]
