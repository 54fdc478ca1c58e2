"""The lookup's shortcuts give exactly what the plain definitions give.

Every lookup compares and scores each version of each candidate and builds an explanation, so
those steps take shortcuts: common levels settled inline in ``compare``, the swapped reading
of the names re-comparing only the names, field scores shared per parameter set, query keys
cached, explanation dicts built directly. Each is checked here against the definition it
replaces, on realistic pairs (a synthetic population's lookups and the candidates blocking
finds for them), with and without term frequencies, to the last bit of every weight.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from ssid.matching import (DEFAULT_PARAMETERS, FieldScore, Matcher, Thresholds,
                           compare, standardize)
from ssid.matching import native
from ssid.matching.blocking import _query_keys, gather, query_keys, tiers
from ssid.matching.compare import (Level, compare_birth_date, compare_city, compare_exact, compare_name,
                                   compare_levels, compare_school, compare_ssn, name_levels)
from ssid.matching.explain import candidate_dict, record_dict
from ssid.matching.phonetic import phonetic
from ssid.matching.romanized import romanized_alike
from ssid.matching.standardize import swap_names
from ssid.matching.weights import TF_VALUE, score_levels, total_weight
from ssid.population import generate_population, generate_queries


@pytest.fixture(scope="module")
def world():
    """(index, name counts, [(query, [candidate records])]) for 400 lookups in 3,000 students."""
    pop = generate_population(3_000, seed=7)
    index, frequencies = pop.indexed()
    lookups = []
    for q in generate_queries(pop, 400, seed=7):
        std = standardize(q.record)
        found = gather(query_keys(std), index)
        lookups.append((std, [r.record for rows in found.rows.values() for r in rows]))
    return index, frequencies, lookups


def pairs(world):
    _, _, lookups = world
    out = [(q, c) for q, cands in lookups for c in cands]
    # and pairs blocking would not bring together: blank fields, unrelated students
    out += [(lookups[i][0], lookups[-i - 1][0]) for i in range(len(lookups))]
    blank = standardize(lookups[0][0].raw.__class__(first_name="Ann"))
    out += [(blank, q) for q, _ in lookups[:50]] + [(q, blank) for q, _ in lookups[:50]]
    # and keying slips in the fields the generator leaves alone
    for q, _ in lookups[:100]:
        slips = {"ssn": "123456789" if not q.ssn else q.ssn[:-1] + ("1" if q.ssn[-1] != "1" else "2"),
                 "birth_city": (q.birth_city or "DAYTON")[:-1] + "X",
                 "mothers_maiden_name": (q.mothers_maiden_name or "SMITH").replace("I", "Y") + "E",
                 "middle_key": (q.middle_key or "ANN")[:1]}
        out += [(q, replace(q, **{field: value})) for field, value in slips.items()]
    return out


def plain_compare(q, c):
    """``compare`` as the level functions define it, one call per field."""
    return {
        "first_name": compare_name(q.first_key, c.first_key, q.first_phonetic, c.first_phonetic,
                                   q.first_canonical, c.first_canonical, romanized=romanized_alike),
        "middle_name": compare_name(q.middle_key, c.middle_key, initials=True),
        "last_name": compare_name(q.last_key, c.last_key, q.last_phonetic, c.last_phonetic),
        "birth_date": compare_birth_date(q.birth_date, c.birth_date),
        "gender": compare_exact(q.gender, c.gender),
        "birth_city": compare_city(q.birth_city, c.birth_city),
        "race_ethnicity": compare_exact(q.race_ethnicity, c.race_ethnicity),
        "native_language": compare_exact(q.native_language, c.native_language),
        "ssn": compare_ssn(q.ssn, c.ssn),
        "mothers_maiden_name": compare_name(q.mothers_maiden_name, c.mothers_maiden_name,
                                            phonetic(q.mothers_maiden_name), phonetic(c.mothers_maiden_name)),
        "school": compare_school(q, c),
    }


def plain_score_levels(levels, c, params, frequencies):
    """``score_levels`` as first written: one new field score per field, summed in field order."""
    out, total = [], 0.0
    for name, level in levels.items():
        w = params.weight(name, level)
        adj = 0.0
        if level == Level.EXACT and frequencies is not None and name in params.tf_fields:
            f = frequencies.frequency(name, getattr(c, TF_VALUE[name]))
            if f is not None:
                tf_w = math.log2(params.m(name, level) / max(f, params.tf_min_u))
                adj, w = tf_w - w, tf_w
        out.append(FieldScore(name, str(level), w, adj))
        total += w
    return tuple(out), total


def test_the_pairs_cover_every_kind_of_level(world):
    seen = {(f, lvl) for q, c in pairs(world) for f, lvl in plain_compare(q, c).items()}
    for field, level in [("first_name", Level.EXACT), ("first_name", Level.NICKNAME), ("first_name", Level.JW_92),
                         ("first_name", Level.DIFFERENT), ("last_name", Level.TOKEN_SUBSET),
                         ("middle_name", Level.INITIAL), ("birth_date", Level.DAY_MONTH_SWAPPED),
                         ("birth_date", Level.ONE_DIGIT), ("ssn", Level.ONE_EDIT), ("school", Level.SAME_BUILDING),
                         ("mothers_maiden_name", Level.MISSING), ("mothers_maiden_name", Level.JW_92),
                         ("birth_city", Level.DIFFERENT), ("birth_city", Level.JW_92)]:
        assert (field, level) in seen


def test_compare_gives_the_levels_the_level_functions_define(world):
    for q, c in pairs(world):
        got = compare(q, c)
        assert got == plain_compare(q, c) and list(got) == list(plain_compare(q, c))


def test_the_swapped_reading_changes_the_name_levels_only(world):
    for q, c in pairs(world):
        qs = swap_names(q)
        first, last = name_levels(qs, c)
        assert {**compare(q, c), "first_name": first, "last_name": last} == compare(qs, c)


@pytest.mark.parametrize("with_counts", [False, True])
def test_field_scores_and_totals_are_bit_for_bit_the_plain_sum(world, with_counts):
    freqs = world[1] if with_counts else None
    adjusted = 0
    for q, c in pairs(world):
        levels = compare(q, c)
        fields, total = score_levels(levels, q, c, DEFAULT_PARAMETERS, freqs)
        want_fields, want_total = plain_score_levels(levels, c, DEFAULT_PARAMETERS, freqs)
        assert fields == want_fields and total == want_total  # exact: same additions, same order
        assert total_weight(tuple(levels.values()), c, DEFAULT_PARAMETERS, freqs) == want_total  # what ranks
        assert compare_levels(q, c) == tuple(levels.values())
        adjusted += any(f.tf_adjustment for f in fields)
    assert (adjusted > 0) == with_counts


def test_matches_with_and_without_counts_score_as_the_plain_engine_would(world):
    """Whole lookups: every candidate's weight is the plain sum of its best reading."""
    index, freqs, lookups = world
    swapped = 0
    for m in (Matcher(source=index), Matcher(source=index, frequencies=freqs)):
        for q, _ in lookups[:150]:
            d = m.match(q)
            for cand in d.explanation.candidates:
                rows = [r for r in gather(query_keys(q), index).rows[cand.student_id] if r.version == cand.version]
                qq = swap_names(q) if cand.names_swapped else q
                levels = plain_compare(qq, rows[0].record)
                want, total = plain_score_levels(levels, rows[0].record, m.params, m.frequencies)
                if cand.names_swapped:
                    penalty = m.params.weight("name_order", Level.SWAPPED)
                    want, total = (*want, FieldScore("name_order", "SWAPPED", penalty)), total + penalty
                    swapped += 1
                assert cand.fields == want and cand.weight == total
    assert swapped > 0


