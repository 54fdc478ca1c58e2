"""Activity reports (``slf ssid report daily|weekly|monthly --date D``; RFP reporting, Supplement Three).

Why from the audit table: every creation, modification, deactivation, reactivation, alias and
legacy load writes exactly one audit row in the same transaction as the change, so counting
audit rows by change type over a period *is* the activity of that period, nothing estimated.
Periods are UTC: a day; an ISO week (Monday to Sunday) containing the date; a calendar month.

Service-level figures (share of SLF transactions answered within 2 s and 5 s, availability)
need the time each request arrived and was answered, and a record of up and down time. The
SSID database does not store either yet (the SLF tables live with the resolver; the poller
keeps no timings), so the report lists them as "not available" with the reason instead of
inventing numbers.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import and_, func, select

from .audit import ChangeType
from .db.schema import audit_t

PERIODS = ("daily", "weekly", "monthly")

NOT_AVAILABLE = {
    "answered_within_2s": "no per-transaction receive/answer times are recorded in the SSID database yet "
                          "(the SLF tables and the poller keep no timings)",
    "answered_within_5s": "no per-transaction receive/answer times are recorded in the SSID database yet",
    "availability": "no record of service up/down time exists yet (needs the server's health log)",
}


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


async def activity_report(store, period: str, day: date) -> dict[str, Any]:
    """Counts by change type (and by channel) for the period; unavailable figures named, not guessed."""
    start, end = period_bounds(period, day)
    lo, hi = start.timestamp(), end.timestamp()
    a = audit_t.c
    in_period = and_(a.at >= lo, a.at < hi)
    channel = func.coalesce(a.batch_job_id, "")
    async with store.read() as conn:
        by_type = dict((await conn.execute(select(a.change_type, func.count()).where(in_period)
                                           .group_by(a.change_type))).all())
        rows = (await conn.execute(select(a.change_type, a.via_slf, channel != "", func.count()).where(in_period)
                                   .group_by(a.change_type, a.via_slf, channel != ""))).all()
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
        "service_level": {k: None for k in NOT_AVAILABLE},
        "not_available": dict(NOT_AVAILABLE),
    }


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
    lines.append("service level: not available yet")
    for k, why in report["not_available"].items():
        lines.append(f"  {k}: not available ({why})")
    return "\n".join(lines)


__all__ = ["PERIODS", "activity_report", "period_bounds", "render_text"]
