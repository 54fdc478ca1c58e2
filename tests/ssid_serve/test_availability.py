"""ssid.heartbeats.availability: up and down time from heartbeats (pure; times injected)."""

from __future__ import annotations

import pytest

from ssid.heartbeats import Availability, Beat, availability

DAY = 86_400.0
T0 = 1_800_000_000.0 - 1_800_000_000.0 % DAY  # a UTC midnight


def every(start: float, end: float, step: float = 60.0) -> list[Beat]:
    """Beats from ``start`` up to and including ``end``."""
    out, t = [], start
    while t <= end + 1e-9:
        out.append(Beat(t, step))
        t += step
    return out


def test_without_heartbeats_nothing_is_measured():
    a = availability([], T0, T0 + DAY, T0 + 2 * DAY)
    assert a == Availability(None, None) and a.share is None and not a.measured


def test_a_day_of_regular_beats_is_fully_available():
    a = availability(every(T0 - 60, T0 + DAY + 60), T0, T0 + DAY, T0 + 2 * DAY)
    assert (a.measured_from, a.measured_to) == (T0, T0 + DAY)
    assert (a.up, a.down, a.outages, a.share) == (DAY, 0.0, 0, 1.0)


@pytest.mark.parametrize("gap, down, outages", [
    (120.0, 0.0, 0),      # exactly two intervals: still up
    (121.0, 121.0, 1),    # more than two: the whole gap is down
    (660.0, 660.0, 1),    # eleven minutes without a beat
])
def test_a_gap_over_two_intervals_counts_as_down(gap, down, outages):
    beats = every(T0 - 60, T0 + 3600) + every(T0 + 3600 + gap, T0 + DAY + 60)
    a = availability(beats, T0, T0 + DAY, T0 + 2 * DAY)
    assert (a.down, a.outages) == (pytest.approx(down), outages)
    assert a.up + a.down == pytest.approx(DAY)


def test_time_before_the_first_heartbeat_ever_is_not_measured():
    first = T0 + 6 * 3600
    a = availability(every(first, T0 + DAY + 60), T0, T0 + DAY, T0 + 2 * DAY, first_beat=first)
    assert a.measured_from == first and a.up == pytest.approx(DAY - 6 * 3600) and a.down == 0
    # a period that ended before the first beat: not measured at all
    assert not availability(every(first, T0 + DAY), T0 - DAY, T0, T0 + 2 * DAY, first_beat=first).measured


def test_a_period_still_running_is_measured_up_to_now():
    now = T0 + 12 * 3600
    running = availability(every(T0 - 60, now - 30), T0, T0 + DAY, now)
    assert running.measured_to == now and running.up == pytest.approx(12 * 3600) and running.down == 0
    # the last beat ten minutes ago: the server is down since then
    stopped = availability(every(T0 - 60, now - 600), T0, T0 + DAY, now)
    assert stopped.down == pytest.approx(600) and stopped.outages == 1


def test_the_beat_before_the_period_vouches_for_its_start():
    beats = [Beat(T0 - 30, 60), *every(T0 + 30, T0 + 3700)]
    a = availability(beats, T0, T0 + 3600, T0 + DAY, first_beat=T0 - 86_400)
    assert a.measured_from == T0 and a.down == 0 and a.up == pytest.approx(3600)
    # but a long silence across midnight is down from the start of the period
    late = [Beat(T0 - 600, 60), *every(T0 + 300, T0 + 3700)]
    b = availability(late, T0, T0 + 3600, T0 + DAY, first_beat=T0 - 86_400)
    assert b.down == pytest.approx(300) and b.outages == 1


def test_several_server_processes_keep_the_service_up_while_one_of_them_beats():
    a_beats = every(T0 - 60, T0 + 1800)                         # process A stops half-way
    b_beats = [Beat(b.at + 20, 60) for b in every(T0 - 60, T0 + 3600 + 60)]
    a = availability(a_beats + b_beats, T0, T0 + 3600, T0 + DAY)
    assert a.down == 0 and a.share == 1.0


def test_each_beat_is_judged_by_its_own_interval():
    beats = [Beat(T0, 600), Beat(T0 + 1100, 60), Beat(T0 + 1200, 60)]   # 1100 s <= 2 x 600
    assert availability(beats, T0, T0 + 1200, T0 + 1200).down == 0