def test_explanation_records_and_candidates_are_what_to_dict_gives(world):
    index, freqs, lookups = world
    m = Matcher(source=index, frequencies=freqs)
    for q, cands in lookups[:100]:
        assert record_dict(q) == {k: v for k, v in q.to_dict().items() if k != "raw"}
        for c in cands:
            assert record_dict(c) == {k: v for k, v in c.to_dict().items() if k != "raw"}
        for c in m.match(q).explanation.candidates:
            assert candidate_dict(c) == c.to_dict()


def test_each_explanation_owns_its_thresholds(world):
    index, _, lookups = world
    m = Matcher(source=index, thresholds=Thresholds(match=27.0))
    a, b = m.match(lookups[0][0]), m.match(lookups[1][0])
    assert a.explanation.thresholds == m.thresholds.to_dict() and a.explanation.thresholds["match"] == 27.0
    a.explanation.thresholds["match"] = 0.0
    assert b.explanation.thresholds["match"] == 27.0 and m.match(lookups[2][0]).explanation.thresholds["match"] == 27.0


def test_query_keys_are_cached_by_value(world):
    _, _, lookups = world
    for q, _ in lookups[:100]:
        again = replace(q, raw=q.raw)  # another object, equal
        assert query_keys(q) == _query_keys(q) and query_keys(again) == _query_keys(q)
    try:
        hand_built = replace(lookups[0][0], first_canonical=["X"])  # a list: not hashable, answered uncached
    except TypeError:  # compiled (ssid.matching.native), the record refuses a list where a tuple belongs
        assert native.STATE[0] == "compiled"
        return
    assert query_keys(hand_built) == _query_keys(hand_built)


