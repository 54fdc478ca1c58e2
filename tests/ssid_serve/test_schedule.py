"""ssid.schedule: when each extract is due (pure; every time injected)."""

from __future__ import annotations

from datetime import datetime, time, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ssid.schedule import (
    ExtractSchedule, ScheduleError, due, last_runs_from_names, last_slot, next_slot, next_wake, parse_duration,
    parse_time_of_day, schedule_from_config,
)

NY = ZoneInfo("America/New_York")


def ts(text: str) -> float:
    """UTC epoch seconds of "YYYY-MM-DD HH:MM[:SS]"."""
    fmt = "%Y-%m-%d %H:%M:%S" if text.count(":") == 2 else "%Y-%m-%d %H:%M"
    return datetime.strptime(text, fmt).replace(tzinfo=timezone.utc).timestamp()


UTC_SCHEDULE = ExtractSchedule(Path("x"), active_at=time(2, 0), deactivated_at=time(2, 30), delta_every=4 * 3600)


@pytest.mark.parametrize("text, seconds", [
    ("4h", 14_400), ("30m", 1_800), ("90s", 90), ("1h30m", 5_400), ("2h0m5s", 7_205), (" 4H ", 14_400),
])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "4", "h", "-1h", "4 hours", "1.5h", "30m4h"])
def test_bad_durations_say_how_to_write_one(text):
    with pytest.raises(ScheduleError, match="not a duration: write e.g."):
        parse_duration(text)


@pytest.mark.parametrize("text, want", [("02:00", time(2, 0)), ("2:05", time(2, 5)), ("23:59", time(23, 59))])
def test_times_of_day(text, want):
    assert parse_time_of_day(text) == want


@pytest.mark.parametrize("text", ["24:00", "2pm", "02:60", "0200", ""])
def test_bad_times_of_day(text):
    with pytest.raises(ScheduleError, match="HH:MM on a 24-hour clock"):
        parse_time_of_day(text)


@pytest.mark.parametrize("kind, now, slot", [
    ("active", "2027-01-15 01:59", "2027-01-14 02:00"),       # before today's time: yesterday's slot
    ("active", "2027-01-15 02:00", "2027-01-15 02:00"),       # at the time: today's
    ("deactivated", "2027-01-15 02:29:59", "2027-01-14 02:30"),
    ("delta", "2027-01-15 09:30", "2027-01-15 08:00"),        # slots from midnight every 4 h
    ("delta", "2027-01-15 00:00", "2027-01-15 00:00"),
    ("delta", "2027-01-15 23:59:59", "2027-01-15 20:00"),
])
def test_last_slot_utc(kind, now, slot):
    assert last_slot(UTC_SCHEDULE, kind, ts(now)) == ts(slot)


@pytest.mark.parametrize("kind, now, slot", [
    ("active", "2027-01-15 01:59", "2027-01-15 02:00"),
    ("active", "2027-01-15 02:00", "2027-01-16 02:00"),
    ("delta", "2027-01-15 09:30", "2027-01-15 12:00"),
    ("delta", "2027-01-15 21:00", "2027-01-16 00:00"),
])
def test_next_slot_utc(kind, now, slot):
    assert next_slot(UTC_SCHEDULE, kind, ts(now)) == ts(slot)


def test_delta_slots_start_again_at_midnight_when_the_interval_does_not_divide_a_day():
    s = ExtractSchedule(Path("x"), delta_every=5 * 3600)  # 00, 05, 10, 15, 20, then 00 (not 01)
    assert last_slot(s, "delta", ts("2027-01-15 22:30")) == ts("2027-01-15 20:00")
    assert next_slot(s, "delta", ts("2027-01-15 22:30")) == ts("2027-01-16 00:00")


def test_times_of_day_are_read_on_the_configured_clock_across_daylight_saving():
    s = ExtractSchedule(Path("x"), active_at=time(2, 0), deactivated_at=time(2, 30), delta_every=4 * 3600, tz=NY)
    assert last_slot(s, "active", ts("2027-01-15 12:00")) == ts("2027-01-15 07:00")   # EST = UTC-5
    assert last_slot(s, "active", ts("2027-07-15 12:00")) == ts("2027-07-15 06:00")   # EDT = UTC-4
    assert last_slot(s, "delta", ts("2027-07-15 11:59")) == ts("2027-07-15 08:00")    # 07:59 EDT: the 04:00 slot
    # 2027-03-14: 02:30 does not exist in New York; the day still has exactly one slot, that day
    slot = last_slot(s, "deactivated", ts("2027-03-14 12:00"))
    assert datetime.fromtimestamp(slot, NY).date().isoformat() == "2027-03-14"
    assert ts("2027-03-14 06:00") < slot < ts("2027-03-14 08:00")
    assert last_slot(s, "deactivated", ts("2027-03-15 12:00")) == ts("2027-03-15 06:30")


