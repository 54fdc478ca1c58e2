"""Activity reports (``slf ssid report daily|weekly|monthly --date D``; RFP reporting, Supplement Three).

Why from the audit table: every creation, modification, deactivation, reactivation, alias and
legacy load writes exactly one audit row in the same transaction as the change, so counting
audit rows by change type over a period *is* the activity of that period, nothing estimated.
Periods are UTC: a day; an ISO week (Monday to Sunday) containing the date; a calendar month.

Service level (Supplement Three), from what the database records as it works:

* response time: ``ssid_decisions`` rows of kind ``slf`` decided in the period, one per
  transaction (the first decision: a re-processed row after a crash counts once), timed from
  the row's READY time to the decision. Decisions made by a person (5 USER_MATCH, 6 USER_NEW,
  and a resolution that failed) are left out: a person takes the time they need. Shares within
  2 s and 5 s (targets 95 % and 99 %) and the p50 / p95 decision times (nearest rank);
* availability: the share of the period the server was up, from the heartbeats
  ``slf ssid serve`` writes (``ssid.heartbeats``: a gap of more than two intervals is down).
  The part of a period before the first heartbeat, or after now, is not measured.

A figure with nothing to measure is None, with the reason in ``not_available``: never invented.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from .audit import ChangeType
from .db.schema import audit_t
from .decisions import USER_OUTCOMES, decisions_t
from .heartbeats import availability, beats_around

PERIODS = ("daily", "weekly", "monthly")
#: Supplement Three: 95 % of transactions within 2.0 s, 99 % within 5.0 s; availability 99.5 %
TARGETS = {"answered_within_2s": 0.95, "answered_within_5s": 0.99, "availability": 0.995}
EXCLUDED_NOTE = ("SLF transactions decided by the system; decisions made by a person (5 USER_MATCH, 6 USER_NEW) "
                 "are excluded, since a person takes the time they need")


def period_bounds(period: str, day: date) -> tuple[datetime, datetime]:
    """[start, end) in UTC of the period containing ``day``."""
    if period == "daily":
        start = day
        end = day + timedelta(days=1)
    elif period == "weekly":
        start = day - timedelta(days=day.weekday())
        end = start + timedelta(days=7)
    elif period == "monthly":
        start = day.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
    else:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}")
    return (datetime.combine(start, time(), timezone.utc), datetime.combine(end, time(), timezone.utc))


async def activity_report(store, period: str, day: date, *, now: float | None = None) -> dict[str, Any]:
    """Counts by change type (and by channel) and the service level for the period; figures that
    cannot be measured are named with the reason, not guessed. ``now`` (default: the store's
    clock) ends the measured part of a period still running."""
    start, end = period_bounds(period, day)
    lo, hi = start.timestamp(), end.timestamp()
    a = audit_t.c
    in_period = and_(a.at >= lo, a.at < hi)
    # grouped over a subquery: PostgreSQL refuses GROUP BY on an expression with bound parameters
    # (the select's and the group's parameters are two different expressions to it)
    channels = select(a.change_type, a.via_slf, (func.coalesce(a.batch_job_id, "") != "").label("batch")
                      ).where(in_period).subquery()
    c = channels.c
    async with store.read() as conn:
        by_type = dict((await conn.execute(select(a.change_type, func.count()).where(in_period)
                                           .group_by(a.change_type))).all())
        rows = (await conn.execute(select(c.change_type, c.via_slf, c.batch, func.count())
                                   .group_by(c.change_type, c.via_slf, c.batch))).all()
        forced = (await conn.execute(select(func.count()).where(in_period, a.forced_new.is_(True)))).scalar() or 0
        jobs = (await conn.execute(select(func.count(func.distinct(a.batch_job_id)))
                                   .where(in_period, a.batch_job_id.is_not(None)))).scalar() or 0
    counts = {str(t): int(by_type.get(str(t), 0)) for t in ChangeType}
    counts.update({k: int(v) for k, v in by_type.items() if k not in counts})  # types added later
    by_channel: dict[str, dict[str, int]] = {}
    for change, via_slf, batch, n in rows:
        ch = "slf" if via_slf else "batch" if batch else "online"
        by_channel.setdefault(change, {"slf": 0, "batch": 0, "online": 0})[ch] += int(n)
    return {
        "period": period, "date": day.isoformat(),
        "from_utc": start.strftime("%Y-%m-%dT%H:%M:%SZ"), "to_utc": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "changes": counts, "total": sum(counts.values()), "by_channel": by_channel,
        "new_ids_issued": counts.get(str(ChangeType.CREATE), 0),
        "new_ids_forced_past_matches": int(forced), "batch_jobs": int(jobs),
        **await _service_level(store, lo, hi, store.clock() if now is None else now),
    }


def nearest_rank(p: float, n: int) -> int:
    """The 0-based index of the ``p``-th percentile (0 < p <= 100) of ``n`` sorted values (nearest rank)."""
    if n <= 0 or not 0 < p <= 100:
        raise ValueError("nearest_rank needs n > 0 and 0 < p <= 100")
    return max(1, math.ceil(p / 100 * n)) - 1


async def response_times(conn: AsyncConnection, lo: float, hi: float) -> dict[str, Any]:
    """SLF decision times over [lo, hi): counts, shares within 2 s / 5 s, p50 / p95 seconds."""
    d = decisions_t.c
    in_period = (d.kind == "slf", d.decided_at >= lo, d.decided_at < hi)
    system = d.outcome.not_in(sorted(USER_OUTCOMES))
    # one row per transaction: a row decided again (recovery, two pollers) keeps its first decision
    first = (select(d.request_key, d.received_at, func.min(d.decided_at).label("decided"))
             .where(*in_period, system, d.received_at.is_not(None))
             .group_by(d.request_key, d.received_at).subquery())
    took = (first.c.decided - first.c.received_at).label("took")
    n, within2, within5 = (await conn.execute(select(
        func.count(), func.sum(case((took <= 2.0, 1), else_=0)), func.sum(case((took <= 5.0, 1), else_=0)))
    )).one()
    untimed = (await conn.execute(select(func.count(func.distinct(d.request_key)))
                                  .where(*in_period, system, d.received_at.is_(None)))).scalar() or 0
    by_person = (await conn.execute(select(func.count()).where(*in_period, d.outcome.in_(sorted(USER_OUTCOMES)))
                                    )).scalar() or 0
    out: dict[str, Any] = {"slf_transactions_timed": int(n or 0), "slf_transactions_untimed": int(untimed),
                           "user_decisions_excluded": int(by_person), "answered_within_2s": None,
                           "answered_within_5s": None, "p50_seconds": None, "p95_seconds": None}
    if n:
        out["answered_within_2s"] = int(within2 or 0) / n
        out["answered_within_5s"] = int(within5 or 0) / n
        for p in (50, 95):
            out[f"p{p}_seconds"] = float((await conn.execute(
                select(took).order_by(took).offset(nearest_rank(p, n)).limit(1))).scalar())
    return out


async def _service_level(store, lo: float, hi: float, now: float) -> dict[str, Any]:
    async with store.read() as conn:
        times = await response_times(conn, lo, hi)
        first, beats = await beats_around(conn, lo, hi)
    avail = availability(beats, lo, hi, now, first)
    level: dict[str, Any] = {**times, "availability": avail.share, "up_seconds": avail.up,
                             "down_seconds": avail.down, "outages": avail.outages,
                             "availability_measured_from_utc": _iso(avail.measured_from),
                             "availability_measured_to_utc": _iso(avail.measured_to),
                             "targets": dict(TARGETS), "note": EXCLUDED_NOTE}
    missing: dict[str, str] = {}
    if times["answered_within_2s"] is None:
        why = ("no SLF transaction was decided by the system in this period"
               if not times["slf_transactions_untimed"] else
               "the SLF tables give no READY time for the transactions decided in this period")
        for k in ("answered_within_2s", "answered_within_5s", "p50_seconds", "p95_seconds"):
            missing[k] = why
    if avail.share is None:
        missing["availability"] = ("not measured: no heartbeat from `slf ssid serve` before the end of this "
                                   "period" if first is None or first >= min(hi, now) else
                                   "not measured: the period has not begun")
    return {"service_level": level, "not_available": missing}


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def render_text(report: dict[str, Any]) -> str:
    lines = [f"SSID activity, {report['period']} report for {report['date']} "
             f"({report['from_utc']} to {report['to_utc']}, UTC)", ""]
    lines.append(f"{'change type':<22} {'total':>8} {'slf':>8} {'batch':>8} {'online':>8}")
    for change, n in report["changes"].items():
        ch = report["by_channel"].get(change, {"slf": 0, "batch": 0, "online": 0})
        lines.append(f"{change:<22} {n:>8,} {ch['slf']:>8,} {ch['batch']:>8,} {ch['online']:>8,}")
    lines.append(f"{'all changes':<22} {report['total']:>8,}")
    lines.append("")
    lines.append(f"new IDs issued: {report['new_ids_issued']:,} (forced past offered matches: "
                 f"{report['new_ids_forced_past_matches']:,}); batch jobs that changed records: {report['batch_jobs']:,}")
    lines.append("")
    lines += render_service_level(report)
    return "\n".join(lines)


def render_service_level(report: dict[str, Any]) -> list[str]:
    sl, missing = report["service_level"], report["not_available"]
    lines = ["service level", f"  response time: {sl['note']}"]
    if sl["answered_within_2s"] is None:
        lines.append(f"    not available: {missing['answered_within_2s']}")
    else:
        lines.append(f"    transactions timed: {sl['slf_transactions_timed']:,} (untimed: "
                     f"{sl['slf_transactions_untimed']:,}; user decisions excluded: {sl['user_decisions_excluded']:,})")
        for k, limit in (("answered_within_2s", "2 s"), ("answered_within_5s", "5 s")):
            lines.append(f"    decided within {limit}: {_pct(sl[k])} (target {_pct(TARGETS[k])})")
        lines.append(f"    decision time: p50 {sl['p50_seconds']:.3f} s, p95 {sl['p95_seconds']:.3f} s")
    if sl["availability"] is None:
        lines.append(f"  availability: {missing['availability']}")
    else:
        down = sl["down_seconds"]
        lines.append(f"  availability: {_pct(sl['availability'])} (target {_pct(TARGETS['availability'])}), "
                     f"measured {sl['availability_measured_from_utc']} to {sl['availability_measured_to_utc']}; "
                     f"{sl['outages']:,} outage(s), {down / 60:,.1f} min down (a heartbeat gap of more than two "
                     "intervals counts as down)")
        if sl["availability_measured_from_utc"] != report["from_utc"]:
            lines.append(f"    {report['from_utc']} to {sl['availability_measured_from_utc']}: not measured "
                         "(before the first heartbeat)")
    return lines


__all__ = ["PERIODS", "TARGETS", "activity_report", "nearest_rank", "period_bounds", "render_service_level",
           "render_text", "response_times"]
