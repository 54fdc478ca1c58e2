"""Identifier profiles, randomness and the issuer's never-reuse loop (pure; no database)."""

from __future__ import annotations

import re
import secrets
from collections import Counter

import pytest

from ssid.ids import (CALPADS, OHIO, IdIssuer, IdProfile, IdSpaceExhausted, clean_id, draw_many, id_problems,
                      profile_from_config)


def replay(*ids: str, profile: IdProfile = OHIO):
    """A random source that makes ``profile.draw`` return ``ids`` in order (then fails loudly)."""
    picks = []
    for value in ids:
        pos = 0
        for alphabet, n in profile.segments:
            picks += [alphabet.index(ch) for ch in value[pos:pos + n]]
            pos += n
    it = iter(picks)

    def randbelow(n: int) -> int:
        k = next(it)
        assert 0 <= k < n
        return k

    return randbelow


def test_ohio_ids_are_exactly_two_letters_then_seven_digits():
    ids = [OHIO.draw() for _ in range(10_000)]
    assert all(re.fullmatch(r"[A-Z]{2}[0-9]{7}", i) for i in ids)
    assert {len(i) for i in ids} == {9}
    assert OHIO.space == 26 ** 2 * 10 ** 7


def test_calpads_ids_are_ten_digits_never_starting_with_zero():
    ids = [CALPADS.draw() for _ in range(10_000)]
    assert all(re.fullmatch(r"[1-9][0-9]{9}", i) for i in ids)


@pytest.mark.parametrize("value, fragment", [
    ("", "empty"),
    ("AB123456", "exactly 9"),
    ("AB12345678", "exactly 9"),
    ("A1B234567", "characters 1–2 must be capital letters"),
    ("ab1234567", "characters 1–2 must be capital letters"),
    ("ABC234567", "characters 3–9 must be digits"),
])
def test_ohio_format_problems_say_what_is_wrong(value, fragment):
    problems = OHIO.problems(value)
    assert problems and fragment in " ".join(problems)
    assert not OHIO.is_valid(value)


def test_valid_ids_have_no_problems():
    assert OHIO.problems("XY1234567") == []
    assert CALPADS.problems("1234567890") == []
    assert "exactly 10" in CALPADS.problems("123456789")[0]


def test_draws_show_no_sequence_and_an_even_spread():
    ids = [OHIO.draw() for _ in range(10_000)]
    # bounds a fair source breaks about once in tens of thousands of runs, a counter every time:
    assert len(set(ids)) >= len(ids) - 1  # one repeat in 10,000 draws from 6.76e9 happens 1 run in 135
    numbers = [int(i[2:]) for i in ids]
    steps = [b - a for a, b in zip(numbers, numbers[1:])]
    assert sum(1 for s in steps if abs(s) <= 1) <= 2  # a counter steps by 1 every time; chance gives 0.003
    ups = sum(1 for s in steps if s > 0) / len(steps)
    assert 0.45 < ups < 0.55  # as likely to go down as up
    for pos in range(2, 9):  # each digit position: 1,000 expected per digit, sd ≈ 30
        counts = Counter(i[pos] for i in ids)
        assert set(counts) == set("0123456789")
        assert all(850 < c < 1150 for c in counts.values()), (pos, counts)
    for pos in range(2):  # each letter position: ~385 per letter, sd ≈ 19.5
        counts = Counter(i[pos] for i in ids)
        assert set(counts) == set("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        assert all(290 < c < 480 for c in counts.values()), (pos, counts)
    chi2 = sum((c - 1000) ** 2 / 1000 for c in Counter(i[8] for i in ids).values())
    assert chi2 < 40  # 9 degrees of freedom: p < 1e-5 above 40


def test_the_default_source_is_the_operating_systems_csprng():
    issuer = IdIssuer()
    assert issuer.randbelow is secrets.randbelow


async def test_issuer_draws_again_until_a_claim_wins():
    used = {"AA0000001", "AA0000002", "ZZ9999999"}  # legacy, reserved, retired: all "used"
    claimed = []

    async def claim(candidate: str) -> bool:
        if candidate in used:
            return False
        used.add(candidate)
        claimed.append(candidate)
        return True

    issuer = IdIssuer(OHIO, replay("AA0000001", "ZZ9999999", "AA0000002", "QQ1234567"))
    assert await issuer.issue(claim) == "QQ1234567"
    assert issuer.collisions == 3
    assert claimed == ["QQ1234567"]


async def test_issuer_gives_up_with_a_clear_error_when_every_draw_collides():
    async def claim(candidate: str) -> bool:
        return False

    issuer = IdIssuer(OHIO, lambda n: 0, max_attempts=5)
    with pytest.raises(IdSpaceExhausted, match="after 5 draws"):
        await issuer.issue(claim)


def test_draw_many_excludes_and_never_repeats():
    exclude = {"AA0000000"}
    got = draw_many(OHIO, 2, replay("AA0000000", "AB0000000", "AB0000000", "AC0000000"), exclude)
    assert got == ["AB0000000", "AC0000000"]


def test_profiles_from_configuration():
    assert profile_from_config(None) is OHIO
    assert profile_from_config("calpads") is CALPADS
    custom = profile_from_config({"name": "nolookalikes", "segments": [["ABCDEFGHJKLMNPQRSTUVWXYZ", 2],
                                                                       ["0123456789", 7]]})
    assert custom.length == 9 and "I" not in custom.draw()
    with pytest.raises(ValueError, match="unknown id_profile 'texas'"):
        profile_from_config("texas")
    with pytest.raises(ValueError, match="segments"):
        profile_from_config({"name": "x"})


def test_legacy_ids_are_accepted_whatever_their_format():
    for legacy in ("AB12345", "1234567", "OH-0001234", "XY1234567"):
        assert id_problems(legacy) == []
    assert "empty" in id_problems("  ")[0]
    assert "only letters, digits" in id_problems("AB 123")[0]
    assert "at most 32" in id_problems("A" * 40)[0]
    assert clean_id(" xy1234567 ") == "XY1234567"
    assert "lower-case" in id_problems("ab1234567")[0]
