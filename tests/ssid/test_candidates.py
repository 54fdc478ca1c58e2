"""The matcher's candidate source over the database gives what the in-memory index gives."""

from __future__ import annotations

from ssid import maintenance as m
from ssid.db.candidates import DbCandidateSource, match
from ssid.matching import BlockRequest, InMemoryIndex, Matcher, Narrowing, Outcome, StudentRecord, query_keys
from ssid.records import match_record, standardized_from_json

from .conftest import AMARA, create
from .test_maintenance import GOOD_REASON, _do

PEOPLE = [
    AMARA,
    {**AMARA, "LegalFirstName": "Adaeze"},  # twin
    {**AMARA, "LegalFirstName": "Chidi", "Gender": "M", "BirthDate": "2015-09-01"},  # sibling
    {**AMARA, "LegalFirstName": "William", "LegalLastName": "Smith", "Gender": "M", "BirthDate": "2012-01-05"},
    {**AMARA, "LegalFirstName": "Mary", "LegalLastName": "Garcia-Lopez", "BirthDate": "2013-06-07"},
]


async def _fetch(store, requests):
    async with store.read() as conn:
        return await conn.run_sync(lambda c: DbCandidateSource(c).fetch(requests))


async def test_blocks_from_the_database_equal_the_in_memory_index(store, users):
    index = InMemoryIndex()
    for values in PEOPLE:
        s = await create(store, values)
        index.add(s.student_id, match_record(s.values, s.district_irn, s.building_irn))
    probe = StudentRecord(first_name="Amara", last_name="Okafor", birth_date="2017-04-12", gender="F")
    std = Matcher().standardize(probe)
    requests = [BlockRequest(k.key, n, 3) for k in query_keys(std)
                for n in (Narrowing(), Narrowing(gender="F"), Narrowing(gender="F", first_initial="A"))]
    got = await _fetch(store, requests)
    want = index.fetch(requests)
    assert [(b.total, sorted((r.student_id, r.version) for r in b.rows)) for b in got] == \
           [(b.total, sorted((r.student_id, r.version) for r in b.rows)) for b in want]
    assert any(b.total for b in got)
    for block in got:
        for row in block.rows:
            assert row.record == next(r.record for b in want for r in b.rows if r.student_id == row.student_id)


async def test_a_lookup_finds_a_student_under_an_old_name_and_never_a_deactivated_id(store, users):
    amara = await create(store)
    await _do(store, m.modify, amara.student_id, {"LegalLastName": "Bello"}, users["ann"])
    dup = await create(store, {**AMARA, "LegalLastName": "Bello", "LegalMiddleName": "G"})
    await _do(store, m.deactivate, dup.student_id, amara.student_id, GOOD_REASON, users["ann"])
    record = StudentRecord(first_name="Amara", middle_name="Grace", last_name="Okafor", birth_date="2017-04-12",
                           gender="F", birth_city="Columbus", race_ethnicity="B", native_language="ENG")
    async with store.read() as conn:
        decision = await match(conn, Matcher(), record)
    assert decision.outcome == Outcome.MATCH and decision.student_id == amara.student_id
    assert dup.student_id not in {c.student_id for c in decision.explanation.candidates}


async def test_stored_standardised_records_round_trip(store, users):
    s = await create(store, {**AMARA, "LegalLastName": "O'Brien-Smith", "SSN": "123456780"})
    [alias] = await store.aliases(s.student_id)
    async with store.read() as conn:
        from sqlalchemy import select

        from ssid.db.schema import aliases_t

        std, record = (await conn.execute(select(aliases_t.c.std, aliases_t.c.record))).one()
    rebuilt = standardized_from_json(std, record)
    assert rebuilt == Matcher().standardize(match_record(s.values, s.district_irn))
    assert alias.record["last_name"] == "O'Brien-Smith"


def test_a_stored_record_of_another_layout_is_refused_not_misread():
    import pytest

    from ssid.records import StaleStandardized, index

    ix = index(AMARA)
    stored = ix.std_json()
    assert standardized_from_json(stored, ix.record_json()) == ix.std
    with pytest.raises(StaleStandardized, match="standardised again"):
        standardized_from_json(["0ldl4y0t", *stored[1:]], ix.record_json())
    with pytest.raises(StaleStandardized):
        standardized_from_json(stored[:-1], ix.record_json())


async def test_lookups_use_match_thresholds_for_the_size_of_the_table(store, users, monkeypatch):
    import ssid.db.candidates as cand

    for values in PEOPLE:
        await create(store, values)
    async with store.read() as conn:
        assert await conn.run_sync(cand.population) == len(PEOPLE)
        probe = match_record({**AMARA, "LegalMiddleName": ""})
        first = await match(conn, Matcher(), probe)
        assert first.outcome == Outcome.MATCH and first.candidates[0].weight < Matcher().thresholds.match + 12
        monkeypatch.setattr(cand, "population", lambda c: 4096 * Matcher().thresholds.reference_population)
        bigger = await match(conn, Matcher(), probe)  # the same pair in a table 4,096 times the reference
    assert bigger.explanation.thresholds["match"] == Matcher().thresholds.match + 12
    assert bigger.outcome == Outcome.POTENTIAL and bigger.candidates[0].student_id == first.student_id


async def test_the_year_and_names_key_reads_rows_of_the_same_birth_month_or_day(store, users):
    """YLF finds a birth date with a slip in its month or its day, as given or with day and month
    swapped, in the database (whole SQL, prefetch) as in memory; a date that keeps neither is no
    part of its block."""
    from ssid.db.candidates import prefetched

    index = InMemoryIndex()
    for values in PEOPLE:
        s = await create(store, values)
        index.add(s.student_id, match_record(s.values, s.district_irn, s.building_irn))
    seen = {}
    tried = ("2017-04-30", "2017-09-12", "2017-09-30", "2017-04-12", "2017-12-04", "2017-12-05", "2017-11-05")
    for born in tried:  # stored: 2017-04-12
        std = Matcher().standardize(StudentRecord(first_name="Amara", last_name="Okafor", birth_date=born,
                                                  gender="F"))
        ylf = next(k for k in query_keys(std) if k.pass_name == "YLF" and not k.variant)
        assert ylf.month_day == int(born[5:7]) * 100 + int(born[8:10])
        requests = [BlockRequest(ylf.key, Narrowing(), 500, ylf.month_day), BlockRequest(ylf.key)]
        async with store.read() as conn:
            whole = await conn.run_sync(lambda c: DbCandidateSource(c).fetch(requests))
            ahead = await conn.run_sync(lambda c: prefetched(c, Matcher(), [std]).source.fetch(requests))
        memory = index.fetch(requests)
        blocks = [[(b.total, sorted(r.student_id for r in b.rows)) for b in got] for got in (whole, ahead, memory)]
        assert blocks[0] == blocks[1] == blocks[2], born
        seen[born] = blocks[0][0][0]
        assert blocks[0][1][0] == 1  # without the rule: Amara, whatever the month and day
    # the month kept, the day kept, neither; day and month swapped (and a slip on top): found
    assert seen == {"2017-04-30": 1, "2017-09-12": 1, "2017-09-30": 0, "2017-04-12": 1, "2017-12-04": 1,
                    "2017-12-05": 1, "2017-11-05": 0}
