"""Match weights: log2(m/u) per level, term-frequency adjustment, versioned parameters, estimation."""

from __future__ import annotations

import json
import math
import random
from dataclasses import replace

import pytest

from ssid.matching.compare import FIELD_LEVELS, Level, compare
from ssid.matching.estimate import (estimate_m_em, estimate_m_from_labels, estimate_u, parameters_from, vector)
from ssid.matching.standardize import StudentRecord, standardize
from ssid.matching.weights import (DEFAULT_PARAMETERS, LevelParam, Parameters, TermFrequencies, check_parameters,
                                   score_levels)
from ssid.population import generate_population

P = DEFAULT_PARAMETERS


def test_weight_is_log2_m_over_u():
    p = P.fields["birth_date"]["EXACT"]
    assert P.weight("birth_date", "EXACT") == pytest.approx(math.log2(p.m / p.u))
    assert P.weight("birth_date", "MISSING") == 0.0


def test_default_parameters_are_consistent():
    assert check_parameters(P) == []
    for f, levels in FIELD_LEVELS.items():
        assert set(P.fields[f]) == {str(lvl) for lvl in levels}, f
        assert sum(p.m for p in P.fields[f].values()) == pytest.approx(1, abs=0.01), f
        assert sum(p.u for p in P.fields[f].values()) == pytest.approx(1, abs=0.01), f


@pytest.mark.parametrize("field", list(FIELD_LEVELS))
def test_agreement_weighs_more_than_disagreement(field):
    levels = [str(lvl) for lvl in FIELD_LEVELS[field]]
    assert P.weight(field, levels[0]) > 0 > P.weight(field, "DIFFERENT")
    assert P.weight(field, levels[0]) == max(P.weight(field, lvl) for lvl in levels)


def test_small_weights_for_self_reported_fields_and_a_strong_ssn():
    for f in ("race_ethnicity", "native_language", "gender"):
        assert abs(P.weight(f, "EXACT")) < 2 and abs(P.weight(f, "DIFFERENT")) < 6
    assert P.weight("ssn", "EXACT") > 15 and P.weight("ssn", "DIFFERENT") < -5


def test_parameters_round_trip_through_json():
    again = Parameters.from_dict(json.loads(json.dumps(P.to_dict())))
    assert again == P and again.version == P.version
    assert again.weight("last_name", "EXACT") == P.weight("last_name", "EXACT")


def test_check_parameters_finds_mistakes():
    bad = P.replace_levels("bad", {"gender": {"SIDEWAYS": LevelParam(.1, .1)},
                                   "shoe_size": {"EXACT": LevelParam(.5, .5)}})
    problems = check_parameters(bad)
    assert any("SIDEWAYS" in p for p in problems) and any("shoe_size" in p for p in problems)
    assert bad.version == "bad" and "SIDEWAYS" not in P.fields["gender"]  # the original is untouched


@pytest.mark.parametrize("m, u", [(0, .5), (.5, 0), (1.5, .5), (-1, .5)])
def test_probabilities_must_be_probabilities(m, u):
    with pytest.raises(ValueError):
        LevelParam(m, u)


FREQS = TermFrequencies({"last_name": {"SMITH": 1000, "QUARTERMAINE": 1}, "first_name": {"JOHN": 800, "ZEBEDEE": 2}},
                        {"last_name": 100_000, "first_name": 100_000})


def total(first: str, last: str, freqs: TermFrequencies | None = FREQS) -> tuple[float, dict[str, float]]:
    a = standardize(StudentRecord(first, last, birth_date="2012-03-04"))
    fields, weight = score_levels(compare(a, a), a, a, P, freqs)
    return weight, {f.field: f.tf_adjustment for f in fields}


def test_rare_surname_agreeing_is_worth_more_than_smith():
    rare, rare_adj = total("JOHN", "QUARTERMAINE")
    common, common_adj = total("JOHN", "SMITH")
    assert rare > common + 5
    assert rare_adj["last_name"] > 0 > common_adj["last_name"]


def test_rare_first_name_agreeing_is_worth_more_than_john():
    assert total("ZEBEDEE", "SMITH")[0] > total("JOHN", "SMITH")[0]


