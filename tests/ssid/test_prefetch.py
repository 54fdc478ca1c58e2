"""A lookup's candidates come from one prefetch statement and are rebuilt exactly as stored.

``PrefetchedSource`` reads the key counts, the rows of the small keys and the stored versions
of their students with one statement (on SQLite in one trip to aiosqlite's thread), and the
stored standardised lists are turned back into records without ``from_dict``. What it answers,
and the records it rebuilds, must be what the plain queries and ``from_dict`` give.
"""

from __future__ import annotations

import json
from dataclasses import fields

import pytest
from sqlalchemy import event, func, select

from ssid import maintenance as m
from ssid.db.candidates import PrefetchedSource, match, stored_records
from ssid.db.schema import aliases_t, block_keys_t
from ssid.matching import Matcher, Outcome, StudentRecord, TermFrequencies, query_keys
from ssid.matching.standardize import Standardized
from ssid.population import generate_population
from ssid.records import index, match_record, standardized_from_json

from .conftest import AMARA, create
from .test_maintenance import GOOD_REASON, _do


def test_stored_records_are_rebuilt_as_from_dict_builds_them():
    import ssid.records

    assert ssid.records._RESTORE  # the direct construction is in use (else from_dict is)
    records = [AMARA, {**AMARA, "BirthDate": "", "LegalMiddleName": "", "SSN": "123-45-6780"},
               {**AMARA, "LegalLastName": "Garcia-Lopez Jr", "LegalFirstName": "Mary Ann", "MothersMaidenName": "Li"}]
    records += [{"LegalFirstName": s.record.first_name, "LegalLastName": s.record.last_name,
                 "LegalMiddleName": s.record.middle_name, "BirthDate": str(s.record.birth_date or ""),
                 "Gender": s.record.gender, "BirthPlaceCity": s.record.birth_city}
                for s in generate_population(300, seed=5).students]
    for values in records:
        ix = index({k: v for k, v in values.items() if v}, "043802", "0101")
        std, record = ix.std_json(), ix.record_json()
        got = standardized_from_json(std, record)
        want = Standardized.from_dict({**dict(zip([f for f in ix.std.to_dict() if f != "raw"], std[1:])),
                                       "raw": dict(record)})
        assert got == want == ix.std and got.raw == want.raw
        assert _values(got) == _values(want)  # same values, types and order
        assert _values(got.raw) == _values(want.raw)
        assert type(got.birth_date) is type(want.birth_date) and type(got.first_canonical) is tuple
        candidate = standardized_from_json(std)  # a lookup's candidate: no raw record
        assert candidate == want and candidate.raw == StudentRecord()
        assert _values(candidate)[:-1] == _values(want)[:-1]


def _values(record):
    """Every field's name, value and type, in order (compiled, the records have no ``__dict__``)."""
    return [(f.name, getattr(record, f.name), type(getattr(record, f.name))) for f in fields(record)]


async def _alias(store, student_id, version):
    async with store.read() as conn:
        return (await conn.execute(select(aliases_t.c.std, aliases_t.c.record).where(
            aliases_t.c.student_id == student_id, aliases_t.c.version == version))).one()


async def test_the_prefetch_counts_reads_and_keeps_what_the_plain_queries_give(store, users):
    amara = await create(store)
    await _do(store, m.modify, amara.student_id, {"LegalLastName": "Bello"}, users["ann"])  # a second version
    dup = await create(store, {**AMARA, "LegalLastName": "Bello", "LegalMiddleName": "G"})
    await _do(store, m.deactivate, dup.student_id, amara.student_id, GOOD_REASON, users["ann"])
    twin = await create(store, {**AMARA, "LegalFirstName": "Adaeze"})
    probe = Matcher().standardize(match_record(AMARA))
    keys = [k.key for k in query_keys(probe)]
    async with store.read() as conn:
        source = await conn.run_sync(lambda c: PrefetchedSource(c, keys))
        records = await conn.run_sync(lambda c: stored_records(c, [amara.student_id, dup.student_id]))
        counts = await conn.run_sync(lambda c: PrefetchedSource.count(c, keys))
        plain = dict((await conn.execute(select(block_keys_t.c.key, func.count()).where(block_keys_t.c.key.in_(keys))
                                         .group_by(block_keys_t.c.key))).all())
        versions = (await conn.execute(select(aliases_t.c.record).where(aliases_t.c.student_id == amara.student_id)
                                       .order_by(aliases_t.c.version))).scalars().all()
    assert source.sizes == counts == plain and sum(plain.values()) > 0  # every status counted
    assert source.versions[amara.student_id] == 2 and records[amara.student_id] == list(versions)
    assert dup.student_id not in source.versions  # never offered
    assert len(records[dup.student_id]) == 1  # (its records are there for whoever asks)
    for v in range(2):  # a candidate is the stored standardised record; its raw record is left blank
        row = source._row(amara.student_id, v)
        assert row.record == standardized_from_json(*(await _alias(store, amara.student_id, v)))
        assert row.record.raw == StudentRecord()
    assert twin.student_id in source.versions


