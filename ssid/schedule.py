"""When the server writes its extracts: pure due-time logic (RFP 1.24–1.25).

The issue asks for "active and deactivated daily, delta several times a day". The schedule is
configuration (``[extracts]`` in conf/ssid.example.toml)::

    [extracts]
    dir = "../var/extracts"        # relative to the configuration file
    timezone = "America/New_York"  # the clock the times of day are read on (default UTC)
    active_at = "02:00"            # daily
    deactivated_at = "02:30"       # daily
    delta_every = "4h"             # slots from local midnight: 00:00, 04:00, 08:00, ...

A kind is due when its latest slot (the latest scheduled instant not after now) is later than
the last extract of that kind in the folder. The last runs are read from the file names the
extracts already carry (``ssid-<kind>-<UTC time>-<id>.csv.manifest.json``; only files whose
manifest exists count, i.e. complete ones), so a server that was down at 02:00 writes the
missed extract when it starts, and a restart never writes a second one for the same slot.
A kind without a setting is not scheduled. No I/O here: the server passes the names and the
time in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAILY = ("active", "deactivated")
KINDS = ("active", "deactivated", "delta")
_KEYS = {"dir", "timezone", "active_at", "deactivated_at", "delta_every"}
_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_TIME_OF_DAY = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
_MANIFEST = re.compile(r"ssid-(active|deactivated|delta)-(\d{8}T\d{6}Z)-[0-9a-f]+\.csv\.manifest\.json")
MIN_EVERY, MAX_EVERY = 1.0, 86_400.0


class ScheduleError(ValueError):
    """A schedule setting that cannot be used; the message says which and how to write it."""


@dataclass(frozen=True)
class ExtractSchedule:
    out_dir: Path
    active_at: time | None = None
    deactivated_at: time | None = None
    delta_every: float | None = None  # seconds
    tz: tzinfo = timezone.utc

    def daily_at(self, kind: str) -> time | None:
        return {"active": self.active_at, "deactivated": self.deactivated_at}.get(kind)

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(k for k in KINDS if (self.delta_every if k == "delta" else self.daily_at(k)) is not None)


def parse_duration(text: str) -> float:
    """Seconds of "4h", "30m", "90s", "1h30m"."""
    m = _DURATION.fullmatch(str(text).strip().lower())
    if not m or not any(m.groups()):
        raise ScheduleError(f"{text!r} is not a duration: write e.g. \"4h\", \"30m\", \"1h30m\" or \"90s\"")
    h, mi, s = (int(g or 0) for g in m.groups())
    return float(h * 3600 + mi * 60 + s)


def parse_time_of_day(text: str) -> time:
    m = _TIME_OF_DAY.fullmatch(str(text).strip())
    if not m:
        raise ScheduleError(f"{text!r} is not a time of day: write HH:MM on a 24-hour clock, e.g. \"02:00\"")
    return time(int(m.group(1)), int(m.group(2)))


def schedule_from_config(data: Mapping[str, Any], base: Path | None = None) -> ExtractSchedule:
    """The schedule of an ``[extracts]`` table; every problem at once in one ScheduleError."""
    problems: list[str] = []
    unknown = set(data) - _KEYS
    if unknown:
        problems.append(f"unknown keys {', '.join(sorted(unknown))} (known: {', '.join(sorted(_KEYS))})")
    if not data.get("dir"):
        problems.append("dir is missing: the folder the extract files are written to")
    out = Path(str(data.get("dir") or "."))
    if not out.is_absolute():
        out = (base or Path.cwd()) / out
    tz: tzinfo = timezone.utc
    if data.get("timezone"):
        try:
            tz = ZoneInfo(str(data["timezone"]))
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(f"timezone {data['timezone']!r} is unknown: write an IANA name such as "
                            "\"America/New_York\" or \"UTC\"")
    times: dict[str, time | None] = {}
    for kind in DAILY:
        key = f"{kind}_at"
        try:
            times[kind] = parse_time_of_day(data[key]) if data.get(key) else None
        except ScheduleError as exc:
            problems.append(f"{key}: {exc}")
            times[kind] = None
    every = None
    if data.get("delta_every"):
        try:
            every = parse_duration(data["delta_every"])
            if not MIN_EVERY <= every <= MAX_EVERY:
                problems.append("delta_every must be between 1s and 24h")
        except ScheduleError as exc:
            problems.append(f"delta_every: {exc}")
    if problems:
        raise ScheduleError("[extracts] " + "; ".join(problems))
    return ExtractSchedule(out, times["active"], times["deactivated"], every, tz)


def _local_midnight(now: float, tz: tzinfo) -> datetime:
    local = datetime.fromtimestamp(now, tz)
    return datetime.combine(local.date(), time(), tzinfo=tz)


def last_slot(schedule: ExtractSchedule, kind: str, now: float) -> float | None:
    """The latest scheduled instant of ``kind`` not after ``now`` (None: not scheduled)."""
    midnight = _local_midnight(now, schedule.tz)
    if kind == "delta":
        if schedule.delta_every is None:
            return None
        start = midnight.timestamp()
        return start + ((now - start) // schedule.delta_every) * schedule.delta_every
    at = schedule.daily_at(kind)
    if at is None:
        return None
    for days in (0, 1):
        day = (midnight - timedelta(days=days)).date()
        slot = datetime.combine(day, at, tzinfo=schedule.tz).timestamp()
        if slot <= now:
            return slot
    return None  # pragma: no cover - yesterday's slot is always in the past


def next_slot(schedule: ExtractSchedule, kind: str, now: float) -> float | None:
    """The first scheduled instant of ``kind`` after ``now``."""
    midnight = _local_midnight(now, schedule.tz)
    if kind == "delta":
        if schedule.delta_every is None:
            return None
        nxt = (last_slot(schedule, kind, now) or now) + schedule.delta_every
        tomorrow = datetime.combine(midnight.date() + timedelta(days=1), time(), tzinfo=schedule.tz).timestamp()
        return min(nxt, tomorrow)  # slots start again at local midnight
    at = schedule.daily_at(kind)
    if at is None:
        return None
    for days in (0, 1):
        slot = datetime.combine(midnight.date() + timedelta(days=days), at, tzinfo=schedule.tz).timestamp()
        if slot > now:
            return slot
    return None  # pragma: no cover


def due(schedule: ExtractSchedule, last_runs: Mapping[str, float | None], now: float) -> tuple[str, ...]:
    """The kinds to write now: their latest slot is later than their last extract (or there is none)."""
    out = []
    for kind in schedule.kinds:
        slot = last_slot(schedule, kind, now)
        last = last_runs.get(kind)
        if slot is not None and (last is None or last < slot):
            out.append(kind)
    return tuple(out)


def next_wake(schedule: ExtractSchedule, last_runs: Mapping[str, float | None], now: float) -> float | None:
    """When to look again: now if something is due, else the earliest next slot (None: nothing scheduled)."""
    if due(schedule, last_runs, now):
        return now
    slots = [s for s in (next_slot(schedule, k, now) for k in schedule.kinds) if s is not None]
    return min(slots) if slots else None


def last_runs_from_names(names: Iterable[str]) -> dict[str, float]:
    """The time of the newest complete extract of each kind, from manifest file names."""
    out: dict[str, float] = {}
    for name in names:
        m = _MANIFEST.fullmatch(name)
        if not m:
            continue
        at = datetime.strptime(m.group(2), "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc).timestamp()
        out[m.group(1)] = max(at, out.get(m.group(1), at))
    return out


__all__ = ["ExtractSchedule", "KINDS", "ScheduleError", "due", "last_runs_from_names", "last_slot", "next_slot",
           "next_wake", "parse_duration", "parse_time_of_day", "schedule_from_config"]