def plain_match(m: Matcher, q):
    """``Matcher.match`` as first written: every version of every candidate scored in full, with
    the keys as given and, unless they lead to an automatic match agreeing with the query as given
    on both names and the birth date, with every key."""
    as_given, variants = tiers(query_keys(q))
    got = _plain_match(m, q, as_given)
    if variants:
        best = got[0].candidates[0] if got[0].candidates else None
        levels = {f.field: f.level for f in best.fields} if best else {}
        agrees = (best is not None and not best.names_swapped and levels["birth_date"] == "EXACT"
                  and levels["first_name"] in ("EXACT", "JW_92", "NICKNAME", "TOKEN_SUBSET")
                  and levels["last_name"] in ("EXACT", "JW_92", "TOKEN_SUBSET"))
        if got[0].outcome != "MATCH" or not agrees:
            got = _plain_match(m, q, query_keys(q))
    return got


def _plain_match(m: Matcher, q, keys):
    from ssid.matching.decide import confidence, decide
    from ssid.matching.engine import Decision, _thresholds_dict
    from ssid.matching.explain import Explanation
    from ssid.matching.decide import ScoredCandidate

    found = gather(keys, m.source, m.blocking)
    scored = []
    for sid, rows in found.rows.items():
        best = None
        for row in rows:
            levels = plain_compare(q, row.record)
            fields, total = plain_score_levels(levels, row.record, m.params, m.frequencies)
            _, _, conflicts, swapped = m.score_pair(q, row.record)
            if swapped:  # the swapped reading: as score_pair reads it (checked against compare above)
                fields, total, conflicts, swapped = m.score_pair(q, row.record)
            if best is None or total > best[2]:
                best = (row, fields, total, conflicts, swapped)
        row, fields, total, conflicts, swapped = best
        scored.append(ScoredCandidate(sid, row.version, total, confidence(total, m.params.prior), fields, conflicts,
                                      tuple(found.found_by.get(sid, ())), swapped))
    verdict = decide(scored, m.thresholds, found.incomplete)
    top = sorted(scored, key=lambda c: (-c.weight, c.student_id))[:m.explain_limit]
    records = {c.student_id: record_dict(next(r for r in found.rows[c.student_id] if r.version == c.version).record)
               for c in top}
    e = Explanation(verdict.outcome, verdict.student_id, verdict.reason, tuple(c.student_id for c in verdict.candidates),
                    q.raw.to_dict(), record_dict(q), found.reports, tuple(top), records, len(scored),
                    _thresholds_dict(m.thresholds), m.params.version)
    ranked = sorted(scored, key=lambda c: (-c.weight, c.student_id))
    return Decision(verdict.outcome, verdict.student_id, verdict.candidates, verdict.reason, e), ranked


@pytest.mark.parametrize("limits", [(10, 5), (1, 1)])
def test_a_lookup_scores_in_full_only_what_it_shows_and_decides_as_if_it_scored_all(world, limits):
    """Candidates are ranked by their total weight and only the best are scored in full (field
    scores, conflicts); decisions and explanations are those of scoring every candidate. With
    one candidate shown, a possible twin ranked second sends the search on for the rival."""
    index, freqs, lookups = world
    explain, k = limits
    twins_passed = 0
    for m in (Matcher(source=index, frequencies=freqs, explain_limit=explain,
                      thresholds=Thresholds(max_candidates=k)),
              Matcher(source=index, explain_limit=explain, thresholds=Thresholds(max_candidates=k))):
        for q, cands in lookups:
            got, (want, ranked) = m.match(q), plain_match(m, q)
            assert got.to_json() == want.to_json()
            assert (got.outcome, got.student_id, got.candidates) == (want.outcome, want.student_id, want.candidates)
            twins_passed += len(ranked) > 1 and "POSSIBLE_TWIN" in ranked[1].conflicts
            read = {r.key for r in got.explanation.keys}
            assert got.explanation.candidates_scored == len(gather([k for k in query_keys(q) if k.key in read],
                                                                   index).rows)
    assert twins_passed > 0  # lookups whose second-best student is a possible twin: the rival is further down
