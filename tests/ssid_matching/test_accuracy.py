"""Matching quality on a seeded synthetic population: 5,000 students, 2,000 lookups.

Bounds, and why (measured with default parameters and thresholds, 5,000 students and 2,000
lookups, seeds 30–41, none of them used while choosing thresholds):
* automatic matches of returning students: 0.980–0.992 (mean 0.986, ~1,500 returning per
  run, standard error ~0.003), so the bound 0.975 sits ~3.5 standard errors below the mean;
  what is missed goes to review (first-name errors on records without a middle name that
  cannot be told from a twin), not to a new ID;
* false matches: none in any of those 24,000 lookups; the bound is the precision the issue
  asks for (0.999) and a false-match rate below 0.2% of lookups;
* potential-match rate: 1.6–2.65% of all lookups, bound 3.5% (RFP 1.15: not too many);
* a new twin of a stored student is never matched automatically.
The seed here (2026) was not among those measured.

At 5,000 students the master table is too small for name counts to say a misspelt first name
is nobody's name (``ssid.matching.decide.RARE_NAME_MIN_TABLE``); the 60,000-student tests at the
end check that part of the twin rule, with seed 2027.
"""

from __future__ import annotations

from collections import Counter

import pytest

from ssid.matching import InMemoryIndex, Matcher, Outcome, TermFrequencies, decide, standardize
from ssid.population import generate_population, generate_queries


def indexed(pop) -> tuple[InMemoryIndex, TermFrequencies]:
    return pop.indexed()


@pytest.fixture(scope="module")
def results():
    pop = generate_population(5000, seed=2026)
    index, frequencies = indexed(pop)
    matcher = Matcher(source=index, frequencies=frequencies)
    return [(q, matcher.match(q.record)) for q in generate_queries(pop, 2000, seed=7)]


def test_false_matches_are_rare(results):
    auto = [(q, d) for q, d in results if d.outcome == Outcome.MATCH]
    wrong = [(q, d) for q, d in auto if d.student_id != q.truth]
    assert len(wrong) / len(results) < 0.002
    assert (len(auto) - len(wrong)) / len(auto) >= 0.999  # automatic-match precision


def test_returning_students_are_matched_automatically(results):
    returning = [(q, d) for q, d in results if q.truth != "new"]
    right = sum(1 for q, d in returning if d.outcome == Outcome.MATCH and d.student_id == q.truth)
    assert len(returning) > 1400
    assert right / len(returning) >= 0.975
    clean = [(q, d) for q, d in returning if q.kind == "clean"]
    assert all(d.student_id == q.truth for q, d in clean)


def test_missed_matches_go_to_review_with_the_truth_listed(results):
    returning = [(q, d) for q, d in results if q.truth != "new"]
    review = [(q, d) for q, d in returning if d.outcome == Outcome.POTENTIAL]
    assert all(q.truth in {c.student_id for c in d.candidates} for q, d in review)
    assert sum(1 for _, d in returning if d.outcome == Outcome.NO_MATCH) <= 0.01 * len(returning)


def test_potential_match_rate_is_low(results):
    outcomes = Counter(d.outcome for _, d in results)
    assert outcomes[Outcome.POTENTIAL] / len(results) <= 0.035


def test_new_students_get_new_ids(results):
    new = [(q, d) for q, d in results if q.kind in ("new_student", "new_sibling", "new_common_name")]
    assert sum(1 for _, d in new if d.outcome == Outcome.NO_MATCH) / len(new) >= 0.95


def test_new_twins_are_never_matched_automatically(results):
    twins = [d for q, d in results if q.kind == "new_twin"]
    assert twins and all(d.outcome != Outcome.MATCH for d in twins)


def test_every_potential_match_list_is_short_and_ordered(results):
    for _, d in results:
        if d.outcome == Outcome.POTENTIAL:
            assert len(d.candidates) <= 5
            conf = [c.confidence for c in d.candidates]
            assert conf == sorted(conf, reverse=True) and all(0.0 <= c <= 1.0 for c in conf)


# ---- 60,000 students: the name counts take part in the twin rule ----

@pytest.fixture(scope="module")
def large():
    pop = generate_population(60_000, seed=2027)
    return (pop, *indexed(pop))


@pytest.mark.slow
def test_no_stored_twin_arriving_as_new_is_matched_to_its_co_twin(large):
    """Each of ~1,600 stored twins scored as a new lookup against its co-twin alone (no rival
    for the margin), with its own name taken out of the counts as if it were not stored yet."""
    pop, _, freqs = large
    first = dict(freqs.counts["first_name"])
    totals = {**freqs.totals, "first_name": freqs.totals["first_name"] - 1}
    twins = [s for s in pop.students if s.twin_of]
    assert len(twins) > 1000
    for s in twins:
        name = standardize(s.record).first_key
        before = TermFrequencies({**freqs.counts, "first_name": {**first, name: first[name] - 1}}, totals)
        co = pop.get(s.twin_of)
        scored = Matcher(frequencies=before).compare_records(s.record, co.record, co.student_id)
        assert decide([scored], Matcher().thresholds).outcome != Outcome.MATCH, (s.record, co.record)


@pytest.mark.slow
def test_first_name_errors_are_matched_automatically_at_scale(large):
    """Typos, sound-alike spellings and nicknames: 100% automatic at 100,000 and 1,000,000 students
    (benchmarks/RESULTS.md); the bound leaves room for sampling (~400 such lookups here)."""
    pop, index, freqs = large
    matcher = Matcher(source=index, frequencies=freqs)
    queries = [q for q in generate_queries(pop, 3000, seed=11) if q.kind in ("typo", "phonetic", "nickname")]
    decided = [(q, matcher.match(q.record)) for q in queries]
    right = sum(1 for q, d in decided if d.outcome == Outcome.MATCH and d.student_id == q.truth)
    wrong = sum(1 for q, d in decided if d.outcome == Outcome.MATCH and d.student_id != q.truth)
    assert len(decided) > 300 and wrong == 0
    assert right / len(decided) >= 0.98
