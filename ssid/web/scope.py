"""Who sees which students: the districts and buildings a user serves.

Why by place and not by record owner: a district's staff must see the students their district
registered or submitted (its own SLF requests, a match under another spelling), and nothing of
another district's students. A student belongs to the district and building it was first
registered in, and to every district and building that later submitted it (recorded with
each alias). State roles see every student. IRNs are unique statewide, so a building is
compared by its IRN alone.

A user's places: the district and building of its ``ssid_users`` row plus the further ones
bound in ``ssid_web_scopes``. A role with scope ``district`` opens the districts, one with
scope ``building`` only the buildings. Pure, apart from ``load_bindings``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ..store import Alias, Student, User, insert_ignore
from .config import WebSettings
from .tables import scopes_t


@dataclass(frozen=True)
class Binding:
    district_irn: str  # "" when only a building is bound
    building_irn: str  # "" for the whole district


@dataclass(frozen=True)
class Scope:
    state: bool = False
    districts: frozenset[str] = frozenset()
    buildings: frozenset[str] = frozenset()

    @property
    def empty(self) -> bool:
        return not (self.state or self.districts or self.buildings)

    def covers(self, districts: Iterable[str | None], buildings: Iterable[str | None]) -> bool:
        if self.state:
            return True
        return bool(self.districts & {d for d in districts if d}) or bool(self.buildings & {b for b in buildings if b})

    def describe(self) -> str:
        if self.state:
            return "all districts"
        parts = []
        if self.districts:
            parts.append("district " + ", ".join(sorted(self.districts)))
        if self.buildings:
            parts.append("building " + ", ".join(sorted(self.buildings)))
        return "; ".join(parts) or "no district or building"


def scope_of(user: User, bindings: Iterable[Binding], web: WebSettings) -> Scope:
    scopes = web.scopes(user.roles)
    if "state" in scopes:
        return Scope(state=True)
    bindings = list(bindings)
    districts: set[str] = set()
    buildings: set[str] = set()
    if "district" in scopes:
        districts = {d for d in [user.district_irn, *(b.district_irn for b in bindings)] if d}
    if "building" in scopes:
        buildings = {b for b in [user.building_irn, *(b.building_irn for b in bindings)] if b}
    return Scope(False, frozenset(districts), frozenset(buildings))


def places(student: Student, aliases: Iterable[Alias]) -> tuple[set[str], set[str]]:
    """(districts, buildings) a student belongs to: first registration and every submission."""
    districts = {student.district_irn} if student.district_irn else set()
    buildings = {student.building_irn} if student.building_irn else set()
    for a in aliases:
        if a.record.get("district"):
            districts.add(str(a.record["district"]))
        if a.record.get("building"):
            buildings.add(str(a.record["building"]))
    return districts, buildings


def sees(scope: Scope, student: Student, aliases: Iterable[Alias]) -> bool:
    return scope.state or scope.covers(*places(student, aliases))


async def load_bindings(conn: AsyncConnection, user_id: str) -> list[Binding]:
    rows = (await conn.execute(select(scopes_t.c.district_irn, scopes_t.c.building_irn)
                               .where(scopes_t.c.user_id == user_id)
                               .order_by(scopes_t.c.district_irn, scopes_t.c.building_irn))).all()
    return [Binding(d, b) for d, b in rows]


async def bind(conn: AsyncConnection, user_id: str, binding: Binding, at: float, by: str) -> bool:
    result = await conn.execute(insert_ignore(conn, scopes_t).values(
        user_id=user_id, district_irn=binding.district_irn, building_irn=binding.building_irn, added_at=at,
        added_by=by))
    return result.rowcount == 1


async def unbind(conn: AsyncConnection, user_id: str, binding: Binding) -> bool:
    result = await conn.execute(delete(scopes_t).where(scopes_t.c.user_id == user_id,
                                                       scopes_t.c.district_irn == binding.district_irn,
                                                       scopes_t.c.building_irn == binding.building_irn))
    return result.rowcount == 1
