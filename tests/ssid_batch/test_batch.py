"""`slf ssid batch`: every ResultCode, layout edge cases, idempotent re-runs, atomic output, audit job ids."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from ssid import maintenance as m
from ssid.batch import RESULT_CODES, BatchRunner
from ssid.csvlayout import LayoutError, header
from ssid.db.schema import audit_t, students_t

from .conftest import AMARA, KOFI, LENA, create, read_csv, row, write_csv

REASON = "same student as the surviving ID: same name, birth date and birth city, entered twice"


async def count(store, table, *where) -> int:
    async with store.read() as conn:
        return (await conn.execute(select(func.count()).select_from(table).where(*where))).scalar()


async def run(store, path, out, **kw):
    return await BatchRunner(store, user=kw.pop("user", "ann"), **kw).run(path, out)


async def test_every_result_code(store, users, tmp_path):
    amara = await create(store, AMARA)
    kofi = await create(store, KOFI)
    old = await create(store, dict(KOFI, LegalFirstName="Kofy", LegalMiddleName="Kwame", BirthPlaceCity="Akron"))
    async with store.write() as conn:
        await m.deactivate(store, conn, old.student_id, kofi.student_id, REASON, users["sam"])
    rows = [
        row(store, AMARA, UserDefined="match"),                                          # MATCH
        row(store, LENA, UserDefined="new"),                                             # NEW
        row(store, dict(AMARA, LegalFirstName="Amanda"), UserDefined="potential"),      # POTENTIAL
        row(store, AMARA, StudentID=amara.student_id, UserDefined="valid"),              # VALID
        row(store, LENA | {"LegalFirstName": "Zoe"}, StudentID=kofi.student_id, UserDefined="mismatch"),
        row(store, KOFI, StudentID=old.student_id, UserDefined="inactive"),              # INACTIVE
        row(store, dict(AMARA, LegalFirstName="", Gender="Q"), UserDefined="rejected"),  # REJECTED
    ]
    out = tmp_path / "out.csv"
    report = await run(store, write_csv(tmp_path / "in.csv", store, rows), out)
    got = read_csv(out)
    assert [r["UserDefined"] for r in got] == [r["UserDefined"] for r in rows]
    codes = [r["ResultCode"] for r in got]
    assert codes == ["MATCH", "NEW", "POTENTIAL", "VALID", "MISMATCH", "INACTIVE", "REJECTED"], [(r["ResultCode"], r["ResultMessage"]) for r in got]
    assert set(codes) == set(RESULT_CODES)
    assert got[0]["StudentID"] == amara.student_id
    new_id = got[1]["StudentID"]
    assert new_id and (await store.student(new_id)).values["LegalFirstName"] == "Lena"
    assert got[2]["StudentID"] == "" and amara.student_id in got[2]["ResultMessage"] and "web UI" in \
        got[2]["ResultMessage"]
    assert got[3]["StudentID"] == amara.student_id
    assert got[4]["StudentID"] == kofi.student_id and "LegalFirstName" in got[4]["ResultMessage"]
    assert got[5]["StudentID"] == kofi.student_id and old.student_id in got[5]["ResultMessage"]
    assert got[6]["StudentID"] == "" and "LegalFirstName" in got[6]["ResultMessage"] \
        and "Gender" in got[6]["ResultMessage"] and "F, M" in got[6]["ResultMessage"]
    assert list(got[0].keys()) == [*header(store.catalogue), "ResultCode", "ResultMessage"]
    assert report.rows == 7 and sum(report.counts.values()) == 7
    # the new ID's audit row carries the batch job id; so does the alias remembered on the match
    async with store.read() as conn:
        jobs = (await conn.execute(select(audit_t.c.change_type, audit_t.c.batch_job_id, audit_t.c.user_id)
                                   .where(audit_t.c.batch_job_id.is_not(None)))).all()
    assert ("CREATE", report.job_id, "ann") in jobs
    assert all(j == report.job_id for _, j, _ in jobs)


async def test_layout_edge_cases_bom_crlf_quotes_us_dates_user_defined(store, users, tmp_path):
    await create(store, AMARA)
    rows = [row(store, dict(AMARA, BirthDate="04/12/2017"), UserDefined='SIS 77, "homeroom" 4B'),
            row(store, dict(KOFI, BirthDate="09/30/2015", BirthPlaceCity="Dayton, OH".replace(",", "")),
                UserDefined="line1\nline2"),
            row(store, LENA, UserDefined="  spaced  ")]
    src = write_csv(tmp_path / "in.csv", store, rows, bom=True, crlf=True)
    assert src.read_bytes().startswith(b"\xef\xbb\xbf") and b"\r\n" in src.read_bytes()
    out = tmp_path / "out.csv"
    await run(store, src, out)
    got = read_csv(out)
    assert len(got) == 3
    assert [g["UserDefined"] for g in got] == ['SIS 77, "homeroom" 4B', "line1\nline2", "  spaced  "]
    assert [g["ResultCode"] for g in got] == ["MATCH", "NEW", "NEW"]
    assert got[1]["BirthDate"] == "09/30/2015"  # echoed as given
    assert (await store.student(got[1]["StudentID"])).values["BirthDate"] == "2015-09-30"


async def test_wrong_header_is_refused_before_anything_is_written(store, users, tmp_path):
    cols = list(header(store.catalogue))
    cols[5], cols[7] = cols[7], cols[5]
    src = write_csv(tmp_path / "in.csv", store, [row(store, AMARA)], head=cols)
    before = await count(store, audit_t)
    out = tmp_path / "out.csv"
    with pytest.raises(LayoutError, match="wrong header.*nothing was processed"):
        await run(store, src, out)
    assert not out.exists() and list(tmp_path.glob(".out.csv*")) == []
    assert await count(store, audit_t) == before


async def test_limits_and_unclosed_quote_are_refused_before_processing(store, users, tmp_path):
    src = write_csv(tmp_path / "in.csv", store, [row(store, AMARA), row(store, KOFI), row(store, LENA)])
    with pytest.raises(LayoutError, match="3 rows; at most 2"):
        await run(store, src, tmp_path / "out.csv", max_rows=2)
    with pytest.raises(LayoutError, match="bytes; at most 10"):
        await run(store, src, tmp_path / "out.csv", max_bytes=10)
    broken = tmp_path / "broken.csv"
    broken.write_text(src.read_text() + 'clerk,,,,,"Amara\n', encoding="utf-8")
    with pytest.raises(LayoutError, match="never closed"):
        await run(store, broken, tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()
    assert await count(store, students_t) == 0


async def test_bad_values_and_bad_rows_are_rejected_naming_fields(store, users, tmp_path):
    rows = [row(store, dict(AMARA, BirthDate="2017-13-45")),
            row(store, dict(AMARA, BirthDate="31/12/2017", LegalLastName="0kafor")),
            row(store, AMARA, District_IRN="43802"),
            row(store, KOFI, StudentID="ZZ0000000"),
            row(store, {"LegalFirstName": "Ngozi", "LegalLastName": "Eze", "BirthDate": "2016-01-02",
                        "Gender": "F", "BirthPlaceCity": "Akron"})]  # retrieve ok, generate fields missing
    src = write_csv(tmp_path / "in.csv", store, rows)
    src.write_text(src.read_text() + "only,three,fields\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    await run(store, src, out)
    got = read_csv(out)
    assert len(got) == 6 and all(g["ResultCode"] == "REJECTED" for g in got), got
    msgs = [g["ResultMessage"] for g in got]
    assert "BirthDate" in msgs[0] and "YYYY-MM-DD" in msgs[0]
    assert "BirthDate" in msgs[1] and "LegalLastName" in msgs[1]
    assert "District_IRN" in msgs[2] and "6-digit" in msgs[2]
    assert "ZZ0000000" in msgs[3] and "not a known student ID" in msgs[3]
    assert "No existing student matches" in msgs[4] and "LegalMiddleName" in msgs[4] and "RaceEthnicity" in msgs[4]
    assert "has 3 fields" in msgs[5]
    assert await count(store, students_t) == 0


async def test_minimal_group_needs_only_names_and_birth_date(store, users, tmp_path):
    src = write_csv(tmp_path / "in.csv", store, [row(store, {"LegalFirstName": "Ngozi", "LegalLastName": "Eze",
                                                             "BirthDate": "01/02/2016"})])
    out = tmp_path / "out.csv"
    await run(store, src, out, user="min")  # the user's group applies
    assert read_csv(out)[0]["ResultCode"] == "NEW"


async def test_rerunning_the_same_file_issues_no_new_ids(store, users, tmp_path):
    rows = [row(store, AMARA), row(store, KOFI), row(store, LENA),
            row(store, AMARA)]  # the same student twice in one file: one ID
    src = write_csv(tmp_path / "in.csv", store, rows)
    first = await run(store, src, tmp_path / "out1.csv")
    n = await count(store, students_t)
    assert n == 3
    one = read_csv(tmp_path / "out1.csv")
    assert [r["ResultCode"] for r in one] == ["NEW", "NEW", "NEW", "MATCH"]
    assert one[3]["StudentID"] == one[0]["StudentID"]
    second = await run(store, src, tmp_path / "out2.csv")
    assert await count(store, students_t) == n
    two = read_csv(tmp_path / "out2.csv")
    assert [(r["ResultCode"], r["StudentID"]) for r in two] == [(r["ResultCode"], r["StudentID"]) for r in one]
    assert first.job_id != second.job_id


async def test_output_replaces_atomically_and_never_overwrites_input(store, users, tmp_path):
    src = write_csv(tmp_path / "in.csv", store, [row(store, AMARA)])
    with pytest.raises(LayoutError, match="must not overwrite the input"):
        await run(store, src, src)
    out = tmp_path / "sub" / "out.csv"
    await run(store, src, out)
    assert read_csv(out)[0]["ResultCode"] == "NEW"
    assert [p.name for p in out.parent.iterdir()] == ["out.csv"]
