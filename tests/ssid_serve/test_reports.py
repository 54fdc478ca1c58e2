"""`slf ssid report`: response times from ssid_decisions, availability from heartbeats (times injected)."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timezone

import pytest
from click.testing import CliRunner

from slf.ssid_batch import report_cmd
from ssid.decisions import decision_row, record
from ssid.heartbeats import beat
from ssid.reports import activity_report, nearest_rank, render_text
from tests.ssid_pipeline.conftest import EXAMPLE

DAY = date(2025, 3, 10)
MIDNIGHT = datetime(2025, 3, 10, tzinfo=timezone.utc).timestamp()
H = 3600.0


async def fill(store) -> None:
    """Five SLF transactions taking 0.5, 1.9, 2.0, 3.0 and 7.0 s, and what must not count."""
    t = MIDNIGHT + 8 * H
    rows = [decision_row("slf", outcome, decided_at=t + i * 60 + took, received_at=t + i * 60, request_key=f"T{i}")
            for i, (outcome, took) in enumerate((("match", 0.5), ("new", 1.9), ("error", 2.0), ("potential", 3.0),
                                                 ("match", 7.0)))]
    rows += [
        decision_row("slf", "match", decided_at=t + 900, received_at=t, request_key="T0"),  # decided again: once
        decision_row("slf", "user_match", decided_at=t + 4 * H, received_at=t + 180, request_key="T3"),
        decision_row("slf", "user_error", decided_at=t + 5 * H, received_at=t, request_key="T9"),
        decision_row("slf", "new", decided_at=t + 30, received_at=None, request_key="T-untimed"),
        decision_row("batch", "match", decided_at=t + 1, received_at=t, request_key="job:1"),
        decision_row("slf", "new", decided_at=MIDNIGHT - 10, received_at=MIDNIGHT - 20, request_key="T-yesterday"),
    ]
    beats = [MIDNIGHT + 6 * H + 60 * i for i in range(181)]                 # 06:00 .. 09:00
    beats += [MIDNIGHT + 9 * H + 660 + 60 * i for i in range(int((15 * H - 660) // 60) + 2)]  # 09:11 .. past 24:00
    async with store.write() as conn:
        await record(conn, rows)
        for at in beats:
            await beat(conn, at, 60.0, "ssid-1:100", MIDNIGHT + 6 * H)


@pytest.mark.parametrize("p, n, index", [(50, 5, 2), (95, 5, 4), (50, 1, 0), (95, 100, 94), (100, 3, 2),
                                         (50, 4, 1)])
def test_nearest_rank(p, n, index):
    assert nearest_rank(p, n) == index


async def test_service_level_of_a_day(store):
    await fill(store)
    report = await activity_report(store, "daily", DAY, now=MIDNIGHT + 30 * H)
    sl = report["service_level"]
    assert (sl["slf_transactions_timed"], sl["slf_transactions_untimed"], sl["user_decisions_excluded"]) == (5, 1, 2)
    assert (sl["answered_within_2s"], sl["answered_within_5s"]) == (3 / 5, 4 / 5)
    assert (sl["p50_seconds"], sl["p95_seconds"]) == (pytest.approx(2.0), pytest.approx(7.0))
    assert sl["availability_measured_from_utc"] == "2025-03-10T06:00:00Z"
    assert sl["availability_measured_to_utc"] == "2025-03-11T00:00:00Z"
    assert (sl["down_seconds"], sl["outages"]) == (pytest.approx(660.0), 1)
    assert sl["availability"] == pytest.approx(1 - 660 / (18 * H))
    assert "answered_within_2s" not in report["not_available"] and "availability" not in report["not_available"]
    text = render_text(report)
    for line in ("decisions made by a person (5 USER_MATCH, 6 USER_NEW) are excluded",
                 "transactions timed: 5 (untimed: 1; user decisions excluded: 2)",
                 "decided within 2 s: 60.00% (target 95.00%)", "decided within 5 s: 80.00% (target 99.00%)",
                 "decision time: p50 2.000 s, p95 7.000 s", "availability: 98.98% (target 99.50%)",
                 "1 outage(s), 11.0 min down",
                 "2025-03-10T00:00:00Z to 2025-03-10T06:00:00Z: not measured (before the first heartbeat)"):
        assert line in text, text


async def test_a_day_before_the_first_heartbeat_is_not_measured(store):
    await fill(store)
    report = await activity_report(store, "daily", date(2025, 3, 9), now=MIDNIGHT + 30 * H)
    sl = report["service_level"]
    assert sl["slf_transactions_timed"] == 1 and sl["p50_seconds"] == pytest.approx(10.0)
    assert sl["availability"] is None and "no heartbeat" in report["not_available"]["availability"]
    assert "availability: not measured: no heartbeat from `slf ssid serve`" in render_text(report)


async def test_a_day_still_running_is_measured_up_to_now(store):
    await fill(store)
    report = await activity_report(store, "daily", DAY, now=MIDNIGHT + 9 * H + 300)  # in the gap, 5 min after
    sl = report["service_level"]
    assert sl["availability_measured_to_utc"] == "2025-03-10T09:05:00Z"
    assert sl["down_seconds"] == pytest.approx(300.0) and sl["up_seconds"] == pytest.approx(3 * H)


async def test_nothing_to_measure_says_why(store):
    report = await activity_report(store, "monthly", date(2020, 1, 5), now=MIDNIGHT)
    assert report["service_level"]["answered_within_2s"] is None
    assert report["not_available"]["answered_within_5s"] == "no SLF transaction was decided by the system in this period"
    assert "not available: no SLF transaction was decided" in render_text(report)


async def test_the_command_prints_the_service_level(store, db_url):
    await fill(store)
    result = await asyncio.to_thread(CliRunner().invoke, report_cmd,
                                     ["daily", "--date", DAY.isoformat(), "--config", EXAMPLE, "--db", db_url])
    assert result.exit_code == 0, result.output
    assert "decided within 2 s: 60.00%" in result.output and "availability: 98.98%" in result.output
    assert "decisions made by a person" in result.output
