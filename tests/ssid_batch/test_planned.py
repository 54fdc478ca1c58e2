"""Planned batch rows (worker processes + one writer) answer exactly as deciding row by row does."""

from __future__ import annotations

import json
import random
import shutil

import pytest
from sqlalchemy import select

from ssid.audit import Actor
from ssid.batch import BatchRunner, file_sha256, request_key
from ssid.batch_plan import PlanJob, plan_chunk
from ssid.batch_rows import decide_record
from ssid.batch_write import ChunkWriter, WriteHistory
from ssid.csvlayout import header
from ssid.decisions import decisions_t, stored_explanation
from ssid.legacy import LegacyImporter, chunks, parse_chunk
from ssid.matching import Matcher, query_keys, record_keys
from ssid.matching.blocking import tiers
from ssid.population import generate_population, generate_queries
from ssid.records import index, match_record
from ssid.store import SsidStore

from .conftest import AMARA, KOFI, LENA, read_csv, row, write_csv
from .synth import layout_row, write_layout


async def _reference(store: SsidStore, path, names) -> list[tuple[str, str]]:
    """(ResultCode, StudentID) of every row, decided one after the other with ``decide_record``."""
    sha = file_sha256(path)
    out = []
    matcher = Matcher()
    async with store.write() as conn:
        for chunk in chunks(path, names, 1_000_000):
            for r in parse_chunk(chunk, names):
                key = request_key(sha, r.number)
                res = await decide_record(store, conn, matcher, r.fields, actor=Actor("ann", None, "ref", False, key),
                                          key=key, district=r.fields["District_IRN"] or None,
                                          building=r.fields["Building_IRN"] or None)
                out.append((res.code, res.student_id or ""))
    return out


def _canonical(results: list[tuple[str, str]], known: set[str]) -> list[tuple[str, str]]:
    """New IDs are random: name each by the first row that got it; existing IDs stay as they are."""
    first: dict[str, str] = {}
    out = []
    for n, (code, sid) in enumerate(results):
        if sid and sid not in known:
            sid = first.setdefault(sid, f"new#{n}")
        out.append((code, sid))
    return out


async def test_planned_rows_answer_like_row_by_row(tmp_path, settings):
    pop = generate_population(3_000, seed=5)
    base = tmp_path / "base.db"
    store = SsidStore.from_url(f"sqlite+aiosqlite:///{base}", settings)
    await store.migrate()
    half = pop.students[:1_500]  # the other half arrive as new students, several of them twice
    await LegacyImporter(store, actor=Actor("loader")).run(write_layout(
        tmp_path / "legacy.csv", store.catalogue, (layout_row(s.record, s.student_id) for s in half)))
    await store.close()
    known = {s.student_id for s in half}
    queries = generate_queries(pop, 600, seed=5)
    rng = random.Random(5)
    rows = [layout_row(q.record) for q in queries]
    rows += [layout_row(s.record) for s in pop.students[1_500:1_700]]  # new students...
    rows += [layout_row(s.record) for s in pop.students[1_500:1_600]]  # ...and again, with typos in some
    rows += [layout_row(s.record, s.student_id) for s in rng.sample(half, 50)]  # IDs given: VALID
    rng.shuffle(rows)
    src = write_layout(tmp_path / "in.csv", settings.catalogue, rows)
    names = header(settings.catalogue)

    shutil.copyfile(base, tmp_path / "ref.db")
    ref_store = SsidStore.from_url(f"sqlite+aiosqlite:///{tmp_path / 'ref.db'}", settings)
    expected = _canonical(await _reference(ref_store, src, names), known)
    await ref_store.close()
    assert {c for c, _ in expected} >= {"MATCH", "NEW", "POTENTIAL", "VALID"}

    for workers, chunk_rows in ((2, 37), (0, 250)):
        shutil.copyfile(base, tmp_path / "run.db")
        run_store = SsidStore.from_url(f"sqlite+aiosqlite:///{tmp_path / 'run.db'}", settings)
        await BatchRunner(run_store, user="ann", workers=workers, chunk_rows=chunk_rows).run(src, tmp_path / "out.csv")
        got = _canonical([(r["ResultCode"], r["StudentID"]) for r in read_csv(tmp_path / "out.csv")], known)
        counts = await run_store.counts()
        async with run_store.read() as conn:  # one decision per row, the lookups with the matcher's explanation
            stored = (await conn.execute(select(decisions_t).where(decisions_t.c.kind == "batch"))).mappings().all()
        assert sorted(d["outcome"] for d in stored) == sorted(c.lower() for c, _ in got)
        explained = [stored_explanation(d) for d in stored if d["outcome"] == "match"]
        assert explained and all("candidates" in e for e in explained)
        await run_store.close()
        assert got == expected, [(n, a, b) for n, (a, b) in enumerate(zip(got, expected)) if a != b][:10]
        assert counts["active"] == len(half) + len({sid for code, sid in expected if code == "NEW"})


