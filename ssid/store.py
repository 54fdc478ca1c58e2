"""The SSID store: reading students, issuing IDs, users, and the shared write helpers.

Why this shape: every change to a student is one database transaction that also writes its
audit row (``audit.record``), so callers pass the transaction's connection (``async with
store.write() as conn``) and several steps of one request (issue an ID, then record an SLF
answer, say) commit or roll back together. Reads may use their own connection.

How the resolver's poller and batch files use it::

    store = SsidStore.from_url(url, settings)        # settings: ssid.config.Settings
    await store.migrate()
    async with store.write() as conn:
        student = await store.create_student(conn, values, actor, group="minimal",
                                             request_key=transaction_id)   # a new ID
        # or, after a match under another spelling:
        await store.add_alias(conn, matched_id, values, actor, source="slf")

``create_student`` checks the values against the catalogue for the task and user group,
refuses an exact duplicate of an active record, draws an ID with ``ids.IdIssuer`` and claims
it in ``ssid_ids`` (never an ID used before), and writes the student, its first alias, its
blocking keys and the CREATE audit row. With a ``request_key`` (TransactionId,
Idempotency-Key) a retry returns the student created the first time, never a second ID.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from . import audit
from .audit import Actor, ChangeType
from .catalogue import GENERATE
from .config import Settings
from .db import bulkload, namecounts
from .db.engine import READ_ONLY, insert_ignore, make_engine
from .db.lookup_index import add_rows, index_students
from .db.migrations import migrate as run_migrations
from .db.schema import (
    ACTIVE, DEACTIVATED, aliases_t, audit_t, deactivations_t, ids_t, reactivations_t, students_t, users_t,
)
from .ids import IdIssuer, IdSpaceExhausted, clean_id, id_problems
from .records import Indexed, index, join_values, key_rows, split_values

log = logging.getLogger(__name__)

USER_STATUSES = ("active", "limited", "suspended")
DAY = 86_400.0


class SsidError(Exception):
    """A request the SSID database cannot carry out; the message says what to do instead."""


class NotFound(SsidError):
    pass


class Refused(SsidError):
    """A rule forbids the change (duplicate, missing approval, role, reason...)."""


class InvalidRecord(SsidError):
    """The values do not pass the catalogue; ``problems`` lists every one."""

    def __init__(self, problems) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class Student:
    student_id: str
    status: str
    values: dict[str, str]
    identity_key: str
    district_irn: str | None
    building_irn: str | None
    created_by: str | None
    created_at: float
    updated_at: float
    origin: str
    import_job: str | None
    request_key: str | None
    row_version: int

    @property
    def active(self) -> bool:
        return self.status == ACTIVE

    @classmethod
    def from_row(cls, r) -> Student:
        m = dict(r._mapping)
        return cls(m["student_id"], m["status"], join_values(m), m["identity_key"], m["district_irn"],
                   m["building_irn"], m["created_by"], m["created_at"], m["updated_at"], m["origin"],
                   m["import_job"], m["request_key"], m["row_version"])


@dataclass(frozen=True)
class Alias:
    student_id: str
    version: int
    record: dict[str, str]
    source: str
    at: float


@dataclass(frozen=True)
class Deactivation:
    id: int
    student_id: str
    surviving_id: str
    reason: str
    user_id: str
    district_irn: str | None
    at: float
    batch_job_id: str | None
    via_slf: bool

    @classmethod
    def from_row(cls, r) -> Deactivation:
        m = r._mapping
        return cls(**{k: m[k] for k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Reactivation:
    id: int
    student_id: str
    reason: str
    requested_by: str
    requester_district: str | None
    requested_at: float
    status: str
    decided_by: str | None
    decided_at: float | None
    decision_note: str | None

    @classmethod
    def from_row(cls, r) -> Reactivation:
        m = r._mapping
        return cls(**{k: m[k] for k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class User:
    user_id: str
    name: str | None
    district_irn: str | None
    building_irn: str | None
    group: str | None
    roles: frozenset[str]
    status: str
    forced_new_limit: int | None

    @classmethod
    def from_row(cls, r) -> User:
        m = r._mapping
        return cls(m["user_id"], m["name"], m["district_irn"], m["building_irn"], m["user_group"],
                   frozenset(m["roles"] or ()), m["status"], m["forced_new_limit"])

    def actor(self, batch_job_id: str | None = None, via_slf: bool = False,
              correlation_id: str | None = None) -> Actor:
        return Actor(self.user_id, self.district_irn, batch_job_id, via_slf, correlation_id)


def duplicate_refused(existing: str) -> Refused:
    """Why no second ID is issued for a record identical to an active student's."""
    return Refused(f"an active student with the same name, birth date and gender exists: {existing}; use that ID "
                   "(a second ID for the same student would be a duplicate)")


