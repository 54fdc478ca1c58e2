"""The duplicate sweep, the activity report, the bulk candidate source, and the three commands."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timezone

from click.testing import CliRunner
from sqlalchemy import func, select

from slf.ssid_batch import batch_cmd, report_cmd, sweep_cmd
from ssid.audit import Actor
from ssid.db.candidates import DbCandidateSource, PrefetchedSource
from ssid.matching.blocking import query_keys
from ssid.db.schema import audit_t
from ssid.legacy import LegacyImporter
from ssid.matching import Matcher, Thresholds
from ssid.population import generate_population, generate_queries
from ssid.records import match_record
from ssid.reports import activity_report, period_bounds
from ssid.sweep import LIKELY_DUPLICATE, sweep

from .conftest import AMARA, EXAMPLE, KOFI, LENA, create, read_csv, row, write_csv
from .synth import layout_row, values_of, write_layout


async def test_sweep_finds_planted_duplicates_and_not_twins(store, users, tmp_path):
    amara = await create(store, AMARA)
    dup = await create(store, dict(AMARA, LegalFirstName="Amarah", BirthPlaceCity="Cleveland"))
    kofi = await create(store, KOFI)
    twin = await create(store, dict(KOFI, LegalFirstName="Kwame", LegalMiddleName="Kojo"))
    await create(store, LENA)
    result = await sweep(store)
    pairs = {(p.a, p.b): p for p in result.pairs}
    assert result.students == 5
    planted = pairs[tuple(sorted((amara.student_id, dup.student_id)))]
    assert planted.classification == LIKELY_DUPLICATE and planted.confidence > 0.9
    assert "first_name" in planted.differing
    twins = pairs.get(tuple(sorted((kofi.student_id, twin.student_id))))
    assert twins is None or twins.classification != LIKELY_DUPLICATE
    assert len(pairs) == len(result.pairs)  # each pair once
    # an operator who sets T_match above anything a pair scores ([matching] in the configuration)
    store.settings = replace(store.settings, thresholds=Thresholds(match=200, match_inexact_birth_date=200))
    strict = {(p.a, p.b): p for p in (await sweep(store)).pairs}
    assert strict[(planted.a, planted.b)].classification != LIKELY_DUPLICATE


async def test_report_counts_match_the_audit(store, users, tmp_path):
    await create(store, AMARA)
    src = write_csv(tmp_path / "in.csv", store, [row(store, KOFI), row(store, LENA), row(store, AMARA)])
    from ssid.batch import BatchRunner
    job = await BatchRunner(store, user="ann").run(src, tmp_path / "out.csv")
    day = datetime.fromtimestamp(store.clock(), timezone.utc).date()
    report = await activity_report(store, "daily", day)
    async with store.read() as conn:
        rows = (await conn.execute(select(audit_t.c.change_type, func.count()).group_by(audit_t.c.change_type))).all()
    assert {k: v for k, v in report["changes"].items() if v} == dict(rows)
    assert report["total"] == sum(n for _, n in rows)
    assert report["new_ids_issued"] == 3 and report["batch_jobs"] == 1
    assert report["by_channel"]["CREATE"] == {"slf": 0, "batch": 2, "online": 1}
    assert job.job_id
    assert report["service_level"]["availability"] is None and "availability" in report["not_available"]
    empty = await activity_report(store, "monthly", date(2020, 1, 5))
    assert empty["total"] == 0


def test_period_bounds_are_utc_day_iso_week_and_month():
    d = date(2027, 1, 15)  # a Friday
    assert [x.isoformat() for x in period_bounds("daily", d)] == ["2027-01-15T00:00:00+00:00",
                                                                  "2027-01-16T00:00:00+00:00"]
    assert [x.date().isoformat() for x in period_bounds("weekly", d)] == ["2027-01-11", "2027-01-18"]
    assert [x.date().isoformat() for x in period_bounds("monthly", date(2027, 12, 31))] == ["2027-12-01",
                                                                                          "2028-01-01"]


async def test_prefetched_source_answers_like_the_database_source(store, tmp_path):
    pop = generate_population(2_000, seed=11)
    await LegacyImporter(store, actor=Actor("loader")).run(write_layout(
        tmp_path / "l.csv", store.catalogue, (layout_row(s.record, s.student_id) for s in pop.students)))
    matcher = Matcher()
    queries = [match_record(store.catalogue.check(values_of(q.record), "import").values)
               for q in generate_queries(pop, 300, seed=11)]

    def both(conn):
        out = []
        for q in queries:
            keys = [k.key for k in query_keys(matcher.standardize(q))]
            a = Matcher(source=DbCandidateSource(conn))
            b = Matcher(source=PrefetchedSource(conn, keys, prefetch_limit=3))  # larger blocks: the fallback
            da, db = a.match(q), b.match(q)
            out.append(((da.outcome, da.student_id, [c.student_id for c in da.candidates]),
                        (db.outcome, db.student_id, [c.student_id for c in db.candidates])))
        return out

    async with store.read() as conn:
        pairs = await conn.run_sync(both)
    assert all(x == y for x, y in pairs)
    assert matcher is not None


def test_commands(settings, tmp_path):
    from slf.cli import main

    class Cat:
        catalogue = settings.catalogue

    store = Cat()
    db = str(tmp_path / "cli.db")
    r = CliRunner().invoke(main, ["ssid", "init", "--config", EXAMPLE, "--db", db])
    assert r.exit_code == 0, r.output
    src = write_csv(tmp_path / "in.csv", store, [row(store, AMARA), row(store, dict(AMARA, LegalFirstName=""))])
    out = tmp_path / "out.csv"
    r = CliRunner().invoke(batch_cmd, [str(src), "--out", str(out), "--config", EXAMPLE, "--db", db])
    assert r.exit_code == 0, r.output
    assert "NEW 1" in r.output and "REJECTED 1" in r.output
    assert [x["ResultCode"] for x in read_csv(out)] == ["NEW", "REJECTED"]
    bad = write_csv(tmp_path / "bad.csv", store, [row(store, AMARA)], head=["UserID", "Name"])
    r = CliRunner().invoke(batch_cmd, [str(bad), "--out", str(tmp_path / "o2.csv"), "--config", EXAMPLE, "--db", db])
    assert r.exit_code == 1 and "wrong header" in r.output and not (tmp_path / "o2.csv").exists()
    review = tmp_path / "review.csv"
    r = CliRunner().invoke(sweep_cmd, ["--out", str(review), "--config", EXAMPLE, "--db", db])
    assert r.exit_code == 0 and review.exists(), r.output
    day = datetime.now(timezone.utc).date().isoformat()
    r = CliRunner().invoke(report_cmd, ["daily", "--date", day, "--config", EXAMPLE, "--db", db])
    assert r.exit_code == 0 and "CREATE" in r.output and "not available" in r.output, r.output