async def _plan(store: SsidStore, src):
    """The plan of a small file's one chunk, as a planner makes it."""
    names = header(store.catalogue)
    job = PlanJob(tuple(names), None, Matcher(), len(names))
    async with store.read() as conn:
        return await plan_chunk(store, conn, next(chunks(src, names, 10)), job)


async def _apply(store: SsidStore, src, planned):
    """(the writer, its results) after applying ``planned`` as batch job-1."""
    sha = file_sha256(src)
    keys = {r.number: request_key(sha, r.number) for r in planned.rows}
    async with store.write() as conn:
        writer = ChunkWriter(store, conn, actor=Actor("ann", "043802", "job-1"), group=None, matcher=Matcher(),
                             width=len(header(store.catalogue)), history=WriteHistory())
        return writer, await writer.apply(planned, keys, {})


async def test_a_student_added_by_someone_else_after_planning_is_matched_not_issued_again(store, users, tmp_path):
    """The writer notices a change it did not make since the plan and decides the row again."""
    src = write_csv(tmp_path / "in.csv", store, [row(store, LENA, UserDefined="lena"),
                                                 row(store, AMARA, UserDefined="amara")])
    planned = await _plan(store, src)
    assert [p.code for p in planned.plans] == ["NEW", "NEW"]  # nobody there yet
    async with store.write() as conn:  # meanwhile, the SLF poller issues Lena an ID
        lena = await store.create_student(conn, LENA, users["sam"].actor(), request_key="slf-1")
    writer, results = await _apply(store, src, planned)
    assert [(r.code, r.student_id) for r in results][0] == ("MATCH", lena.student_id)
    assert results[1].code == "NEW" and results[1].student_id != lena.student_id
    assert writer.redecided == 1


async def test_a_match_remembers_an_alias_only_when_the_row_differs_from_every_stored_version(
        store, users, tmp_path):
    """A matched row that repeats a stored version adds nothing; one that differs (here its birth
    city) plans a new alias, standardised and keyed as ``records.index`` makes it. A district or
    building of its own is no difference."""
    async with store.write() as conn:
        lena = await store.create_student(conn, LENA, users["sam"].actor(), request_key="slf-1")
    moved = {**LENA, "BirthPlaceCity": "Akron"}
    src = write_csv(tmp_path / "in.csv", store, [row(store, LENA), row(store, moved),
                                                 row(store, LENA, District_IRN="044000", Building_IRN="000202")])
    planned = await _plan(store, src)
    assert [(p.code, p.student_id) for p in planned.plans] == [("MATCH", lena.student_id)] * 3
    same, alias, elsewhere = (p.version for p in planned.plans)
    assert same is None and elsewhere is None
    want = index(moved, planned.rows[1].fields["District_IRN"] or None, planned.rows[1].fields["Building_IRN"] or None)
    assert alias is not None and alias.values == moved and alias.record == want.record_json()
    assert alias.std == want.std_json() and alias.keys == want.keys and alias.identity == want.identity
    writer, results = await _apply(store, src, planned)
    assert [r.code for r in results] == ["MATCH"] * 3
    assert len(await store.aliases(lena.student_id)) == 2