def test_tf_bonus_is_capped_and_optional():
    unseen, _ = total("JOHN", "NEVERSEEN")  # counted as a singleton, capped at tf_min_u
    assert unseen == pytest.approx(total("JOHN", "QUARTERMAINE")[0])
    plain, adj = total("JOHN", "SMITH", None)
    assert adj["last_name"] == 0 and plain > total("JOHN", "SMITH")[0]


def test_tf_applies_to_exact_agreement_only():
    a = standardize(StudentRecord("JOHN", "SMITH"))
    b = standardize(StudentRecord("JOHN", "SMYTHE"))
    fields, _ = score_levels(compare(a, b), a, b, P, FREQS)
    assert {f.field: f.tf_adjustment for f in fields}["last_name"] == 0


def test_term_frequencies_from_records():
    recs = [standardize(StudentRecord(f, l)) for f, l in [("Ann", "Lee"), ("Bo", "Lee"), ("Ann", "Kim")]]
    tf = TermFrequencies.from_records(recs)
    assert tf.frequency("last_name", "LEE") == pytest.approx(2 / 3)
    assert tf.frequency("first_name", "ZED") == pytest.approx(1 / 3)  # unseen: counted once
    assert TermFrequencies.from_dict(json.loads(json.dumps(tf.to_dict()))) == tf


@pytest.fixture(scope="module")
def population():
    return generate_population(3000, seed=21)


def test_u_from_random_pairs_is_close_to_chance(population):
    recs = [standardize(s.record) for s in population.students]
    u = estimate_u(recs, pairs=20_000, seed=1)
    assert u["gender"]["EXACT"] == pytest.approx(0.5, abs=0.03)
    assert u["birth_date"]["EXACT"] < 0.002 and u["birth_date"]["DIFFERENT"] > 0.95
    assert u["last_name"]["EXACT"] < 0.01 and u["first_name"]["DIFFERENT"] > 0.9
    for levels in u.values():
        assert sum(levels.values()) == pytest.approx(1)


def test_m_from_labelled_pairs(population):
    rng = random.Random(3)
    pairs = []
    for s in rng.sample(population.students, 300):
        a = standardize(s.record)
        typo = s.record.first_name[:-1] if rng.random() < 0.2 else s.record.first_name
        pairs.append((a, standardize(StudentRecord(typo, s.record.last_name, s.record.middle_name,
                                                   birth_date=s.record.birth_date, gender=s.record.gender))))
    m = estimate_m_from_labels(pairs)
    assert m["last_name"]["EXACT"] > 0.95 and m["birth_date"]["EXACT"] > 0.95
    assert 0.6 < m["first_name"]["EXACT"] < 0.95


def test_em_separates_matches_from_non_matches(population):
    """Unlabelled pairs: half re-submissions of the same student, half random other students."""
    rng = random.Random(5)
    students = population.students
    vectors = []
    for s in rng.sample(students, 400):
        a = standardize(s.record)
        resubmitted = s.record if rng.random() < .8 else replace(s.record, first_name="X" + s.record.first_name)
        vectors.append(vector(a, standardize(resubmitted)))
        vectors.append(vector(a, standardize(rng.choice(students).record)))
    base = parameters_from(P, "u-from-pairs", u=estimate_u([standardize(s.record) for s in students], 20_000, seed=2))
    m, share = estimate_m_em(vectors, base)
    assert share == pytest.approx(0.5, abs=0.05)
    assert m["birth_date"]["EXACT"] > 0.9 and m["last_name"]["EXACT"] > 0.9
    assert 0.6 < m["first_name"]["EXACT"] < 0.95
    fitted = parameters_from(base, "em-1", m=m, prior=share)
    assert fitted.version == "em-1" and check_parameters(fitted) == []
    assert fitted.weight("birth_date", "EXACT") > 8 > fitted.weight("birth_date", "DIFFERENT")


def test_estimation_needs_data():
    with pytest.raises(ValueError):
        estimate_u([standardize(StudentRecord("A", "B"))])
    with pytest.raises(ValueError):
        estimate_m_em([], P)
    assert Level.MISSING not in {lvl for v in [vector(standardize(StudentRecord("A", "")),
                                                      standardize(StudentRecord("A", "B")))] for _, lvl in v}
