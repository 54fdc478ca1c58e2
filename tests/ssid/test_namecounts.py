"""Name counts (term frequencies) in the database: kept by every writer, filled by the migration, used by lookups.

Each count must equal what the stored aliases give (every version of every student, empty
values left out), whichever way the versions were written; and a production lookup scores an
exact surname by how common it is, as a matcher given the same counts in memory does.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

from sqlalchemy import delete, insert, select, text

from ssid import maintenance as m
from ssid.audit import Actor
from ssid.batch import BatchRunner
from ssid.db import namecounts
from ssid.db.candidates import for_database, match
from ssid.db.namecounts import DbTermFrequencies
from ssid.db.schema import aliases_t, name_counts_t, version_t
from ssid.legacy import LegacyImporter
from ssid.matching import DEFAULT_PARAMETERS, Matcher, TermFrequencies
from ssid.matching.weights import TF_VALUE
from ssid.population import generate_population, generate_queries
from ssid.records import standardized_from_json
from tests.ssid_batch.synth import layout_row, write_layout

from .conftest import AMARA, create


async def recount(store) -> dict[tuple[str, str], int]:
    """The counts the aliases give, worked out here from every stored version."""
    out: Counter[tuple[str, str]] = Counter()
    async with store.read() as conn:
        for std, record in (await conn.execute(select(aliases_t.c.std, aliases_t.c.record))).all():
            s = standardized_from_json(std, record)
            for field, attr in TF_VALUE.items():
                if getattr(s, attr):
                    out[(field, getattr(s, attr))] += 1
    return dict(out)


async def stored(store) -> dict[tuple[str, str], int]:
    async with store.read() as conn:
        rows = (await conn.execute(select(name_counts_t.c.field, name_counts_t.c.value, name_counts_t.c.n))).all()
    return {(f, v): n for f, v, n in rows}


async def load(store, tmp_path, students, name="legacy.csv"):
    report = await LegacyImporter(store, actor=Actor("loader")).run(
        write_layout(tmp_path / name, store.catalogue, (layout_row(s.record, s.student_id) for s in students)))
    assert report.loaded == len(students), report.problems[:3]


async def test_issuing_remembering_and_modifying_count_every_version(store, users):
    amara = await create(store)
    await create(store, {**AMARA, "LegalFirstName": "Adaeze"})  # her twin
    await create(store, {**AMARA, "LegalFirstName": "Chidi", "Gender": "M", "BirthDate": "2015-09-01"})
    async with store.write() as conn:  # another spelling submitted for her: a version of its own
        await store.add_alias(conn, amara.student_id, {**AMARA, "LegalFirstName": "Amarah"}, users["ann"].actor())
    async with store.write() as conn:  # a new surname: a new version; the old one still counts
        await m.modify(store, conn, amara.student_id, {"LegalLastName": "Bello"}, users["ann"])
    async with store.write() as conn:  # nothing the matcher looks at: no version, no count
        await m.modify(store, conn, amara.student_id, {"AdmissionReason": "2"}, users["ann"])
    counts = await stored(store)
    assert counts == await recount(store)
    assert counts[("last_name", "OKAFOR")] == 4 and counts[("last_name", "BELLO")] == 1
    assert counts[("first_name", "AMARA")] == 2 and counts[("first_name", "AMARAH")] == 1
    assert sum(n for (f, _), n in counts.items() if f == "first_name") == 5  # five versions stored


async def test_a_legacy_import_and_a_batch_file_count_every_version(store, users, tmp_path):
    pop = generate_population(300, seed=11)
    await load(store, tmp_path, pop.students[:200])
    assert await stored(store) == await recount(store)
    before = sum((await stored(store)).values())

    rows = [layout_row(q.record) for q in generate_queries(pop, 80, seed=11)]  # matches (new spellings), new IDs
    rows += [layout_row(s.record) for s in pop.students[200:260]]
    src = write_layout(tmp_path / "in.csv", store.catalogue, rows)
    await BatchRunner(store, user="ann", workers=0, chunk_rows=25).run(src, tmp_path / "out.csv")
    counts = await stored(store)
    assert counts == await recount(store)
    assert sum(counts.values()) > before + 2 * 60  # the new students' names at least


async def test_the_migration_counts_the_students_stored_before_it(store, users, tmp_path):
    pop = generate_population(60, seed=3)
    await load(store, tmp_path, pop.students)
    amara = await create(store)
    async with store.write() as conn:  # a version stored in the older form (a dict of field names)
        std = standardized_from_json((await conn.execute(select(aliases_t.c.std).where(
            aliases_t.c.student_id == amara.student_id))).scalar(), {})
        await conn.execute(insert(aliases_t).values(
            student_id=amara.student_id, version=1, record={"first_name": "Amy"}, source="modify", at=1.0,
            std={k: v for k, v in {**std.to_dict(), "first_key": "AMY"}.items() if k != "raw"}))
    want = await recount(store)
    assert want[("first_name", "AMY")] == 1
    async with store.write() as conn:  # the database as it was before migration 6
        await conn.execute(text("DROP TABLE ssid_name_counts"))
        await conn.execute(delete(version_t).where(version_t.c.version >= 6))
    assert (await store.migrate())[0] == ("6: name counts (term frequencies) of every stored version, counted from "
                                          "the aliases")
    assert await stored(store) == want
    assert await store.migrate() == []


async def test_counts_gathered_by_deferred_are_the_transaction_s_last_write(store, users):
    async with store.write() as conn:
        async with namecounts.deferred(conn):
            await store.create_student(conn, AMARA, users["ann"].actor())
            await store.create_student(conn, {**AMARA, "LegalFirstName": "Adaeze"}, users["ann"].actor())
            assert (await conn.execute(select(name_counts_t))).all() == []  # nothing written yet
        got = (await conn.execute(select(name_counts_t.c.value, name_counts_t.c.n)
                                  .where(name_counts_t.c.field == "last_name"))).all()
        assert got == [("OKAFOR", 2)]
    assert await stored(store) == await recount(store)


async def test_a_lookup_weighs_an_exact_surname_by_how_common_it_is(store, users, tmp_path):
    pop = generate_population(1_100, seed=7)
    await load(store, tmp_path, pop.students)
    last = {s.student_id: Matcher().standardize(s.record).last_key for s in pop.students}
    surnames = Counter(last.values())
    common = next(s for s in pop.students if surnames[last[s.student_id]] >= 8)
    rare = next(s for s in pop.students if surnames[last[s.student_id]] == 1 and " " not in last[s.student_id])
    # a name's share counts from 1 / tf_min_u names on: 1,000 here (10,000 with the defaults)
    matcher = Matcher(dataclasses.replace(DEFAULT_PARAMETERS, tf_min_u=1e-3))

    async def surname_score(student, m=matcher):
        async with store.read() as conn:
            decision = await match(conn, m, student.record)
        top = decision.explanation.candidates[0]
        assert top.student_id == student.student_id
        return next(f for f in top.fields if f.field == "last_name")

    common_score, rare_score = await surname_score(common), await surname_score(rare)
    assert common_score.level == rare_score.level == "EXACT"
    assert common_score.tf_adjustment < 0 < rare_score.tf_adjustment  # SMITH weighs less than QUARTERMAINE
    assert rare_score.weight > common_score.weight

    async with store.read() as conn:  # the same weights as a matcher given the same counts in memory
        versions = [standardized_from_json(std, rec)
                    for std, rec in (await conn.execute(select(aliases_t.c.std, aliases_t.c.record))).all()]
    in_memory = Matcher(matcher.params, frequencies=TermFrequencies.from_records(versions))
    assert await surname_score(common, in_memory) == common_score  # (explicit frequencies are kept)
    assert await surname_score(rare, in_memory) == rare_score

    plain = await surname_score(common, Matcher())  # default parameters: 1,100 students are too few to tell
    assert plain.tf_adjustment == 0.0


async def test_explicit_frequencies_are_kept_and_the_database_s_are_used_otherwise(store, users):
    await create(store)
    mine = TermFrequencies({"last_name": {"OKAFOR": 5}}, {"last_name": 100_000})
    async with store.read() as conn:
        kept, counted = await conn.run_sync(lambda c: (for_database(c, Matcher(frequencies=mine)).frequencies,
                                                       for_database(c, Matcher()).frequencies))
        assert kept is mine
        assert isinstance(counted, DbTermFrequencies) and counted.min_total == 10_000
        assert await conn.run_sync(lambda c: (counted.count("last_name", "OKAFOR"), dict(counted.totals))) == (
            1, {"first_name": 1, "last_name": 1})


async def test_cached_counts_are_read_again_after_their_ttl(store, users):
    now = [1000.0]
    amara = await create(store)
    async with store.read() as conn:
        def read(c):
            tf = DbTermFrequencies(c, clock=lambda: now[0], ttl=300.0)
            return tf.count("last_name", "OKAFOR"), tf.totals["last_name"], tf.count("last_name", "BELLO")

        assert await conn.run_sync(read) == (1, 1, 0)
    await create(store, {**AMARA, "LegalFirstName": "Adaeze"})
    async with store.write() as conn:
        await m.modify(store, conn, amara.student_id, {"LegalLastName": "Bello"}, users["ann"])
    now[0] += 299.0
    async with store.read() as conn:
        assert await conn.run_sync(read) == (1, 1, 0)  # cached, misses included
    now[0] += 2.0
    async with store.read() as conn:
        assert await conn.run_sync(read) == (2, 3, 1)
