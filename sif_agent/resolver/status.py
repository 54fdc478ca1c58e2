"""N_SLF_STATUS: the seed's status codes 1–13 and its "Summary of States" table, as data.

Why a table: the SLF tables are shared with the SSID database, so both sides move a
transaction through the same states; the table is the contract (design convention 6,
"state machines as tables with the rules on top"). Every status change the resolver makes
goes through :func:`transition`; changes the database made are checked with
:func:`reachable` before the resolver acts on them. Pure: no I/O.

The seed's table (Supplement Four, chapter 2, "Summary of States") lists for each state the
states it may come *from* and go *to*. ``SEED_TABLE`` copies it row by row; the legal
edges are the union of both columns::

    from            state                       to
    —               1  REQUEST                  2
    1               2  REQUEST_IN_PROGRESS      3 4 5 6 10
    2               3  SYSTEM_MATCH             9
    2               4  SYSTEM_NEW               9
    2               5  USER_MATCH               9
    2               6  USER_NEW                 9
    2               7  UNRESOLVED               8
    7               8  RESOLUTION_IN_PROGRESS   5 6 9 10
    3 4 5 6 8       9  COMPLETE                 —
    3 4 5 6 8       10 ERROR                    —

Who makes each edge (``Actor``) follows the seed's "Transaction Flow": the resolver inserts
rows at 1, moves 7→8 after answering Ambiguous and completes (→9); the database claims
(1→2) and decides (2→3/4/5/6/7/10, 8→5/6/10, a decided row may still fail →10).

The seed's prose needs three things its table leaves out; they are ``EXTENSIONS``, kept
apart so the seed's table stays verbatim:

* 10→9: footnote 2 of "Error Condition" ("leave the records in the database and instead set
  the status to COMPLETE(9)"), for the keep-as-COMPLETE configuration.
* Cancel (IdStatus Cancel, SIF 2.0; codes 12 and 13 exist in the seed but appear in no
  transition): a row the database has not claimed yet (1) is cancelled by the resolver at
  once (1→12); a row the database is working on (2, 7, 8) is asked to stop (→13
  CANCELLED_IN_PROGRESS) and the database confirms (13→12). The database may also cancel on
  its own (a state administrator: 1/2/7/8→12). 12→9 completes a cancelled row.
* 11 ERROR_IN_PROGRESS is defined by the seed but used by no transition; it stays unused
  (every transition into or out of it is illegal).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping


class SlfStatus(enum.IntEnum):
    """N_SLF_STATUS values, exactly as the seed numbers and names them."""

    REQUEST = 1
    REQUEST_IN_PROGRESS = 2
    SYSTEM_MATCH = 3
    SYSTEM_NEW = 4
    USER_MATCH = 5
    USER_NEW = 6
    UNRESOLVED = 7
    RESOLUTION_IN_PROGRESS = 8
    COMPLETE = 9
    ERROR = 10
    ERROR_IN_PROGRESS = 11
    CANCELLED = 12
    CANCELLED_IN_PROGRESS = 13

    def __str__(self) -> str:
        return f"{self.value}={self.name}"


class Actor(enum.Enum):
    """Who writes N_SLF_STATUS: the Student Resolver or the SSID (vendor) database."""

    RESOLVER = "resolver"
    DATABASE = "database"


S = SlfStatus

#: The seed's "Summary of States", row by row: (from states, state, to states).
SEED_TABLE: tuple[tuple[frozenset[SlfStatus], SlfStatus, frozenset[SlfStatus]], ...] = (
    (frozenset(), S.REQUEST, frozenset({S.REQUEST_IN_PROGRESS})),
    (frozenset({S.REQUEST}), S.REQUEST_IN_PROGRESS,
     frozenset({S.SYSTEM_MATCH, S.SYSTEM_NEW, S.USER_MATCH, S.USER_NEW, S.ERROR})),
    (frozenset({S.REQUEST_IN_PROGRESS}), S.SYSTEM_MATCH, frozenset({S.COMPLETE})),
    (frozenset({S.REQUEST_IN_PROGRESS}), S.SYSTEM_NEW, frozenset({S.COMPLETE})),
    (frozenset({S.REQUEST_IN_PROGRESS}), S.USER_MATCH, frozenset({S.COMPLETE})),
    (frozenset({S.REQUEST_IN_PROGRESS}), S.USER_NEW, frozenset({S.COMPLETE})),
    (frozenset({S.REQUEST_IN_PROGRESS}), S.UNRESOLVED, frozenset({S.RESOLUTION_IN_PROGRESS})),
    (frozenset({S.UNRESOLVED}), S.RESOLUTION_IN_PROGRESS,
     frozenset({S.USER_MATCH, S.USER_NEW, S.COMPLETE, S.ERROR})),
    (frozenset({S.SYSTEM_MATCH, S.SYSTEM_NEW, S.USER_MATCH, S.USER_NEW, S.RESOLUTION_IN_PROGRESS}),
     S.COMPLETE, frozenset()),
    (frozenset({S.SYSTEM_MATCH, S.SYSTEM_NEW, S.USER_MATCH, S.USER_NEW, S.RESOLUTION_IN_PROGRESS}),
     S.ERROR, frozenset()),
)

R, D = frozenset({Actor.RESOLVER}), frozenset({Actor.DATABASE})
BOTH = R | D


def _seed_edges() -> frozenset[tuple[SlfStatus, SlfStatus]]:
    edges: set[tuple[SlfStatus, SlfStatus]] = set()
    for froms, state, tos in SEED_TABLE:
        edges.update((f, state) for f in froms)
        edges.update((state, t) for t in tos)
    return frozenset(edges)


#: every legal edge of the seed's table (from either column)
SEED_EDGES = _seed_edges()


def _seed_actor(old: SlfStatus, new: SlfStatus) -> frozenset[Actor]:
    """Who may make a seed edge, from the seed's "Transaction Flow"."""
    if new is S.COMPLETE:
        return R  # the resolver answers, then completes (or deletes) the row
    if (old, new) == (S.UNRESOLVED, S.RESOLUTION_IN_PROGRESS):
        return R  # "to avoid re-processing the transaction, it sets ... RESOLUTION_IN_PROGRESS(8)"
    return D  # claim (1→2), decisions (2→3..7,10; 8→5,6,10), late failure (3..6→10)