async def test_a_lookup_reads_its_candidates_with_one_statement(store, users, db_url):
    for values in (AMARA, {**AMARA, "LegalFirstName": "Adaeze"}, {**AMARA, "BirthDate": "2016-04-12"}):
        await create(store, values)
    seen: list[str] = []

    def count(conn, cursor, statement, *args):
        seen.append(statement)

    matcher = Matcher(frequencies=TermFrequencies({}, {}))  # no name counts read from the database
    async with store.read() as conn:
        await match(conn, matcher, match_record(AMARA))  # the table's size is read once and kept
        event.listen(store.engine.sync_engine, "before_cursor_execute", count)
        try:
            d = await match(conn, matcher, match_record(AMARA))
        finally:
            event.remove(store.engine.sync_engine, "before_cursor_execute", count)
    assert d.outcome == Outcome.MATCH and d.explanation.candidates_scored == 3  # Amara, her twin, her sister
    reads = [s for s in seen if "ssid_block_keys" in s]
    if db_url.startswith("sqlite"):
        assert reads == []  # aiosqlite's own execute_fetchall: one trip to its thread, not four
    else:
        assert len(reads) == 1


async def test_sqlite_reads_run_on_the_connection_itself_in_its_transaction(store, users, db_url, monkeypatch):
    """On SQLite a lookup reads through aiosqlite's sqlite3 connection directly, not by a trip to
    its thread: the same decision, and within a write transaction it sees that transaction's
    own uncommitted students, as any statement on the connection does."""
    import aiosqlite

    import ssid.db.candidates as candidates

    if not db_url.startswith("sqlite"):
        pytest.skip("SQLite only: PostgreSQL reads through asyncpg")
    await create(store, {**AMARA, "LegalFirstName": "Adaeze"})  # her twin, committed
    trips: list[str] = []
    fetchall = aiosqlite.Connection.execute_fetchall

    def counted(self, sql, parameters=None):
        trips.append(sql)
        return fetchall(self, sql, parameters)

    monkeypatch.setattr(aiosqlite.Connection, "execute_fetchall", counted)
    answers = {}
    for direct in (True, False):
        monkeypatch.setattr(candidates, "DIRECT_READS", direct)
        trips.clear()
        async with store.write() as conn:
            amara = await store.create_student(conn, AMARA, users["sam"].actor(), request_key=f"slf-{direct}")
            d = await match(conn, Matcher(), match_record(AMARA))
            await conn.rollback()
        assert (d.outcome, d.student_id) == (Outcome.MATCH, amara.student_id)  # not yet committed, yet found
        assert bool(trips) != direct  # the thread is asked only when the reads are not direct
        answers[direct] = json.loads(d.to_json().replace(amara.student_id, "AMARA"))  # its ID is new each time
    assert answers[True] == answers[False]


async def test_a_lookup_reads_the_variant_keys_only_when_the_keys_as_given_match_nobody(store, users, db_url):
    """A single lookup prefetches the keys as given; the day/month-swapped and name-swapped
    variants are read, in one more statement, only by a lookup those keys leave unmatched, and it
    then decides as a prefetch of every key would."""
    from ssid.db.candidates import prefetched
    from ssid.matching.blocking import tiers

    amara = await create(store)
    await create(store, {**AMARA, "LegalFirstName": "Adaeze", "BirthDate": "2016-04-12"})
    straight = Matcher().standardize(match_record(AMARA))
    swapped = Matcher().standardize(match_record({**AMARA, "LegalFirstName": "Okafor", "LegalLastName": "Amara"}))
    async with store.read() as conn:
        for probe, variants_read in ((straight, False), (swapped, True)):
            m = await conn.run_sync(lambda c: prefetched(c, Matcher(), [probe]))
            as_given, variants = tiers(query_keys(probe))
            assert variants and m.source._read == {k.key for k in as_given}
            d = await conn.run_sync(lambda c: m.match(probe))
            assert m.source._read == {k.key for k in (*as_given, *(variants if variants_read else ()))}
            every = await conn.run_sync(lambda c: prefetched(c, Matcher(), [probe], variants=True))
            assert every.source._read == {k.key for k in query_keys(probe)}
            assert d.to_json() == (await conn.run_sync(lambda c: every.match(probe))).to_json()
            assert d.outcome == Outcome.MATCH and d.student_id == amara.student_id
            assert d.candidates[0].names_swapped == variants_read


