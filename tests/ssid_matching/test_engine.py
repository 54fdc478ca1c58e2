"""The Matcher facade end to end: aliases, swaps, explanations, JSON round trips, purity."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from ssid.matching import (DEFAULT_PARAMETERS, Decision, Explanation, InMemoryIndex, Matcher, Outcome,
                           StudentRecord, TermFrequencies, Thresholds, standardize)
from ssid.matching.blocking import BlockingConfig, gather, query_keys

ROOT = Path(__file__).resolve().parents[2]

MAYA = StudentRecord(first_name="Maya", middle_name="Grace", last_name="Quartermaine", birth_date="2014-02-09",
                     gender="F", birth_city="Dayton", race_ethnicity="W", native_language="ENG",
                     district="043000", building="0101")
OTHERS = [
    StudentRecord("Noah", "Smith", "James", birth_date="2014-02-09", gender="M"),
    StudentRecord("Maya", "Smith", "Ann", birth_date="2013-05-01", gender="F"),
    StudentRecord("Olivia", "Quartermaine", "Rose", birth_date="2011-07-12", gender="F"),
]


@pytest.fixture
def index() -> InMemoryIndex:
    idx = InMemoryIndex()
    idx.add("OH0000001", MAYA)
    for i, r in enumerate(OTHERS, start=2):
        idx.add(f"OH000000{i}", r)
    return idx


def test_returning_student_is_matched(index):
    d = Matcher(source=index).match(replace(MAYA, first_name="MAYA ", last_name="quartermaine"))
    assert d.outcome == Outcome.MATCH and d.student_id == "OH0000001"
    assert d.candidates[0].confidence > 0.99


def test_new_student_gets_no_match(index):
    d = Matcher(source=index).match(StudentRecord("Zoe", "Nakamura", birth_date="2016-01-01", gender="F"))
    assert d.outcome == Outcome.NO_MATCH and d.student_id is None and d.candidates == ()


@pytest.mark.parametrize("change", [
    dict(first_name="Quartermaine", last_name="Maya"),  # first/last swapped
    dict(birth_date="2014-09-02"),  # day/month swapped
    dict(birth_date="2015-02-09"),  # year typo
    dict(last_name="Quartermaine-Lopez"),  # double surname
    dict(middle_name="", building="0999", district="043777"),  # moved and middle left out
])
def test_common_errors_still_match(index, change):
    assert Matcher(source=index).match(replace(MAYA, **change)).student_id == "OH0000001"


class Recording:
    """A candidate source that remembers every key asked for."""

    def __init__(self, source):
        self.source, self.asked = source, []

    def fetch(self, requests):
        self.asked += [r.key for r in requests]
        return self.source.fetch(requests)


@pytest.mark.parametrize("change, variants_read", [
    (dict(first_name="MAYA ", last_name="quartermaine"), ()),  # matched as given: no variant read
    (dict(first_name="Quartermaine", last_name="Maya"), ("day_month_swap", "name_swap")),
    (dict(first_name="Zoe", last_name="Nakamura"), ("day_month_swap", "name_swap")),  # nobody: every key read
])
def test_the_variant_keys_are_read_only_when_the_keys_as_given_match_nobody(index, change, variants_read):
    source = Recording(index)
    d = Matcher(source=source).match(replace(MAYA, **change))
    keys = {k.key: k.variant for k in query_keys(standardize(replace(MAYA, **change)))}
    assert sorted({keys[k] for k in source.asked} - {""}) == list(variants_read)
    assert sorted({r.variant for r in d.explanation.keys} - {""}) == list(variants_read)  # the keys read, shown
    assert (d.outcome == Outcome.MATCH) == (change["first_name"] != "Zoe")
    every_key = Matcher(source=index).match(replace(MAYA, **change))  # the same decision as reading them all
    assert (d.outcome, d.student_id) == (every_key.outcome, every_key.student_id)


class Preparing(Recording):
    """A source told in advance which keys its lookups will read (as the database prefetch is)."""

    def __init__(self, source):
        super().__init__(source)
        self.prepared = []

    def prepare(self, keys):
        self.prepared.append([k.key for k in keys])
        self.asked.append("(prepared)")


def test_many_lookups_decide_as_one_by_one_with_every_variant_key_asked_for_at_once():
    from ssid.population import generate_population, generate_queries

    pop = generate_population(3000, seed=21)
    index, freqs = pop.indexed()
    records = [q.record for q in generate_queries(pop, 300, seed=22)]
    one_by_one = [Matcher(DEFAULT_PARAMETERS, Thresholds(), index, freqs).match(r).to_json() for r in records]
    source = Preparing(index)
    together = Matcher(DEFAULT_PARAMETERS, Thresholds(), source, freqs).match_many(records)
    assert [d.to_json() for d in together] == one_by_one
    stds = [standardize(r) for r in records]
    variants = [k.key for q, d in zip(stds, together) for k in query_keys(q)
                if k.variant and k.key in {r.key for r in d.explanation.keys}]
    assert variants and source.prepared == [variants]  # once, every lookup's that read them, in order
    first_variant = min(i for i, key in enumerate(source.asked) if key in set(variants))
    assert source.asked.index("(prepared)") < first_variant  # told before any was read


def test_a_match_that_differs_in_a_name_reads_the_variants_before_it_stands():
    """Found at ten million students: the keys as given find another child with the same first and
    middle name, birth date and birthplace (a different surname), while the child looked up is
    stored with first and last name the other way round. Deciding on the keys as given alone
    matched the other child; the variants are read and the right child matched."""
    common = dict(middle_name="Abdullahi", birth_date="2007-12-23", gender="M", birth_city="Baghdad",
                  race_ethnicity="B", native_language="ENG")
    index = InMemoryIndex()
    index.add("RIGHT", StudentRecord("Hassan", "Ali", district="043140", building="002006", **common))
    index.add("OTHER", StudentRecord("Ali", "Mohammed", district="043091", building="001302", **common))
    query = StudentRecord("Ali", "Hasan", district="043140", building="002006", **common)
    source = Recording(index)
    d = Matcher(source=source).match(query)
    assert (d.outcome, d.student_id) == (Outcome.MATCH, "RIGHT") and d.candidates[0].names_swapped
    as_given_only = Matcher(source=index)._score_ranked(standardize(query), gather(
        [k for k in query_keys(standardize(query)) if not k.variant], index))
    assert [c.student_id for c in as_given_only] == ["OTHER"]  # what the keys as given alone offer


def test_name_swap_is_marked_and_penalised(index):
    m = Matcher(source=index)
    straight = m.match(MAYA).candidates[0]
    swapped = m.match(replace(MAYA, first_name="Quartermaine", last_name="Maya")).candidates[0]
    assert swapped.names_swapped and not straight.names_swapped
    assert swapped.field_weights()["name_order"] < 0 and swapped.weight < straight.weight


@pytest.mark.parametrize("first, last", [
    ("Quartermaine", "Maia"),  # swapped, and the first name spelt another way (no agreement level)
    ("Kwartermaine", "Maya"),  # swapped, and the surname spelt by ear (Jaro-Winkler below 0.92)
])
def test_name_swap_with_a_typo_in_one_name_is_read_swapped(index, first, last):
    d = Matcher(source=index).match(replace(MAYA, first_name=first, last_name=last))
    assert d.outcome == Outcome.MATCH and d.student_id == "OH0000001" and d.candidates[0].names_swapped


def test_name_swap_needs_one_name_to_agree(index):
    """Both names merely similar is no reading at all: the first name Quartermayne and the
    surname Mia are not Maya Quartermaine with a swap."""
    d = Matcher(source=index).match(replace(MAYA, first_name="Kwartermane", last_name="Mia"))
    assert d.outcome != Outcome.MATCH


def test_alias_history_matches_an_earlier_name(index):
    index.add("OH0000001", replace(MAYA, last_name="Fitzgerald"))  # an earlier surname of the same child
    d = Matcher(source=index).match(replace(MAYA, last_name="Fitzgerald"))
    assert d.outcome == Outcome.MATCH and d.student_id == "OH0000001" and d.candidates[0].version == 1
    assert Matcher(source=index).match(MAYA).candidates[0].version == 0


def test_alias_history_takes_the_best_version():
    idx = InMemoryIndex()
    idx.add("S1", replace(MAYA, birth_date="2014-02-19"))  # an earlier, wrong birth date
    idx.add("S1", MAYA)
    d = Matcher(source=idx).match(MAYA)
    assert d.student_id == "S1" and d.candidates[0].version == 1
    assert len(d.explanation.candidates) == 1  # one candidate per student, not per version


def test_term_frequencies_raise_rare_names(index):
    freqs = TermFrequencies({"last_name": {"SMITH": 900, "QUARTERMAINE": 1}}, {"last_name": 100_000})
    plain = Matcher(source=index).match(MAYA).candidates[0].weight
    with_tf = Matcher(source=index, frequencies=freqs).match(MAYA).candidates[0].weight
    assert with_tf > plain


def test_explanation_has_everything_a_reviewer_needs(index):
    d = Matcher(source=index).match(replace(MAYA, first_name="Maia", middle_name=""))
    e = d.explanation
    assert e.query["first_name"] == "Maia" and e.standardized["first_key"] == "MAIA"
    assert e.parameters_version == DEFAULT_PARAMETERS.version and e.thresholds["match"] == Thresholds().match
    assert e.outcome == d.outcome and e.reason == d.reason
    assert e.keys and all(k.key.split("|")[0] in {"BL", "BF", "YLF", "MLF", "SSN"} for k in e.keys)
    best = e.candidates[0]
    assert best.found_by and all(k in {r.key for r in e.keys} for k in best.found_by)
    assert {f.field for f in best.fields} >= {"first_name", "middle_name", "last_name", "birth_date", "gender"}
    assert e.candidate_records["OH0000001"]["last"] == "QUARTERMAINE"
    assert e.differences("OH0000001") == {"first_name": ("MAIA", "MAYA")}


def test_explanation_json_round_trip(index):
    for query in (MAYA, replace(MAYA, first_name="Maia", middle_name=""), OTHERS[0],
                  StudentRecord("Nobody", "Here", birth_date="2010-01-01")):
        d = Matcher(source=index).match(query)
        text = d.to_json()
        assert json.loads(text)["outcome"] == str(d.outcome)
        assert Explanation.from_json(text) == d.explanation
        again = Decision.from_json(text)
        assert again == d


def crowded_index() -> InMemoryIndex:
    idx = InMemoryIndex()
    for i in range(30):
        idx.add(f"S{i:03d}", StudentRecord("Zed", "Smith", birth_date="2012-03-04", gender="M"))
    return idx


def test_cut_blocks_are_in_the_explanation():
    d = Matcher(source=crowded_index(), blocking=BlockingConfig(max_block=10)).match(
        StudentRecord("Zack", "Smith", birth_date="2012-03-04", gender="M"))
    assert d.explanation.incomplete
    assert any(k.truncated and k.left_out == 20 for k in d.explanation.keys)
    assert Explanation.from_json(d.to_json()).incomplete


def test_no_new_id_when_blocks_were_cut():
    """Only weak candidates, but rows were left out: a person decides, not the engine."""
    query = StudentRecord("Zed", "Jones", birth_date="2012-03-04", gender="M")
    d = Matcher(source=crowded_index(), blocking=BlockingConfig(max_block=10)).match(query)
    assert d.explanation.incomplete and all(c.weight < Thresholds().review for c in d.candidates)
    assert d.outcome == Outcome.POTENTIAL and "cut" in d.reason and d.candidates
    assert Matcher(source=crowded_index()).match(query).outcome == Outcome.NO_MATCH  # nothing cut


def test_compare_records_for_the_sweep():
    m = Matcher()
    c = m.compare_records(MAYA, replace(MAYA, first_name="Mya"), student_id="X")
    assert c.student_id == "X" and c.weight > Thresholds().review
    with pytest.raises(ValueError):
        m.match(MAYA)  # no candidate source


def test_standardised_queries_are_accepted(index):
    m = Matcher(source=index)
    assert m.match(standardize(MAYA)).student_id == m.match(MAYA).student_id


def test_matching_imports_no_database_event_loop_or_xml():
    code = ("import sys, ssid.matching, ssid.matching.estimate, ssid.population;"
            "bad = [m for m in ('sqlalchemy', 'asyncio', 'lxml', 'messages', 'aiohttp') if m in sys.modules];"
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
