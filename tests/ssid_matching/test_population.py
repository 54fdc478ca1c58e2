"""The synthetic population: reproducible, realistic in shape, and its errors do what they say."""

from __future__ import annotations

import random
import re
from collections import Counter
from datetime import date

import pytest

from ssid.matching.nicknames import NICKNAMES
from ssid.matching.standardize import clean_ssn
from ssid.population import (NEW, RETURNING, PopulationConfig, QueryMix, generate_population, generate_queries,
                             phonetic_misspelling, typo)


@pytest.fixture(scope="module")
def pop():
    return generate_population(4000, seed=11)


@pytest.fixture(scope="module")
def queries(pop):
    return generate_queries(pop, 1500, seed=4)


def test_same_seed_same_data(pop, queries):
    again = generate_population(4000, seed=11)
    assert again.students == pop.students
    assert generate_queries(again, 1500, seed=4) == queries


def test_different_seed_different_data(pop):
    other = generate_population(4000, seed=12)
    assert [s.record for s in other.students[:50]] != [s.record for s in pop.students[:50]]
    assert generate_queries(pop, 50, seed=5) != generate_queries(pop, 50, seed=4)


def test_ids_are_unique_in_the_state_format(pop):
    ids = [s.student_id for s in pop.students]
    assert len(ids) == len(set(ids)) == 4000
    assert all(re.fullmatch(r"[A-Z]{2}[0-9]{7}", i) for i in ids)


def test_realistic_shape(pop):
    recs = [s.record for s in pop.students]
    surnames = Counter(r.last_name for r in recs)
    top_share = surnames.most_common(1)[0][1] / len(recs)
    assert 0.003 < top_share < 0.03  # SMITH is about 1% of US residents
    assert sum(1 for c in surnames.values() if c == 1) > 300  # a long tail of rare surnames
    assert any(" " in n or "-" in n for n in surnames)  # double surnames
    assert any(not n.isascii() for n in surnames)  # accented names (MUÑOZ, PEÑA)
    groups = Counter(s.group for s in pop.students)
    assert set(groups) == set("WHBAME") and groups["W"] > groups["H"] > groups["A"]
    years = {r.birth_date.year for r in recs}  # type: ignore[union-attr]
    assert min(years) >= 2007 and max(years) <= 2020
    ssns = [r.ssn for r in recs if r.ssn]
    assert 0.2 < len(ssns) / len(recs) < 0.4 and len(set(ssns)) == len(ssns)
    assert all(clean_ssn(s) == s for s in ssns)
    assert {r.gender for r in recs} == {"M", "F"}
    assert 0.75 < sum(1 for r in recs if r.middle_name) / len(recs) < 0.95


def test_twins_and_siblings(pop):
    by_id = {s.student_id: s for s in pop.students}
    twins = [s for s in pop.students if s.twin_of]
    assert twins
    for s in twins:
        t = by_id[s.twin_of]
        assert t.twin_of == s.student_id and t.family == s.family
        assert t.record.birth_date == s.record.birth_date and t.record.last_name == s.record.last_name
        assert t.record.first_name != s.record.first_name
    families = Counter(s.family for s in pop.students)
    assert sum(1 for c in families.values() if c > 1) > 300
    for fam in [f for f, c in families.items() if c > 1][:100]:
        kids = [s for s in pop.students if s.family == fam]
        assert len({k.record.last_name for k in kids}) == 1 and len({k.address for k in kids}) == 1
        non_twins = [k for k in kids if not k.twin_of]
        dates = sorted(k.record.birth_date for k in non_twins)  # type: ignore[type-var]
        assert all((b - a).days >= 300 for a, b in zip(dates, dates[1:]))  # type: ignore[operator]


def test_every_query_kind_and_its_truth(pop, queries):
    kinds = Counter(q.kind for q in queries)
    assert set(kinds) == set(RETURNING) | set(NEW)
    ids = {s.student_id for s in pop.students}
    for q in queries:
        assert (q.truth == "new") == (q.kind in NEW)
        assert q.truth == "new" or q.truth in ids


def returning(pop, queries, kind):
    return [(q, pop.get(q.truth)) for q in queries if q.kind == kind]


def test_error_types_do_what_they_say(pop, queries):
    for q, s in returning(pop, queries, "nickname"):
        assert s.record.first_name in NICKNAMES[q.record.first_name]
    for q, s in returning(pop, queries, "name_swap"):
        assert (q.record.first_name, q.record.last_name) == (s.record.last_name, s.record.first_name)
    for q, s in returning(pop, queries, "day_month_swap"):
        a, b = q.record.birth_date, s.record.birth_date
        assert isinstance(a, date) and isinstance(b, date) and (a.day, a.month) == (b.month, b.day) and a != b
    for q, s in returning(pop, queries, "birth_date_digit"):
        a, b = (str(r.birth_date).replace("-", "") for r in (q.record, s.record))
        assert sum(x != y for x, y in zip(a, b)) == 1
    for q, s in returning(pop, queries, "missing_middle"):
        assert s.record.middle_name and q.record.middle_name in ("", "NMN", "*")
    for q, s in returning(pop, queries, "changed_school"):
        assert q.record.district != s.record.district or q.record.building != s.record.building
    for q, s in returning(pop, queries, "double_surname"):
        a, b = set(q.record.last_name.replace("-", " ").split()), set(s.record.last_name.replace("-", " ").split())
        assert a != b and (a < b or b < a)
    for q, s in returning(pop, queries, "alias_name"):
        assert q.record.last_name == s.aliases[0].last_name != s.record.last_name
    for q, s in returning(pop, queries, "twin"):
        assert s.twin_of and q.record.first_name == s.record.first_name
    for q, s in returning(pop, queries, "clean"):
        assert (q.record.first_name, q.record.last_name, q.record.birth_date) == (
            s.record.first_name, s.record.last_name, s.record.birth_date)


def test_new_twins_and_siblings_look_like_family(pop, queries):
    for q in queries:
        if q.kind == "new_twin":
            sid = q.changes[0].split()[-1]
            s = pop.get(sid)
            assert (q.record.birth_date, q.record.last_name) == (s.record.birth_date, s.record.last_name)
            assert q.record.first_name != s.record.first_name
        if q.kind == "new_sibling":
            s = pop.get(q.changes[0].split()[-1])
            assert q.record.last_name == s.record.last_name and q.record.birth_date != s.record.birth_date


def test_typo_and_phonetic_misspelling_change_one_thing():
    rng = random.Random(1)
    for name in ["JONATHAN", "SMITH", "GARCIA", "NGUYEN", "O'BRIEN"]:
        for _ in range(20):
            t = typo(name, rng)
            assert t != name and abs(len(t) - len(name)) <= 1
    assert phonetic_misspelling("PHILLIPS", random.Random(2)) != "PHILLIPS"
    assert phonetic_misspelling("BOB", random.Random(2)) == "BOB"  # nothing that applies


def test_rates_are_configurable(pop):
    only_new = generate_queries(pop, 200, seed=1, mix=QueryMix(**{k: 0.0 for k in RETURNING}))
    assert {q.kind for q in only_new} <= set(NEW)
    no_twins = generate_population(2000, seed=3, config=PopulationConfig(twin_rate=0.0, ssn_rate=0.0))
    assert not any(s.twin_of or s.record.ssn for s in no_twins.students)