async def test_a_lookup_reads_its_name_counts_with_its_candidates(store, users, db_url):
    """Production lookups weigh names by the database's counts: those of the query's names come
    in the same statement as the candidates, never one point query per name."""
    from ssid.db import namecounts
    from ssid.db.candidates import prefetched

    for values in (AMARA, {**AMARA, "LegalFirstName": "Adaeze"}, {**AMARA, "BirthDate": "2016-04-12"}):
        await create(store, values)
    namecounts._CACHE.clear()
    seen: list[str] = []

    def count(conn, cursor, statement, *args):
        seen.append(statement)

    probe = Matcher().standardize(match_record({**AMARA, "LegalFirstName": "Adaeze"}))
    async with store.read() as conn:
        await match(conn, Matcher(), match_record({**AMARA, "LegalFirstName": "Zed"}))  # table size and totals
        event.listen(store.engine.sync_engine, "before_cursor_execute", count)
        try:
            d = await match(conn, Matcher(), probe)
            m = await conn.run_sync(lambda c: prefetched(c, Matcher(), [probe]))
        finally:
            event.remove(store.engine.sync_engine, "before_cursor_execute", count)
        stored = dict(((f, v), n) for f, v, n in (await conn.exec_driver_sql(
            "SELECT field, value, n FROM ssid_name_counts")).all())
    assert d.outcome == Outcome.MATCH and d.explanation.candidates_scored == 2  # Adaeze and her twin
    assert [s for s in seen if "ssid_name_counts" in s and "ssid_block_keys" not in s] == []
    assert len([s for s in seen if "ssid_block_keys" in s]) == (0 if db_url.startswith("sqlite") else 2)
    asked = namecounts.lookup_names(probe)
    assert asked == (("first_name", "ADAEZE"), ("last_name", "OKAFOR"), ("first_name", "OKAFOR"),
                     ("last_name", "ADAEZE"))
    assert m.source.name_counts == {pair: stored.get(pair, 0) for pair in asked}
    assert m.source.name_counts[("last_name", "OKAFOR")] == 3 and m.source.name_counts[("first_name", "OKAFOR")] == 0
    assert all(m.frequencies.count(f, v) == n for (f, v), n in m.source.name_counts.items())


MIGRATION_9 = ("9: birth month and day on each year + names blocking key, which lookups read only for the same "
               "month or day")
MIGRATION_10 = ("10: the lookup index holds active students only: deactivated students' blocking keys taken out, "
                "so lookups read candidates without checking each one's status")
MIGRATION_11 = "11: decisions: long explanations stored compressed"


async def test_migrations_7_and_8_index_what_the_prefetch_reads(store, users, db_url):
    """A database from before migration 7 gets the status index and the standardised-record
    index; on SQLite the prefetch then reads the standardised records from that index alone,
    never from the aliases' rows, and never reads the students at all (the lookup index holds
    active students only, migration 10)."""
    from sqlalchemy import delete, text

    from ssid.db.candidates import _PREFETCH
    from ssid.db.schema import version_t

    amara = await create(store)
    async with store.write() as conn:
        await conn.execute(text("DROP INDEX ix_ssid_students_status"))
        await conn.execute(text("DROP INDEX ix_ssid_aliases_std"))
        await conn.execute(delete(version_t).where(version_t.c.version >= 7))
    assert await store.migrate() == ["7: index of each student's status by ID, read for every lookup candidate",
                                     "8: index of each alias's standardised record by student, read for every "
                                     "lookup candidate", MIGRATION_9, MIGRATION_10, MIGRATION_11]
    assert await store.migrate() == []
    async with store.read() as conn:
        if db_url.startswith("sqlite"):
            plan = " | ".join(r[3] for r in (await conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + _PREFETCH.format(*"?????"), ("BL|x", 500, "", "", ""))).all())
            assert "ssid_students" not in plan and "ix_ssid_students" not in plan, plan
            assert "SEARCH a USING COVERING INDEX ix_ssid_aliases_std" in plan, plan
        else:
            found = dict((await conn.exec_driver_sql("SELECT indexname, indexdef FROM pg_indexes WHERE indexname IN "
                                                     "('ix_ssid_students_status', 'ix_ssid_aliases_std')")).all())
            assert "(student_id, status)" in found["ix_ssid_students_status"]
            assert "(student_id, version) INCLUDE (std)" in found["ix_ssid_aliases_std"]
        d = await match(conn, Matcher(), match_record(AMARA))
    assert d.outcome == Outcome.MATCH and d.student_id == amara.student_id