async def lock_identities(conn: AsyncConnection, identities: Iterable[str]) -> None:
    """PostgreSQL: serialise "is there an identical active student?" checks per identity until commit
    (SQLite needs nothing: a write transaction holds the database's write lock)."""
    if conn.dialect.name == "postgresql":
        for identity in sorted(set(identities)):  # one order for every process: no deadlock
            await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": identity})


class SsidStore:
    def __init__(self, engine: AsyncEngine, settings: Settings | None = None, *,
                 clock: Callable[[], float] = time.time,
                 randbelow: Callable[[int], int] = secrets.randbelow) -> None:
        self.engine = engine
        self.settings = settings or Settings()
        self.clock = clock
        self.issuer = IdIssuer(self.settings.id_profile, randbelow)

    @classmethod
    def from_url(cls, url: str | None = None, settings: Settings | None = None, **kw: Any) -> SsidStore:
        settings = settings or Settings()
        return cls(make_engine(url or settings.database), settings, **kw)

    @property
    def catalogue(self):
        return self.settings.catalogue

    async def migrate(self) -> list[str]:
        """Bring the schema up to date, and finish an interrupted initial load (``db.bulkload``)."""
        done = await run_migrations(self.engine, self.clock)
        async with self.read() as conn:
            staged = await bulkload.pending(conn)
        if staged:
            async with self.write() as conn:
                await bulkload.finish(conn)
        return done

    async def close(self) -> None:
        await self.engine.dispose()

    def write(self):
        """A write transaction (``async with store.write() as conn``); commits on success."""
        return self.engine.begin()

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only connection (never takes SQLite's write lock)."""
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(**{READ_ONLY: True})
            yield conn

    @contextlib.asynccontextmanager
    async def _conn(self, conn: AsyncConnection | None) -> AsyncIterator[AsyncConnection]:
        if conn is not None:
            yield conn
        else:
            async with self.read() as c:
                yield c

    # ---- reading ----

    async def student(self, student_id: str, conn: AsyncConnection | None = None, *,
                      lock: bool = False) -> Student | None:
        q = select(students_t).where(students_t.c.student_id == clean_id(student_id))
        if lock:
            q = q.with_for_update()
        async with self._conn(conn) as c:
            row = (await c.execute(q)).first()
        return Student.from_row(row) if row else None

    async def require_student(self, conn: AsyncConnection, student_id: str, *, lock: bool = False,
                              role: str = "student") -> Student:
        s = await self.student(student_id, conn, lock=lock)
        if s is None:
            use = await self.id_use(student_id, conn)
            extra = f" (it is recorded as a {use} ID without a student)" if use else ""
            raise NotFound(f"no {role} with ID {clean_id(student_id)!r}{extra}: check the ID")
        return s

    async def id_use(self, student_id: str, conn: AsyncConnection | None = None) -> str | None:
        """How an identifier was used ("issued", "legacy", "reserved", "retired"), or None if never."""
        async with self._conn(conn) as c:
            return (await c.execute(select(ids_t.c.kind).where(ids_t.c.student_id == clean_id(student_id)))
                    ).scalar()

    async def aliases(self, student_id: str, conn: AsyncConnection | None = None) -> list[Alias]:
        q = select(aliases_t).where(aliases_t.c.student_id == clean_id(student_id)).order_by(aliases_t.c.version)
        async with self._conn(conn) as c:
            rows = (await c.execute(q)).all()
        return [Alias(r.student_id, r.version, dict(r.record), r.source, r.at) for r in rows]

    async def deactivations(self, student_id: str, conn: AsyncConnection | None = None) -> list[Deactivation]:
        q = select(deactivations_t).where(deactivations_t.c.student_id == clean_id(student_id)) \
            .order_by(deactivations_t.c.id)
        async with self._conn(conn) as c:
            return [Deactivation.from_row(r) for r in (await c.execute(q)).all()]

    async def reactivations(self, student_id: str | None = None, status: str | None = None,
                            conn: AsyncConnection | None = None) -> list[Reactivation]:
        q = select(reactivations_t).order_by(reactivations_t.c.id)
        if student_id is not None:
            q = q.where(reactivations_t.c.student_id == clean_id(student_id))
        if status is not None:
            q = q.where(reactivations_t.c.status == status)
        async with self._conn(conn) as c:
            return [Reactivation.from_row(r) for r in (await c.execute(q)).all()]

    async def audit(self, student_id: str | None = None, conn: AsyncConnection | None = None,
                    **kw: Any) -> list[audit.AuditRow]:
        async with self._conn(conn) as c:
            return await audit.history(c, clean_id(student_id) if student_id else None, **kw)

    async def active_id(self, student_id: str, conn: AsyncConnection | None = None) -> str | None:
        """The active ID for this one: itself, or the end of its chain of surviving IDs."""
        seen: set[str] = set()
        current = clean_id(student_id)
        async with self._conn(conn) as c:
            while current not in seen:
                seen.add(current)
                status = (await c.execute(select(students_t.c.status).where(students_t.c.student_id == current))
                          ).scalar()
                if status is None:
                    return None
                if status == ACTIVE:
                    return current
                current = (await c.execute(
                    select(deactivations_t.c.surviving_id).where(deactivations_t.c.student_id == current)
                    .order_by(deactivations_t.c.id.desc()).limit(1))).scalar()
                if current is None:
                    return None
        return None  # a cycle (cannot be created by maintenance, but never loop)

    async def identical_active(self, conn: AsyncConnection, identity: str, exclude: str | None = None
                               ) -> list[str]:
        """Active students with this identity key (other than ``exclude``), oldest first."""
        await lock_identities(conn, [identity])
        q = select(students_t.c.student_id).where(students_t.c.identity_key == identity,
                                                  students_t.c.status == ACTIVE)
        if exclude is not None:
            q = q.where(students_t.c.student_id != exclude)
        return list((await conn.execute(q.order_by(students_t.c.created_at, students_t.c.student_id))).scalars())

    async def counts(self, conn: AsyncConnection | None = None) -> dict[str, int]:
        async with self._conn(conn) as c:
            by_status = dict((await c.execute(select(students_t.c.status, func.count())
                                              .group_by(students_t.c.status))).all())
            by_kind = dict((await c.execute(select(ids_t.c.kind, func.count()).group_by(ids_t.c.kind))).all())
        return {"active": by_status.get(ACTIVE, 0), "deactivated": by_status.get(DEACTIVATED, 0),
                **{f"ids_{k}": v for k, v in by_kind.items()}}

    # ---- users ----

    async def user(self, user_id: str, conn: AsyncConnection | None = None) -> User | None:
        async with self._conn(conn) as c:
            row = (await c.execute(select(users_t).where(users_t.c.user_id == user_id))).first()
        return User.from_row(row) if row else None

    async def require_user(self, conn: AsyncConnection, user_id: str) -> User:
        u = await self.user(user_id, conn)
        if u is None:
            raise NotFound(f"no user {user_id!r}: add the user first (slf ssid user add)")
        if u.status == "suspended":
            raise Refused(f"user {user_id!r} is suspended and cannot change student records; "
                          "ask the state to restore access")
        return u

    async def users(self, conn: AsyncConnection | None = None) -> list[User]:
        async with self._conn(conn) as c:
            return [User.from_row(r) for r in (await c.execute(select(users_t).order_by(users_t.c.user_id))).all()]

    async def add_user(self, conn: AsyncConnection, user_id: str, *, name: str | None = None,
                       district_irn: str | None = None, building_irn: str | None = None, group: str | None = None,
                       roles: Iterable[str] = (), by: Actor | None = None) -> User:
        if not user_id or len(user_id) > 64:
            raise Refused("a user id must be 1 to 64 characters")
        if group is not None and group != "default" and group not in self.catalogue.groups:
            raise Refused(f"unknown user group {group!r}: use one of "
                          f"{', '.join(['default', *self.catalogue.groups])} (groups are in the configuration)")
        if await self.user(user_id, conn) is not None:
            raise Refused(f"user {user_id!r} exists already")
        now = self.clock()
        values = {"user_id": user_id, "name": name, "district_irn": district_irn, "building_irn": building_irn,
                  "user_group": group, "roles": sorted(set(roles)), "status": "active", "forced_new_limit": None,
                  "created_at": now, "updated_at": now}
        await conn.execute(insert(users_t).values(**values))
        await audit.record(conn, audit.entry(now, ChangeType.USER, by or Actor("system"), None, None,
                                             {k: v for k, v in values.items() if k not in ("created_at", "updated_at")},
                                             detail={"user_id": user_id, "action": "add"}))
        return await self.require_user(conn, user_id)

    async def set_user_status(self, conn: AsyncConnection, user_id: str, status: str, *,
                              forced_new_limit: int | None = None, reason: str = "",
                              by: Actor | None = None) -> User:
        """Limit, suspend or restore a user (RFP 1.21.8.1.2, 1.21.8.2.1)."""
        if status not in USER_STATUSES:
            raise Refused(f"status must be one of {', '.join(USER_STATUSES)}")
        before = await self.user(user_id, conn)
        if before is None:
            raise NotFound(f"no user {user_id!r}")
        limit = forced_new_limit if status == "limited" else None
        if status == "limited" and (limit is None or limit < 0):
            raise Refused("a limited user needs --forced-new-limit N (forced new IDs allowed per day; 0 for none)")
        now = self.clock()
        await conn.execute(update(users_t).where(users_t.c.user_id == user_id)
                           .values(status=status, forced_new_limit=limit, updated_at=now))
        await audit.record(conn, audit.entry(
            now, ChangeType.USER, by or Actor("system"), None,
            {"status": before.status, "forced_new_limit": before.forced_new_limit},
            {"status": status, "forced_new_limit": limit}, detail={"user_id": user_id, "reason": reason}))
        return await self.require_user(conn, user_id) if status != "suspended" else await self.user(user_id, conn)

    async def forced_new_metrics(self, since: float | None = None, conn: AsyncConnection | None = None
                                 ) -> list[tuple[str, str | None, int]]:
        """(user, district, count) of new IDs forced past offered matches, most first (RFP 1.21.8.1.1)."""
        q = select(audit_t.c.user_id, audit_t.c.user_district, func.count()).where(audit_t.c.forced_new.is_(True))
        if since is not None:
            q = q.where(audit_t.c.at >= since)
        q = q.group_by(audit_t.c.user_id, audit_t.c.user_district).order_by(func.count().desc(), audit_t.c.user_id)
        async with self._conn(conn) as c:
            return [(u, d, n) for u, d, n in (await c.execute(q)).all()]

    async def _check_may_force_new(self, conn: AsyncConnection, actor: Actor) -> None:
        user = await self.require_user(conn, actor.user_id)
        if user.status == "limited":
            done = sum(n for u, _, n in await self.forced_new_metrics(self.clock() - DAY, conn) if u == user.user_id)
            if done >= (user.forced_new_limit or 0):
                raise Refused(f"user {user.user_id!r} may force at most {user.forced_new_limit or 0} new IDs past "
                              f"offered matches per day and has forced {done}: pick one of the offered matches, "
                              "or ask the state to review the potential matches")

    # ---- writing ----

    async def claim_ids(self, conn: AsyncConnection, n: int, kind: str, source: str | None = None) -> list[str]:
        """``n`` new IDs drawn at random and recorded as used, with one statement per round.

        The bulk form of ``issuer.issue(claim_id)`` (batch files): a drawn ID that was ever used
        is dropped by the insert (ON CONFLICT DO NOTHING ... RETURNING) and drawn again. The rows
        go as parameters of one cached statement (SQLAlchemy batches them into multi-row inserts),
        not as a VALUES list built into the statement, which is compiled anew for every length:
        200 IDs in 3.7 against 10.6 ms of CPU.
        """
        issuer, out = self.issuer, []
        for _ in range(issuer.max_attempts):
            want, before = n - len(out), len(out)
            if want <= 0:
                break
            drawn = list(dict.fromkeys(issuer.profile.draw(issuer.randbelow) for _ in range(want)))
            now = self.clock()
            got = await conn.execute(insert_ignore(conn, ids_t).returning(ids_t.c.student_id),
                                     [{"student_id": c, "kind": kind, "source": source, "at": now} for c in drawn])
            claimed = set(got.scalars())
            out += [c for c in drawn if c in claimed]
            issuer.collisions += want - (len(out) - before)
        if len(out) < n:
            raise IdSpaceExhausted(f"no free {issuer.profile.name} identifier after {issuer.max_attempts} rounds of "
                                   "draws: the random source repeats itself or the identifier space is full")
        return out

    async def claim_id(self, conn: AsyncConnection, candidate: str, kind: str, source: str | None = None) -> bool:
        """Record ``candidate`` as used; False when it was used before (by anyone, ever)."""
        result = await conn.execute(insert_ignore(conn, ids_t).values(student_id=candidate, kind=kind,
                                                                      source=source, at=self.clock()))
        return result.rowcount == 1

    async def create_student(self, conn: AsyncConnection, values: Mapping[str, Any], actor: Actor, *,
                             task: str = GENERATE, group: str | None = None, forced_new: bool = False,
                             request_key: str | None = None, district_irn: str | None = None,
                             building_irn: str | None = None, source: str = "issue") -> Student:
        """Issue a new ID for a student not in the database (see the module docstring)."""
        if request_key is not None:
            first = (await conn.execute(select(students_t).where(students_t.c.request_key == request_key))).first()
            if first is not None:
                return Student.from_row(first)
        checked = self.catalogue.check(values, task, group)
        if not checked.ok:
            raise InvalidRecord(checked.problems)
        if forced_new:
            await self._check_may_force_new(conn, actor)
        district_irn = district_irn or actor.district_irn
        indexed = index(checked.values, district_irn, building_irn)
        same = await self.identical_active(conn, indexed.identity)
        if same:
            raise duplicate_refused(same[0])
        student_id = await self.issuer.issue(lambda c: self.claim_id(conn, c, "issued", source))
        now = self.clock()
        core, extra = split_values(checked.values)
        await conn.execute(insert(students_t).values(
            student_id=student_id, status=ACTIVE, **core, attributes=extra, identity_key=indexed.identity,
            district_irn=district_irn, building_irn=building_irn, created_by=actor.user_id, created_at=now,
            updated_at=now, origin="issued", import_job=None, user_defined=None, request_key=request_key,
            row_version=1))
        await self._add_version(conn, student_id, 0, indexed, source, now)
        await audit.record(conn, audit.entry(now, ChangeType.CREATE, actor, student_id, None, checked.values,
                                             forced_new=forced_new,
                                             detail={"task": task, "group": group or "default", "source": source,
                                                     **({"request_key": request_key} if request_key else {})}))
        log.info("issued student ID %s (%s)", student_id, "forced past matches" if forced_new else task)
        created = await self.student(student_id, conn)
        assert created is not None
        return created

    async def _add_version(self, conn: AsyncConnection, student_id: str, version: int, indexed: Indexed,
                           source: str, at: float) -> None:
        """Store a version; an active student's is also indexed for lookups (``ssid.db.lookup_index``)."""
        await conn.execute(insert(aliases_t).values(student_id=student_id, version=version,
                                                    record=indexed.record_json(), std=indexed.std_json(),
                                                    source=source, at=at))
        if indexed.keys:
            await add_rows(conn, key_rows(student_id, version, indexed.keys))
        # the last contended write of every caller (only its audit row, an append, follows)
        await namecounts.add(conn, namecounts.tally([indexed.std]))

    async def _next_version(self, conn: AsyncConnection, student_id: str) -> int:
        v = (await conn.execute(select(func.max(aliases_t.c.version)).where(aliases_t.c.student_id == student_id))
             ).scalar()
        return 0 if v is None else v + 1

    async def add_alias(self, conn: AsyncConnection, student_id: str, values: Mapping[str, Any], actor: Actor, *,
                        source: str = "match", district_irn: str | None = None, building_irn: str | None = None
                        ) -> int | None:
        """Remember another spelling / birth date submitted for this student (alias history).

        Returns the new version, or None when an identical version is already stored. The
        values are checked only for format ("import" task: nothing is required).
        """
        student = await self.require_student(conn, student_id)
        checked = self.catalogue.check(values, "import")
        if not checked.ok:
            raise InvalidRecord(checked.problems)
        indexed = index(checked.values, district_irn, building_irn)
        stored = [a.record for a in await self.aliases(student.student_id, conn)]
        probe = {k: v for k, v in indexed.record_json().items() if k not in ("district", "building")}
        if any({k: v for k, v in r.items() if k not in ("district", "building")} == probe for r in stored):
            return None
        version = await self._next_version(conn, student.student_id)
        now = self.clock()
        await self._add_version(conn, student.student_id, version, indexed, source, now)
        await audit.record(conn, audit.entry(now, ChangeType.ALIAS, actor, student.student_id, None, checked.values,
                                             detail={"version": version, "source": source}))
        return version

    async def reserve_ids(self, conn: AsyncConnection, ids: Iterable[str], kind: str, actor: Actor,
                          note: str | None = None) -> tuple[list[str], list[str]]:
        """Record identifiers as used without a student (another system's, retired): (added, already used)."""
        if kind not in ("reserved", "retired"):
            raise Refused("kind must be reserved or retired")
        added, already = [], []
        for raw in ids:
            problems = id_problems(raw)
            if problems:
                raise Refused(f"{raw!r}: {problems[0]}")
            sid = clean_id(raw)
            if await self.claim_id(conn, sid, kind, note):
                added.append(sid)
            else:
                already.append(sid)
        if added:
            now = self.clock()
            await audit.record(conn, [audit.entry(now, ChangeType.RESERVE, actor, sid, None, {"kind": kind},
                                                  detail={"note": note} if note else None) for sid in added])
        return added, already

    async def update_student(self, conn: AsyncConnection, before: Student, **values: Any) -> None:
        """Change a student's row (optimistic: the row version must still be ``before``'s)."""
        result = await conn.execute(
            update(students_t).where(students_t.c.student_id == before.student_id,
                                     students_t.c.row_version == before.row_version)
            .values(**values, updated_at=self.clock(), row_version=before.row_version + 1))
        if result.rowcount != 1:
            raise Refused(f"student {before.student_id} was changed by someone else meanwhile: look at it again "
                          "and repeat the change")
        if "status" in values and (values["status"] == ACTIVE) != before.active:
            await index_students(conn, [before.student_id], values["status"] == ACTIVE)