#: the edges the seed's prose requires but its table omits (see the module docstring)
EXTENSIONS: Mapping[tuple[SlfStatus, SlfStatus], frozenset[Actor]] = {
    (S.ERROR, S.COMPLETE): R,
    (S.CANCELLED, S.COMPLETE): R,
    (S.REQUEST, S.CANCELLED): BOTH,
    (S.REQUEST_IN_PROGRESS, S.CANCELLED): D,
    (S.UNRESOLVED, S.CANCELLED): D,
    (S.RESOLUTION_IN_PROGRESS, S.CANCELLED): D,
    (S.REQUEST_IN_PROGRESS, S.CANCELLED_IN_PROGRESS): R,
    (S.UNRESOLVED, S.CANCELLED_IN_PROGRESS): R,
    (S.RESOLUTION_IN_PROGRESS, S.CANCELLED_IN_PROGRESS): R,
    (S.CANCELLED_IN_PROGRESS, S.CANCELLED): D,
}

#: (old, new) → the actors allowed to make that change. Anything absent is illegal.
TRANSITIONS: Mapping[tuple[SlfStatus, SlfStatus], frozenset[Actor]] = {
    **{e: _seed_actor(*e) for e in sorted(SEED_EDGES)},
    **EXTENSIONS,
}
del R, D, BOTH

#: the decisions the resolver answers with a Valid StudentLocator (StateProvinceId)
VALID = frozenset({S.SYSTEM_MATCH, S.SYSTEM_NEW, S.USER_MATCH, S.USER_NEW})
#: statuses after which nothing changes but completion (the outcome is known)
DECIDED = VALID | {S.ERROR, S.CANCELLED}
#: candidates exist: the answer is Ambiguous
AMBIGUOUS = frozenset({S.UNRESOLVED, S.RESOLUTION_IN_PROGRESS})
#: the database is (or should be) working on the row: nothing to answer yet
WORKING = frozenset({S.REQUEST, S.REQUEST_IN_PROGRESS, S.CANCELLED_IN_PROGRESS})
del S


class IllegalTransition(ValueError):
    """A status change the seed's table (and its extensions) does not allow for this actor."""

    def __init__(self, old: SlfStatus | None, new: SlfStatus, actor: Actor, row: object = None) -> None:
        self.old, self.new, self.actor, self.row = old, new, actor, row
        allowed = sorted(f"{n.value}" for (o, n), who in TRANSITIONS.items() if o == old and actor in who)
        where = f" (SLF_TRANSACTION_PARMS {row})" if row is not None else ""
        super().__init__(
            f"illegal N_SLF_STATUS change {old if old is not None else 'none'} -> {new} by the "
            f"{actor.value}{where}; the {actor.value} may go from {old} to: {', '.join(allowed) or 'nothing'}")


def status(value: int | SlfStatus) -> SlfStatus:
    """The status for a stored value; ValueError for a number the seed does not define."""
    try:
        return SlfStatus(int(value))
    except (TypeError, ValueError):
        raise ValueError(f"N_SLF_STATUS {value!r} is not one of the seed's codes 1-13") from None


def is_legal(old: SlfStatus | None, new: SlfStatus, actor: Actor) -> bool:
    if old is None:
        return new is SlfStatus.REQUEST and actor is Actor.RESOLVER  # a new row starts at REQUEST
    return actor in TRANSITIONS.get((old, new), ())


def transition(old: SlfStatus | int | None, new: SlfStatus | int, actor: Actor, row: object = None) -> SlfStatus:
    """``new`` if ``actor`` may change ``old`` to it, else :class:`IllegalTransition`.

    ``old`` None means "no row yet" (only the resolver's insert at REQUEST is legal).
    """
    o = None if old is None else status(old)
    n = status(new)
    if not is_legal(o, n, actor):
        raise IllegalTransition(o, n, actor, row)
    return n


def reachable(old: SlfStatus | int, new: SlfStatus | int, actor: Actor = Actor.DATABASE) -> bool:
    """Can ``actor`` alone have taken a row from ``old`` to ``new`` (zero or more legal steps)?

    The resolver polls, so it may see the database's 1→2→3 only as 1→3: it checks that the
    path exists instead of a single step.
    """
    o, n = status(old), status(new)
    seen, todo = {o}, [o]
    while todo:
        cur = todo.pop()
        for (a, b), who in TRANSITIONS.items():
            if a == cur and actor in who and b not in seen:
                seen.add(b)
                todo.append(b)
    return n in seen


def edges(actor: Actor | None = None) -> Iterable[tuple[SlfStatus, SlfStatus]]:
    """Every legal (old, new) pair, optionally only those ``actor`` may make."""
    return tuple(e for e, who in TRANSITIONS.items() if actor is None or actor in who)
