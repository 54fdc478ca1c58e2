"""The seed's N_SLF_STATUS codes and "Summary of States" table, every pair, legal and illegal."""

from __future__ import annotations

import itertools

import pytest

from sif_agent.resolver.status import (
    EXTENSIONS, SEED_EDGES, SEED_TABLE, TRANSITIONS, Actor, IllegalTransition, SlfStatus, edges, reachable, status,
    transition,
)

S = SlfStatus
R, D = Actor.RESOLVER, Actor.DATABASE


def test_codes_are_the_seeds():
    # "1=REQUEST 2=REQUEST_IN_PROGRESS 3=SYSTEM_MATCH 4=SYSTEM_NEW 5=USER_MATCH 6=USER_NEW 7=UNRESOLVED
    #  8=RESOLUTION_IN_PROGRESS 9=COMPLETE 10=ERROR 11=ERROR_IN_PROGRESS 12=CANCELLED 13=CANCELLED_IN_PROGRESS"
    seed = ("1=REQUEST 2=REQUEST_IN_PROGRESS 3=SYSTEM_MATCH 4=SYSTEM_NEW 5=USER_MATCH 6=USER_NEW 7=UNRESOLVED "
            "8=RESOLUTION_IN_PROGRESS 9=COMPLETE 10=ERROR 11=ERROR_IN_PROGRESS 12=CANCELLED 13=CANCELLED_IN_PROGRESS")
    assert " ".join(str(s) for s in SlfStatus) == seed
    assert status(7) is S.UNRESOLVED and status("10") is S.ERROR
    for bad in (0, 14, None, "x"):
        with pytest.raises(ValueError, match="not one of the seed's codes"):
            status(bad)


def test_seed_table_rows_are_verbatim():
    rows = [(sorted(int(f) for f in froms), int(state), sorted(int(t) for t in tos)) for froms, state, tos in SEED_TABLE]
    assert rows == [
        ([], 1, [2]),
        ([1], 2, [3, 4, 5, 6, 10]),
        ([2], 3, [9]),
        ([2], 4, [9]),
        ([2], 5, [9]),
        ([2], 6, [9]),
        ([2], 7, [8]),
        ([7], 8, [5, 6, 9, 10]),
        ([3, 4, 5, 6, 8], 9, []),
        ([3, 4, 5, 6, 8], 10, []),
    ]


#: the complete expected table: (old, new) -> actors. Seed edges first, then the extensions.
EXPECTED = {
    (1, 2): {D},
    (2, 3): {D}, (2, 4): {D}, (2, 5): {D}, (2, 6): {D}, (2, 7): {D}, (2, 10): {D},
    (3, 9): {R}, (4, 9): {R}, (5, 9): {R}, (6, 9): {R},
    (7, 8): {R},
    (8, 5): {D}, (8, 6): {D}, (8, 9): {R}, (8, 10): {D},
    (3, 10): {D}, (4, 10): {D}, (5, 10): {D}, (6, 10): {D},
    # extensions (seed prose: footnote 2, IdStatus Cancel)
    (10, 9): {R}, (12, 9): {R},
    (1, 12): {R, D}, (2, 12): {D}, (7, 12): {D}, (8, 12): {D},
    (2, 13): {R}, (7, 13): {R}, (8, 13): {R}, (13, 12): {D},
}


def test_the_whole_table():
    got = {(int(a), int(b)): set(who) for (a, b), who in TRANSITIONS.items()}
    assert got == EXPECTED
    assert {(int(a), int(b)) for a, b in SEED_EDGES} == {e for e in EXPECTED if e not in
                                                           {(int(a), int(b)) for a, b in EXTENSIONS}}


ALL_PAIRS = [(a, b, who) for a, b in itertools.product(SlfStatus, SlfStatus) for who in Actor]


@pytest.mark.parametrize("old,new,actor", ALL_PAIRS, ids=lambda v: getattr(v, "name", str(v)))
def test_every_pair_legal_or_refused(old, new, actor):
    legal = actor in EXPECTED.get((int(old), int(new)), set())
    if legal:
        assert transition(old, new, actor) is new
        assert transition(int(old), int(new), actor) is new
    else:
        with pytest.raises(IllegalTransition) as info:
            transition(old, new, actor, row=42)
        text = str(info.value)
        assert f"{old} -> {new}" in text and actor.value in text and "SLF_TRANSACTION_PARMS 42" in text


def test_a_row_starts_at_request_by_the_resolver_only():
    assert transition(None, S.REQUEST, R) is S.REQUEST
    for st in SlfStatus:
        if st is not S.REQUEST:
            with pytest.raises(IllegalTransition):
                transition(None, st, R)
    with pytest.raises(IllegalTransition):
        transition(None, S.REQUEST, D)


def test_error_in_progress_is_unused():
    assert not [e for e in TRANSITIONS if S.ERROR_IN_PROGRESS in e]


def test_complete_and_cancelled_paths_are_final():
    assert [e for e in TRANSITIONS if e[0] is S.COMPLETE] == []
    assert {b for a, b in TRANSITIONS if a is S.CANCELLED} == {S.COMPLETE}
    assert {b for a, b in TRANSITIONS if a is S.ERROR} == {S.COMPLETE}


def test_edges_by_actor():
    assert (S.UNRESOLVED, S.RESOLUTION_IN_PROGRESS) in edges(R)
    assert (S.UNRESOLVED, S.RESOLUTION_IN_PROGRESS) not in edges(D)
    assert set(edges()) == set(TRANSITIONS)


@pytest.mark.parametrize("old,new,ok", [
    (1, 3, True),    # 1→2→3 seen as 1→3 between two polls
    (1, 7, True), (1, 10, True), (8, 5, True), (8, 6, True), (13, 12, True), (1, 12, True),
    (2, 2, True),
    (1, 8, False),   # 7→8 is the resolver's
    (1, 9, False),   # completion is the resolver's
    (8, 3, False),   # a resolved ambiguity is USER_MATCH, never SYSTEM_MATCH
    (9, 2, False), (10, 3, False), (12, 1, False), (1, 11, False), (3, 4, False),
])
def test_reachable_by_the_database(old, new, ok):
    assert reachable(old, new, D) is ok