async def test_a_plan_rests_on_the_keys_its_decision_read_and_no_others(store, users, tmp_path):
    """A row matched on its keys as given never reads its variant keys (the names swapped, the
    day and month swapped): a student added under one of those after planning changes nothing
    it decided, and the plan stands."""
    async with store.write() as conn:
        lena = await store.create_student(conn, LENA, users["sam"].actor(), request_key="slf-1")
    src = write_csv(tmp_path / "in.csv", store, [row(store, LENA)])
    planned = await _plan(store, src)
    plan = planned.plans[0]
    assert (plan.code, plan.student_id) == ("MATCH", lena.student_id)
    std = Matcher().standardize(match_record(LENA))
    as_given, variants = tiers(query_keys(std))
    assert {name for kind, name, _ in plan.facts if kind == "key"} == {k.key for k in as_given}
    swapped = {**LENA, "LegalFirstName": LENA["LegalLastName"], "LegalLastName": LENA["LegalFirstName"],
               "LegalMiddleName": "Ann", "BirthPlaceCity": "Akron"}
    async with store.write() as conn:  # meanwhile, another child arrives under the swapped names' keys
        await store.create_student(conn, swapped, users["sam"].actor(), request_key="slf-2")
    swapped_keys = set(record_keys(Matcher().standardize(match_record(swapped))))
    assert swapped_keys & {k.key for k in variants} and not swapped_keys & {k.key for k in as_given}
    writer, results = await _apply(store, src, planned)
    assert [(r.code, r.student_id) for r in results] == [("MATCH", lena.student_id)]
    assert writer.redecided == 0


def test_write_history_knows_only_what_it_kept():
    h = WriteHistory(keep=2)
    h.start = 10
    h.add(12, {"k1"}, {"S1"})
    h.add(15, {"k2"}, set())
    assert h.since(10) == ({"k1", "k2"}, {"S1"})
    assert h.since(12) == ({"k2"}, set())
    assert h.since(15) == (set(), set())
    assert h.since(9) is None  # older than the batch's start: unknown
    h.add(20, None, set())  # a commit whose changes are not all known
    assert h.since(15) is None and h.since(20) == (set(), set())
    assert h.since(11) is None  # the first commit was dropped (keep=2): before it is unknown now


async def test_bulk_claimed_ids_skip_every_id_used_before(store):
    """``claim_ids`` draws again for an ID the registry already holds (legacy, reserved...)."""
    from ssid.ids import OHIO
    from tests.ssid.test_ids import replay

    async with store.write() as conn:
        await store.reserve_ids(conn, ["AA0000001", "AA0000003"], "reserved", Actor("sam"))
    store.issuer.profile = OHIO
    store.issuer.randbelow = replay("AA0000001", "AA0000002", "AA0000003", "AA0000002", "AA0000004", "AA0000005")
    async with store.write() as conn:
        got = await store.claim_ids(conn, 3, "issued", "batch")
    assert got == ["AA0000002", "AA0000004", "AA0000005"]  # 1 and 3 were reserved, 2 was taken by then
    assert store.issuer.collisions == 3  # draws lost: 1, 3, and 2 the second time
    async with store.read() as conn:
        assert [await store.id_use(i, conn) for i in got] == ["issued"] * 3


@pytest.mark.parametrize("workers", [2, 0])
async def test_a_batch_keeps_the_sqlite_wal_bounded(tmp_path, settings, monkeypatch, workers):
    """Planners read all the time, so SQLite never rewinds its WAL by itself: the batch
    checkpoints it and starts it again after a chunk once it passes the limit (here: any size).
    Planning in the runner's own process (``workers=0``) holds no read while a chunk is
    written, or no checkpoint could ever complete."""
    from ssid.batch import BatchRunner
    from ssid.db import engine as ssid_engine

    pop = generate_population(600, seed=9)
    db = tmp_path / "ssid.db"
    store = SsidStore.from_url(f"sqlite+aiosqlite:///{db}", settings)
    await store.migrate()
    wal = tmp_path / "ssid.db-wal"
    assert await ssid_engine.bound_wal(store.engine, limit=1 << 40) is False  # under the limit: nothing done
    ran: list[bool] = []
    real = ssid_engine.bound_wal

    async def tight(engine, limit=0):
        before = await log_frames()
        ran.append(await real(engine, limit=0))
        assert wal.stat().st_size > 0  # the log file is kept for the next writes, not truncated and grown again
        async with store.write() as conn:  # the next write starts the log again from its beginning
            await conn.exec_driver_sql("INSERT INTO probe VALUES (1)")
        after = await log_frames()  # (a RESTART that returned not busy copied the whole log in)
        assert before > 5 and after < 5, (before, after)
        return ran[-1]

    async def log_frames() -> int:
        """Frames in the log (a PASSIVE checkpoint's count; what it copies depends on the planners' reads)."""
        async with store.engine.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            busy, frames, done = await (await raw.execute("PRAGMA wal_checkpoint(PASSIVE)")).fetchone()
        return frames

    async with store.write() as conn:
        await conn.exec_driver_sql("CREATE TABLE probe (x)")
    monkeypatch.setattr("ssid.batch.bound_wal", tight)
    rows = [layout_row(s.record) for s in pop.students]
    report = await BatchRunner(store, user="bench", workers=workers, chunk_rows=100).run(
        write_layout(tmp_path / "in.csv", store.catalogue, rows), tmp_path / "out.csv")
    assert report.rows == 600 and sum(report.counts.values()) == 600
    assert len(ran) == 6 and all(ran)
    async with store.read() as conn:  # everything written is in the database
        assert (await conn.exec_driver_sql("SELECT count(*) FROM ssid_students")).scalar() == report.counts["NEW"]
    await store.close()


