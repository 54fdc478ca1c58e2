"""Blocking keys, query-time variants, and blocks that are tightened or cut, never silently."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from ssid.matching.blocking import (Block, BlockingConfig, BlockRequest, CandidateSource, InMemoryIndex, gather,
                                    query_keys, record_keys, shares_month_or_day, tiers)
from ssid.matching.phonetic import nysiis
from ssid.matching.standardize import StudentRecord, standardize
from ssid.population import generate_population, generate_queries

S = standardize
SMITH, WILLIAM, JONES = nysiis("SMITH"), nysiis("WILLIAM"), nysiis("JONES")
BILL = StudentRecord("Bill", "Smith-Jones", birth_date="2012-03-04", gender="M", ssn="219-09-9998")


def test_record_keys_cover_every_pass():
    keys = set(record_keys(S(BILL)))
    both = nysiis("SMITHJONES")
    expected = {
        # birth date + phonetic of each last-name token (and of the whole double surname)
        f"BL|20120304|{SMITH}", f"BL|20120304|{JONES}", f"BL|20120304|{both}",
        # birth date + phonetic of the canonical first name (BILL → WILLIAM)
        f"BF|20120304|{WILLIAM}",
        # birth year + phonetic(last) + phonetic(first)
        f"YLF|2012|{SMITH}|{WILLIAM}", f"YLF|2012|{JONES}|{WILLIAM}", f"YLF|2012|{both}|{WILLIAM}",
        # birth month/day + phonetic(last) + phonetic(first): survives a typo in the year
        f"MLF|0304|{SMITH}|{WILLIAM}", f"MLF|0304|{JONES}|{WILLIAM}", f"MLF|0304|{both}|{WILLIAM}",
        # SSN when present
        "SSN|219099998",
    }
    assert keys == expected


def test_no_birth_date_or_ssn_gives_no_keys_for_them():
    assert record_keys(S(StudentRecord("Ann", "Lee"))) == ()
    assert record_keys(S(StudentRecord("Ann", "Lee", ssn="219-09-9998"))) == ("SSN|219099998",)


def test_ambiguous_nickname_indexes_every_canonical_name():
    keys = record_keys(S(StudentRecord("Alex", "Lee", birth_date="2012-03-04")))
    assert f"BF|20120304|{nysiis('ALEXANDER')}" in keys and f"BF|20120304|{nysiis('ALEXANDRA')}" in keys


def by_variant(record: StudentRecord) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for k in query_keys(S(record)):
        out.setdefault(k.variant, set()).add(k.key)
    return out


def test_query_keys_include_all_record_keys_as_given():
    q = S(BILL)
    assert by_variant(BILL)[""] == set(record_keys(q))


def test_day_month_swapped_variant():
    v = by_variant(StudentRecord("Ann", "Lee", birth_date="2012-03-04"))
    assert f"BL|20120403|{nysiis('LEE')}" in v["day_month_swap"]
    assert f"BF|20120403|{nysiis('ANNA')}" in v["day_month_swap"]
    assert f"MLF|0403|{nysiis('LEE')}|{nysiis('ANNA')}" in v["day_month_swap"]


@pytest.mark.parametrize("birth", ["2012-03-13", "2012-03-03"])
def test_no_day_month_variant_when_it_cannot_be_swapped(birth):
    assert "day_month_swap" not in by_variant(StudentRecord("Ann", "Lee", birth_date=birth))


def test_first_last_swapped_variant_finds_the_stored_record():
    stored = StudentRecord("William", "Smith", birth_date="2012-03-04")
    query = StudentRecord("Smith", "William", birth_date="2012-03-04")
    swapped = by_variant(query)["name_swap"]
    assert f"BL|20120304|{SMITH}" in swapped and f"YLF|2012|{SMITH}|{WILLIAM}" in swapped
    assert swapped & set(record_keys(S(stored)))
    assert not by_variant(query)[""] & set(record_keys(S(stored)))  # only the variant finds it


def test_the_variants_read_after_the_keys_as_given_give_what_reading_every_key_at_once_gives():
    pop = generate_population(2_000, seed=11)
    index, _ = pop.indexed()
    tight = BlockingConfig(max_block=3)  # some blocks narrowed and cut too
    variants_seen = 0
    for q in generate_queries(pop, 300, seed=11):
        keys = query_keys(S(q.record))
        as_given, variants = tiers(keys)
        assert as_given + variants == keys and {k.variant for k in as_given} == {""}  # as given first, in order
        assert all(k.variant for k in variants)
        variants_seen += bool(variants)
        for config in (BlockingConfig(), tight):
            once = gather(keys, index, config)
            first = gather(as_given, index, config)
            both = gather(variants, index, config, prior=first)
            assert (both.rows, both.found_by, both.reports) == (once.rows, once.found_by, once.reports)
            assert first.reports == once.reports[:len(as_given)]  # the prior is left as it was
    assert variants_seen > 100


def test_variant_keys_are_not_duplicated():
    keys = [k.key for k in query_keys(S(StudentRecord("Lee", "Lee", birth_date="2012-03-04")))]
    assert len(keys) == len(set(keys))


def test_each_key_finds_its_error_type():
    """The union of passes survives one error of each kind."""
    index = InMemoryIndex()
    index.add("S1", StudentRecord("William", "Smith", "J", birth_date="2012-03-04", gender="M"))
    for query in [
        StudentRecord("Bill", "Smith", birth_date="2012-03-04"),  # nickname
        StudentRecord("William", "Jones", birth_date="2012-03-04"),  # surname changed
        StudentRecord("William", "Smith", birth_date="2012-03-05"),  # day typo
        StudentRecord("William", "Smith", birth_date="2013-03-04"),  # year typo
        StudentRecord("William", "Smith", birth_date="2012-04-03"),  # day/month swapped
        StudentRecord("Smith", "William", birth_date="2012-03-04"),  # first/last swapped
        StudentRecord("Wiliam", "Smiht", birth_date="2012-03-04"),  # typos in both names
    ]:
        assert "S1" in gather(query_keys(S(query)), index).rows, query


def index_with(n: int, gender_of=lambda i: "M" if i % 2 else "F", first_of=lambda i: "ANN") -> InMemoryIndex:
    index = InMemoryIndex()
    for i in range(n):
        index.add(f"S{i:04d}", StudentRecord(first_of(i), "Smith", birth_date="2012-03-04", gender=gender_of(i)))
    return index


def test_small_blocks_are_returned_whole():
    found = gather(query_keys(S(StudentRecord("Zed", "Smith", birth_date="2012-03-04"))), index_with(10))
    assert len(found.rows) == 10 and not found.incomplete and found.left_out == 0
    report = next(r for r in found.reports if r.pass_name == "BL")
    assert (report.total, report.returned, report.narrowed_by, report.truncated) == (10, 10, (), False)


def test_oversized_block_is_tightened_by_gender_and_reported():
    index = index_with(30)  # 15 boys, 15 girls under one BL key
    found = gather(query_keys(S(StudentRecord("Zed", "Smith", birth_date="2012-03-04", gender="M"))), index,
                   BlockingConfig(max_block=20))
    report = next(r for r in found.reports if r.pass_name == "BL" and r.variant == "")
    assert report.narrowed_by == ("gender",) and not report.truncated
    assert (report.total, report.returned, report.left_out) == (30, 15, 15)
    assert found.incomplete and found.left_out >= 15
    assert all(rows[0].record.gender == "M" for rows in found.rows.values())


def test_then_by_first_initial():
    index = index_with(40, gender_of=lambda i: "M", first_of=lambda i: "ZED" if i < 5 else "BOB")
    found = gather(query_keys(S(StudentRecord("Zack", "Smith", birth_date="2012-03-04", gender="M"))), index,
                   BlockingConfig(max_block=20))
    report = next(r for r in found.reports if r.pass_name == "BL" and r.variant == "")
    assert report.narrowed_by == ("gender", "first_initial") and not report.truncated
    assert (report.total, report.returned) == (40, 5)


def test_block_still_too_large_is_cut_and_reported_not_silent():
    index = index_with(50, gender_of=lambda i: "M", first_of=lambda i: "ZED")
    found = gather(query_keys(S(StudentRecord("Zack", "Smith", birth_date="2012-03-04", gender="M"))), index,
                   BlockingConfig(max_block=20))
    report = next(r for r in found.reports if r.pass_name == "BL" and r.variant == "")
    assert report.truncated and (report.total, report.returned, report.left_out) == (50, 20, 30)
    assert found.incomplete and len(found.rows) >= 20  # the rows that fitted are still candidates
    assert report.to_dict()["left_out"] == 30


def test_blank_values_pass_a_narrowing():
    index = index_with(30, gender_of=lambda i: "" if i < 3 else "F")
    found = gather(query_keys(S(StudentRecord("Zed", "Smith", birth_date="2012-03-04", gender="M"))), index,
                   BlockingConfig(max_block=20))
    assert len(found.rows) == 3  # the rows whose gender is unknown are kept


def test_one_round_trip_per_tightening_step():
    calls: list[int] = []

    class Counting:
        def __init__(self, inner: InMemoryIndex) -> None:
            self.inner = inner

        def fetch(self, requests: Sequence[BlockRequest]) -> Sequence[Block]:
            calls.append(len(requests))
            return self.inner.fetch(requests)

    source: CandidateSource = Counting(index_with(30))
    gather(query_keys(S(StudentRecord("Zed", "Smith", birth_date="2012-03-04", gender="M"))), source,
           BlockingConfig(max_block=20))
    assert len(calls) == 2 and calls[0] > calls[1] >= 1


def test_found_by_names_the_keys():
    index = InMemoryIndex()
    index.add("S1", StudentRecord("William", "Smith", birth_date="2012-03-04"))
    found = gather(query_keys(S(StudentRecord("Bill", "Smith", birth_date="2012-03-04"))), index)
    assert f"BL|20120304|{SMITH}" in found.found_by["S1"] and f"BF|20120304|{WILLIAM}" in found.found_by["S1"]


def test_alias_versions_are_separate_rows_of_one_student():
    index = InMemoryIndex()
    index.add("S1", StudentRecord("Ann", "Lee", birth_date="2012-03-04"))
    index.add("S1", StudentRecord("Ann", "Park", birth_date="2012-03-04"))
    found = gather(query_keys(S(StudentRecord("Ann", "Park", birth_date="2012-03-04"))), index)
    assert sorted(r.version for r in found.rows["S1"]) == [0, 1]
    assert len(index) == 2


@pytest.mark.parametrize("stored, query, found", [
    (412, 430, True), (412, 912, True), (412, 930, False), (412, 1204, True), (412, 1205, True), (412, 1105, False),
    (1231, 1230, True), (1231, 1131, True), (1231, 1031, True), (1231, 1130, False), (None, 101, True),
    (103, 301, True), (1012, 1210, True), (1012, 1109, False),
])
def test_the_year_and_names_rule_keeps_a_slip_in_the_month_or_the_day(stored, query, found):
    """A YLF row is read when its month or its day is the query's month or day, in either place."""
    assert shares_month_or_day(stored, query) is found


def test_only_year_and_names_keys_carry_the_rule():
    q = standardize(StudentRecord(first_name="William", last_name="Smith", birth_date="2012-03-04", gender="M"))
    keys = query_keys(q)
    assert {k.pass_name for k in keys if k.month_day} == {"YLF"}
    assert all(k.month_day == 304 for k in keys if k.pass_name == "YLF")
