"""`import-legacy` edge cases: IDs unaltered, BOM/CRLF, quoting, wrong header, bad rows, re-runs."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from ssid.audit import Actor
from ssid.csvlayout import LayoutError, header
from ssid.db.schema import audit_t, block_keys_t, students_t
from ssid.db.statistics import TABLES
from ssid.legacy import LegacyImporter
from tests.pg import analyzed_tables

from .conftest import AMARA


def cols(store):
    return header(store.catalogue)


def line(store, **kw) -> list[str]:
    row = {"UserID": "olduser", "DateTimeCreated": "02/13/2002 04:18:31", "Building_IRN": "000101",
           "District_IRN": "043802", "StudentID": "", **AMARA, "UserDefined": ""}
    row.update(kw)
    return [row.get(c, "") for c in cols(store)]


def write(path: Path, store, rows: list[list[str]], *, bom=False, crlf=False, head=None) -> Path:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n" if crlf else "\n")
    w.writerow(head or cols(store))
    w.writerows(rows)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + buf.getvalue().encode("utf-8"))
    return path


async def run(store, path, **kw):
    return await LegacyImporter(store, **kw).run(path)


async def count(store, table) -> int:
    async with store.read() as conn:
        return (await conn.execute(select(func.count()).select_from(table))).scalar()


async def test_ids_and_attributes_are_loaded_unaltered(store, tmp_path):
    rows = [line(store, StudentID="XY1234567"),
            line(store, StudentID="1234567", LegalFirstName="Chidi", Gender="M"),  # an old, shorter format
            line(store, StudentID="OH-000042", LegalFirstName="Ngozi", SSN="123-45-6789", UserDefined="SIS 77")]
    report = await run(store, write(tmp_path / "legacy.csv", store, rows), actor=Actor("ode-loader", "000000"))
    assert (report.rows, report.loaded, report.rejected) == (3, 3, 0), report.problems
    for sid in ("XY1234567", "1234567", "OH-000042"):
        s = await store.student(sid)
        assert s.student_id == sid and s.active and s.origin == "legacy" and s.import_job == report.job_id
        assert await store.id_use(sid) == "legacy"
    s = await store.student("OH-000042")
    assert s.values["SSN"] == "123456789" and s.values["LegalFirstName"] == "Ngozi"
    assert s.created_by == "olduser" and s.district_irn == "043802" and s.building_irn == "000101"
    assert s.created_at == datetime(2002, 2, 13, 4, 18, 31, tzinfo=ZoneInfo("America/New_York")).timestamp()
    audit = await store.audit("OH-000042")
    assert [(r.change_type, r.batch_job_id, r.user_id, r.user_district) for r in audit] == [
        ("LEGACY_IMPORT", report.job_id, "ode-loader", "000000")]
    assert audit[0].new_values["SSN"] == "*****6789" and audit[0].detail == {"line": 4}
    assert await count(store, block_keys_t) >= 3 * 4  # every legacy student can be found by the matcher


async def test_postgresql_has_planner_statistics_when_the_import_ends(store, tmp_path):
    """Without them PostgreSQL read a lookup's candidates by whole-table scans until autovacuum
    came round (45 ms a lookup against 200,000 students instead of 0.4 ms); without a vacuum,
    every candidate cost a table page beside its index page (ssid.db.statistics)."""
    url = store.engine.url.render_as_string(hide_password=False)
    assert await analyzed_tables(url, TABLES) == set()
    await run(store, write(tmp_path / "legacy.csv", store, [line(store, StudentID="XY1234567")]))
    expected = set(TABLES) if store.engine.dialect.name == "postgresql" else set()  # SQLite plans without them
    assert await analyzed_tables(url, TABLES) == expected


async def test_bom_and_crlf_are_accepted(store, tmp_path):
    path = write(tmp_path / "bom.csv", store, [line(store, StudentID="AB0000001"), line(store, StudentID="AB0000002",
                                                                                       LegalFirstName="Bo")],
                 bom=True, crlf=True)
    report = await run(store, path)
    assert report.loaded == 2 and report.problems == []
    assert (await store.student("AB0000002")).values["LegalFirstName"] == "Bo"


async def test_quoted_commas_quotes_and_line_breaks_stay_in_their_field(store, tmp_path):
    rows = [line(store, StudentID="AB0000001", UserDefined="Room 12, 2nd floor"),
            line(store, StudentID="AB0000002", BirthPlaceCity="Saint Paul",
                 UserDefined='note "quoted"\nsecond line'),
            line(store, StudentID="AB0000003", Gender="Q")]  # a bad row after the multi-line one
    report = await run(store, write(tmp_path / "q.csv", store, rows))
    assert report.loaded == 2
    async with store.read() as conn:
        ud = dict((await conn.execute(select(students_t.c.student_id, students_t.c.user_defined))).all())
    assert ud["AB0000001"] == "Room 12, 2nd floor" and ud["AB0000002"] == 'note "quoted"\nsecond line'
    [p] = report.problems
    assert (p.row, p.line, p.column) == (3, 5, "Gender")  # line 5: the row before it took two lines


@pytest.mark.parametrize("change, fragment", [
    (lambda h: h[:-1], "missing column(s) UserDefined"),
    (lambda h: [*h, "Extra"], "unknown column(s) Extra"),
    (lambda h: [h[1], h[0], *h[2:]], "in another order"),
    (lambda h: [c if c != "StudentID" else "Student_ID" for c in h], "missing column(s) StudentID"),
])
async def test_a_wrong_header_refuses_the_file_before_anything_is_loaded(store, tmp_path, change, fragment):
    path = write(tmp_path / "h.csv", store, [line(store, StudentID="AB0000001")], head=change(list(cols(store))))
    with pytest.raises(LayoutError) as err:
        await run(store, path)
    assert fragment in str(err.value) and "nothing was processed" in str(err.value)
    assert ",".join(cols(store)) in str(err.value)  # the header to copy
    assert await count(store, students_t) == 0


async def test_an_unclosed_quote_or_non_utf8_refuses_the_file_before_anything_is_loaded(store, tmp_path):
    good = write(tmp_path / "g.csv", store, [line(store, StudentID=f"AB000000{i}") for i in range(5)])
    broken = tmp_path / "broken.csv"
    broken.write_bytes(good.read_bytes() + b'olduser,,,,AB0000009,"Amara\n')
    with pytest.raises(LayoutError, match="line 7: a double quote opens a field that is never closed"):
        await run(store, broken)
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes(good.read_bytes() + ",".join(line(store, StudentID="AB0000009", LegalFirstName="Zoë")
                                                    ).encode("latin-1") + b"\n")
    with pytest.raises(LayoutError, match="not UTF-8"):
        await run(store, latin1)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(LayoutError, match="the file is empty"):
        await run(store, empty)
    assert await count(store, students_t) == 0


async def test_bad_rows_are_reported_completely_and_nothing_of_them_is_loaded(store, tmp_path):
    rows = [line(store, StudentID="AB0000001"),
            line(store, StudentID="", BirthDate="2017-02-30", Gender="Q", District_IRN="43802"),
            line(store, StudentID="AB 0000003", DateTimeCreated="yesterday"),
            line(store, StudentID="AB0000004")[:-3],  # too few fields
            line(store, StudentID="ab0000005"),
            line(store, StudentID="AB0000006")]
    report = await run(store, write(tmp_path / "bad.csv", store, rows))
    assert (report.loaded, report.rejected) == (2, 4)
    found = {(p.row, p.line, p.column) for p in report.problems}
    assert {(2, 3, "StudentID"), (2, 3, "BirthDate"), (2, 3, "Gender"), (2, 3, "District_IRN"),
            (3, 4, "StudentID"), (3, 4, "DateTimeCreated"), (4, 5, "(row)"), (5, 6, "StudentID")} == found
    text = "\n".join(str(p) for p in report.problems)
    assert "row 2 (line 3), BirthDate: is not a date: write it as YYYY-MM-DD" in text
    assert "6-digit IRN" in text and "has 14 fields; the header has 17" in text and "lower-case" in text
    assert {s async for s in _ids(store)} == {"AB0000001", "AB0000006"}
    assert await count(store, audit_t) == 2  # one LEGACY_IMPORT row per loaded student, none for rejected rows


async def _ids(store):
    async with store.read() as conn:
        for sid in (await conn.execute(select(students_t.c.student_id))).scalars():
            yield sid


async def test_a_rerun_skips_what_is_loaded_and_reports_changed_rows(store, tmp_path):
    rows = [line(store, StudentID=f"AB00000{i:02d}", LegalFirstName=f"Kid{'abcdefghij'[i % 10]}") for i in range(12)]
    path = write(tmp_path / "l.csv", store, rows)
    first = await run(store, path, chunk_size=5)
    assert first.loaded == 12
    audit_rows = await count(store, audit_t)
    again = await run(store, path, chunk_size=5)
    assert (again.loaded, again.already_present, again.rejected, again.problems) == (0, 12, 0, [])
    assert await count(store, audit_t) == audit_rows  # nothing written twice
    rows[3] = line(store, StudentID="AB0000003", LegalFirstName="Renamed")
    rows.append(line(store, StudentID="AB0000099"))
    changed = await run(store, write(tmp_path / "l2.csv", store, rows), chunk_size=5)
    assert (changed.loaded, changed.already_present, changed.differing) == (1, 11, 1)
    assert "already loaded with other attribute values" in changed.problems[0].message
    assert (await store.student("AB0000003")).values["LegalFirstName"] == "Kidd"  # left unchanged


async def test_an_interrupted_import_is_finished_by_running_it_again(store, tmp_path):
    rows = [line(store, StudentID=f"AC00000{i:02d}") for i in range(10)]
    path = write(tmp_path / "l.csv", store, rows)
    partial = write(tmp_path / "first-half.csv", store, rows[:4])  # what got committed before a crash
    await run(store, partial)
    report = await run(store, path)
    assert (report.loaded, report.already_present) == (6, 4)
    assert await count(store, students_t) == 10


@pytest.mark.parametrize("chunk_size", [100, 2])
async def test_a_duplicate_id_in_the_file_loads_once_and_reports_the_other_row(store, tmp_path, chunk_size):
    rows = [line(store, StudentID="AB0000001"), line(store, StudentID="AB0000002"),
            line(store, StudentID="AB0000001", LegalFirstName="Other")]
    report = await run(store, write(tmp_path / "d.csv", store, rows), chunk_size=chunk_size)
    assert (report.loaded, report.rejected) == (2, 1)
    [p] = report.problems
    assert (p.row, p.line, p.column) == (3, 4, "StudentID") and "one row per ID" in p.message
    assert (await store.student("AB0000001")).values["LegalFirstName"] == "Amara"


async def test_an_id_recorded_as_reserved_is_not_loaded_as_a_student(store, tmp_path):
    async with store.write() as conn:
        await store.reserve_ids(conn, ["AB0000001"], "retired", Actor("cli"))
    report = await run(store, write(tmp_path / "r.csv", store, [line(store, StudentID="AB0000001")]))
    assert report.rejected == 1 and "recorded as retired" in report.problems[0].message
    assert await store.student("AB0000001") is None


async def test_progress_is_reported_against_the_total(store, tmp_path):
    seen = []
    path = write(tmp_path / "p.csv", store, [line(store, StudentID=f"AD00000{i:02d}") for i in range(7)])
    await LegacyImporter(store, chunk_size=3).run(path, lambda done, total: seen.append((done, total)))
    assert seen == [(3, 7), (6, 7), (7, 7)]


async def test_worker_processes_give_the_same_result(sqlite_url, settings, tmp_path):
    from ssid.store import SsidStore

    store = SsidStore.from_url(sqlite_url, settings)
    await store.migrate()
    try:
        rows = [line(store, StudentID=f"AE0000{i:03d}", LegalFirstName=f"Kid{'abcdefghij'[i % 10]}")
                for i in range(40)]
        rows[7] = line(store, StudentID="AE0000007", Gender="Q")
        report = await LegacyImporter(store, workers=2, chunk_size=6).run(write(tmp_path / "w.csv", store, rows))
        assert (report.rows, report.loaded, report.rejected) == (40, 39, 1)
        assert [(p.row, p.column) for p in report.problems] == [(8, "Gender")]
        assert await count(store, students_t) == 39
    finally:
        await store.close()


async def test_a_duplicate_across_batches_of_one_transaction_is_reported_not_fatal(store, tmp_path, monkeypatch):
    import ssid.legacy as legacy

    monkeypatch.setattr(legacy, "PREPARE_ROWS", 2)  # batches of 2 rows, one transaction for all of them
    rows = [line(store, StudentID="AB0000001"), line(store, StudentID="AB0000002"),
            line(store, StudentID="AB0000003"), line(store, StudentID="AB0000001", LegalFirstName="Other")]
    report = await run(store, write(tmp_path / "d.csv", store, rows), chunk_size=100)
    assert (report.loaded, report.rejected) == (3, 1)
    [p] = report.problems
    assert (p.row, p.line, p.column) == (4, 5, "StudentID") and "line 2" in p.message


async def test_a_stray_quote_in_an_unquoted_field_refuses_the_file_naming_the_line(store, tmp_path):
    path = write(tmp_path / "s.csv", store, [line(store, StudentID="AB0000001")])
    path.write_text(path.read_text() + 'olduser,,,,AB0000002,Amara,,O"Brien,2017-04-12,F,,,,,,,\n'
                    + ",".join(line(store, StudentID="AB0000003")) + "\n")
    with pytest.raises(LayoutError, match="line 3: a double quote opens a field that is never closed"):
        await run(store, path)
    assert await count(store, students_t) == 0


async def _index_state(store):
    """What lookups and the audit rest on: every blocking key, the deferred indexes, no staging table."""
    from ssid.db import bulkload

    async with store.read() as conn:
        keys = sorted(tuple(r) for r in (await conn.execute(select(block_keys_t))).all())
        staged = await bulkload.pending(conn)
        indexes = set()
        if conn.dialect.name == "sqlite":
            got = await conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'index'")
            indexes = {n for (n,) in got.all()} & set(bulkload.DEFERRED)
        else:
            indexes = set(bulkload.DEFERRED)
    return keys, staged, indexes


async def test_an_initial_load_indexes_exactly_what_a_load_into_a_used_database_does(make_store, tmp_path):
    from ssid.db import bulkload

    empty, used = await make_store(), await make_store()
    rows = [line(empty, StudentID=f"AF0000{i:03d}", LegalFirstName=f"Kid{'abcdefghij'[i % 10]}",
                 LegalLastName=f"Fam{'klmnop'[i % 6]}") for i in range(30)]
    path = write(tmp_path / "i.csv", empty, rows)
    assert (await run(empty, path, chunk_size=7)).loaded == 30  # an empty database: staged on SQLite
    keys, staged, indexes = await _index_state(empty)
    assert not staged and indexes == set(bulkload.DEFERRED)
    await run(used, write(tmp_path / "first.csv", used, [line(used, StudentID="ZZ0000001")]))
    await run(used, path, chunk_size=7)  # a database that holds a student already: row by row
    used_keys, _, _ = await _index_state(used)
    assert keys == [k for k in used_keys if k[1] != "ZZ0000001"] and len(keys) >= 30 * 4
    found = await empty.student("AF0000004")
    assert found is not None and found.values["LegalFirstName"] == "Kide"


async def test_an_interrupted_initial_load_is_finished_before_anything_else(store, tmp_path, monkeypatch):
    from ssid.db import bulkload
    from ssid.matching import StudentRecord

    if store.engine.dialect.name != "sqlite":
        pytest.skip("initial loads are staged on SQLite only")
    finish = bulkload.finish
    calls = []

    async def crash_at_the_end(conn):
        calls.append(1)
        if len(calls) == 2:  # the first call looks for an earlier load; the second would index this one
            raise RuntimeError("killed while indexing")
        return await finish(conn)

    monkeypatch.setattr(bulkload, "finish", crash_at_the_end)
    path = write(tmp_path / "c.csv", store, [line(store, StudentID=f"AG0000{i:03d}") for i in range(5)])
    with pytest.raises(RuntimeError):
        await run(store, path)
    keys, staged, _ = await _index_state(store)
    assert staged and keys == []  # loaded, but nothing can find the students yet
    monkeypatch.setattr(bulkload, "finish", finish)
    await store.migrate()  # every serving process migrates when it starts: that finishes the load
    keys, staged, indexes = await _index_state(store)
    assert not staged and indexes == set(bulkload.DEFERRED) and {k[1] for k in keys} == {f"AG0000{i:03d}"
                                                                                         for i in range(5)}
    from ssid.db.candidates import match
    from ssid.matching import Matcher, Outcome

    async with store.read() as conn:
        decision = await match(conn, Matcher(), StudentRecord(
            first_name=AMARA["LegalFirstName"], last_name=AMARA["LegalLastName"], birth_date=AMARA["BirthDate"],
            gender="F"))
    assert decision.outcome != Outcome.NO_MATCH, "the loaded students are found once the load is finished"