async def test_a_deactivation_after_planning_has_every_row_of_the_chunk_decided_again(store, users, tmp_path):
    """Deactivation takes a student's rows out of the lookup index: a key's count can then stay
    equal while its rows changed (one left, one arrived), so counts alone cannot vouch for a plan."""
    from ssid import maintenance

    from .conftest import create

    amara = await create(store, AMARA)
    twin = await create(store, {**AMARA, "LegalFirstName": "Adaeze"})
    src = write_csv(tmp_path / "in.csv", store, [row(store, LENA, UserDefined="lena"),
                                                 row(store, AMARA, UserDefined="amara")])
    planned = await _plan(store, src)
    assert [p.code for p in planned.plans] == ["NEW", "MATCH"]
    async with store.write() as conn:
        await maintenance.deactivate(store, conn, twin.student_id, amara.student_id,
                                     "entered twice: same child as the surviving ID", users["sam"])
    writer, results = await _apply(store, src, planned)
    assert writer.redecided == 2
    assert [r.code for r in results] == ["NEW", "MATCH"] and results[1].student_id == amara.student_id


async def test_a_file_of_one_chunk_starts_no_planner_processes(store, tmp_path, monkeypatch):
    """Workers plan whole chunks, so a small file gains nothing from them and would pay their
    start-up (each loads the matcher and the name counts: over a second here)."""
    from ssid.batch import BatchRunner

    def no_pool(*_a, **_kw):
        raise AssertionError("planner processes started for a file of one chunk")

    monkeypatch.setattr("ssid.batch.in_order", no_pool)
    src = write_csv(tmp_path / "in.csv", store, [row(store, LENA), row(store, AMARA)])
    report = await BatchRunner(store, user="ann", workers=2, chunk_rows=2).run(src, tmp_path / "out.csv")
    assert report.counts["NEW"] == 2
    three = write_csv(tmp_path / "three.csv", store, [row(store, LENA), row(store, AMARA), row(store, KOFI)])
    with pytest.raises(AssertionError, match="planner processes started"):
        await BatchRunner(store, user="ann", workers=2, chunk_rows=2).run(three, tmp_path / "out3.csv")


def test_a_planner_collects_the_last_chunks_cycles_before_the_next_and_everything_every_64th():
    import gc
    import weakref

    from ssid.batch import PlannerGc

    class Node:
        pass

    def cycle() -> tuple[Node, weakref.ref]:
        a, b = Node(), Node()
        a.other, b.other = b, a
        return a, weakref.ref(a)

    was_enabled = gc.isenabled()
    try:
        collector = PlannerGc()
        assert not gc.isenabled()  # nothing is collected while a chunk is planned
        held, old = cycle()  # alive across chunks, as a cache entry is, then dropped
        gc.collect(1)
        gc.collect(1)  # now in the oldest generation, which the pass before a chunk does not walk
        young = cycle()[1]  # garbage as soon as made, as a chunk's leftovers are
        del held
        collector.before_chunk()  # chunk 1: the young generations
        assert young() is None and old() is not None
        for _ in range(PlannerGc.FULL_EVERY - 2):
            collector.before_chunk()
        assert old() is not None
        collector.before_chunk()  # chunk 64: a full pass
        assert old() is None
    finally:
        gc.unfreeze()
        if was_enabled:
            gc.enable()