async def test_migration_9_gives_year_and_names_keys_their_birth_month_and_day(store, users, db_url):
    """A database from before migration 9 (no month_day column) gets it, filled on its YLF rows
    from the aliases, as a student stored now would have it; lookups then read by the rule."""
    from sqlalchemy import delete, select, text

    from ssid.db.schema import block_keys_t, version_t
    from ssid.records import index

    amara = await create(store)
    twin = await create(store, {**AMARA, "LegalFirstName": "Amaka", "BirthDate": "2017-04-13"})
    async with store.read() as conn:
        want = sorted((await conn.execute(select(block_keys_t.c.key, block_keys_t.c.student_id,
                                                 block_keys_t.c.month_day))).all())
    assert {md for key, _, md in want if key.startswith("YLF|")} == {412, 413}
    assert {md for key, _, md in want if not key.startswith("YLF|")} == {None}
    assert {(k.key, k.month_day) for k in index(AMARA).keys} <= {(k, md) for k, sid, md in want
                                                                  if sid == amara.student_id}
    async with store.write() as conn:
        await conn.execute(text("ALTER TABLE ssid_block_keys DROP COLUMN month_day"))
        await conn.execute(delete(version_t).where(version_t.c.version >= 9))
    assert await store.migrate() == [MIGRATION_9, MIGRATION_10, MIGRATION_11]
    async with store.read() as conn:
        got = sorted((await conn.execute(select(block_keys_t.c.key, block_keys_t.c.student_id,
                                                block_keys_t.c.month_day))).all())
        assert got == want
        late = Matcher().standardize(match_record({**AMARA, "BirthDate": "2017-09-12"}))  # the day kept
        d = await match(conn, Matcher(), late)
    found = {c.student_id for c in d.explanation.candidates}
    assert amara.student_id in found and twin.student_id not in found  # 04-13: neither month nor day kept


def _sqlite_libraries():
    """The SQLite this Python links to, and a current release (the ``sqlean.py`` wheel, a test
    dependency): query planners change between releases, and a user's Python may carry either."""
    import sqlite3

    out = [pytest.param(sqlite3, id=f"sqlite-{sqlite3.sqlite_version}")]
    try:
        import sqlean
    except ImportError:  # no wheel for this platform: the linked library is still checked
        return out
    return out + [pytest.param(sqlean, id=f"sqlite-{sqlean.sqlite_version}")]


@pytest.mark.parametrize("library", _sqlite_libraries())
async def test_the_prefetch_searches_the_key_index_and_never_scans_it(library, settings, sqlite_url, tmp_path):
    """The prefetch names its rows (``r``) twice. SQLite 3.50 no longer materialises such a
    subquery on its own and, for the second use, scanned every row of ``ssid_block_keys``
    (47.5 million at ten million students: minutes a statement); the statement asks for both
    subqueries to be materialised, so every release searches the key index by key."""
    from ssid.db.candidates import _prefetch
    from ssid.store import SsidStore

    store = SsidStore.from_url(sqlite_url, settings)
    await store.migrate()
    try:
        async with store.write() as conn:
            await store.add_user(conn, "ann", district_irn="043802", roles=["district_admin"])
        firsts, lasts = ("Ann", "Omar", "Li", "Sofia", "Jamal"), ("Smith", "Nguyen", "Garcia", "Okafor")
        for i in range(200):
            await create(store, {**AMARA, "LegalFirstName": firsts[i % 5], "LegalLastName": lasts[i // 5 % 4],
                                 "BirthDate": f"201{i % 10}-0{i % 9 + 1}-{i % 28 + 1:02d}"})
    finally:
        await store.close()
    sql = _prefetch({"first_name": ["ANN"]}).format(*"??????")
    db = library.connect(f"file:{tmp_path / 'ssid.db'}?mode=ro", uri=True)
    try:
        for analyzed in (False, True):
            if analyzed:
                db.close()
                db = library.connect(str(tmp_path / "ssid.db"))
                db.execute("ANALYZE")
            plan = [r[3] for r in db.execute("EXPLAIN QUERY PLAN " + sql, ("BL|x", 500, "", "", "", "ANN"))]
            reads = [step for step in plan if "ssid_block_keys" in step or step.startswith(("SCAN k", "SEARCH k"))]
            assert reads and all(step.startswith("SEARCH") for step in reads), plan
    finally:
        db.close()