@pytest.mark.parametrize("last, now, want", [
    ({}, "2027-01-15 09:30", ("active", "deactivated", "delta")),                 # nothing written yet
    ({"active": "2027-01-15 02:00", "deactivated": "2027-01-15 02:30", "delta": "2027-01-15 08:00"},
     "2027-01-15 09:30", ()),                                                     # every slot done
    ({"active": "2027-01-15 02:00", "deactivated": "2027-01-15 02:30", "delta": "2027-01-15 07:59:59"},
     "2027-01-15 09:30", ("delta",)),                                             # 08:00 missed
    ({"active": "2027-01-14 02:00:07", "deactivated": "2027-01-15 02:30", "delta": "2027-01-15 08:00"},
     "2027-01-15 09:30", ("active",)),                                            # down at 02:00: written late
    ({"active": "2027-01-15 02:00", "deactivated": "2027-01-15 02:30", "delta": "2027-01-15 08:00"},
     "2027-01-15 12:00", ("delta",)),
])
def test_due(last, now, want):
    assert due(UTC_SCHEDULE, {k: ts(v) for k, v in last.items()}, ts(now)) == want


def test_a_kind_without_a_setting_is_never_due():
    s = ExtractSchedule(Path("x"), delta_every=60)
    assert s.kinds == ("delta",)
    assert due(s, {}, ts("2027-01-15 09:30")) == ("delta",)
    assert last_slot(s, "active", ts("2027-01-15 09:30")) is None


def test_next_wake_is_now_when_due_else_the_earliest_next_slot():
    done = {"active": ts("2027-01-15 02:00"), "deactivated": ts("2027-01-15 02:30"), "delta": ts("2027-01-15 08:00")}
    assert next_wake(UTC_SCHEDULE, {}, ts("2027-01-15 09:30")) == ts("2027-01-15 09:30")
    assert next_wake(UTC_SCHEDULE, done, ts("2027-01-15 09:30")) == ts("2027-01-15 12:00")
    assert next_wake(ExtractSchedule(Path("x")), {}, ts("2027-01-15 09:30")) is None


def test_last_runs_come_from_complete_extracts_only():
    names = [
        "ssid-delta-20270115T080000Z-0a1b2c3d4e5f.csv", "ssid-delta-20270115T080000Z-0a1b2c3d4e5f.csv.manifest.json",
        "ssid-delta-20270115T040000Z-aaaaaaaaaaaa.csv.manifest.json",
        "ssid-delta-20270115T120000Z-bbbbbbbbbbbb.csv",                   # no manifest: not complete
        ".ssid-delta-20270115T160000Z-cccccccccccc.csv.partial",
        "ssid-active-20270115T020001Z-dddddddddddd.csv.manifest.json",
        ".ssid-delta-state.json", "notes.txt",
    ]
    assert last_runs_from_names(names) == {"delta": ts("2027-01-15 08:00"), "active": ts("2027-01-15 02:00:01")}


def test_config_paths_are_relative_to_the_file_and_the_timezone_is_read(tmp_path):
    s = schedule_from_config({"dir": "../out", "timezone": "America/New_York", "active_at": "02:00",
                              "delta_every": "4h"}, tmp_path / "conf")
    assert s.out_dir == tmp_path / "conf" / ".." / "out"
    assert s.tz == NY and s.kinds == ("active", "delta") and s.delta_every == 14_400


def test_config_problems_are_reported_at_once():
    with pytest.raises(ScheduleError) as err:
        schedule_from_config({"timezone": "Mars/Olympus", "active_at": "25:00", "delta_every": "often",
                              "deactivated": "02:30"})
    text = str(err.value)
    for part in ("unknown keys deactivated", "dir is missing", "timezone 'Mars/Olympus' is unknown",
                 "active_at: '25:00' is not a time of day", "delta_every: 'often' is not a duration"):
        assert part in text
    with pytest.raises(ScheduleError, match="between 1s and 24h"):
        schedule_from_config({"dir": "x", "delta_every": "25h"})
