"""Data files for other state systems (RFP 1.24–1.25, Supplement Three "Data files").

* ``active``: every active ID with its core attributes (daily).
* ``deactivated``: every deactivated ID with the surviving ID, the reason, who and when (daily).
* ``delta``: what changed since the last delta written to the same folder (several times a
  day): IDs added (issued or loaded), deactivated, reactivated, and attributes modified. The
  position is the audit log's sequence number, kept in ``.ssid-delta-state.json`` beside the
  files and moved on only after the file is in place, so a failed run is simply repeated.

Every file is named ``ssid-<kind>-<UTC time>-<unique id>.csv`` (RFC 4180, UTF-8, header row)
and comes with ``<file>.manifest.json`` (kind, record count, SHA-256, size, created time). The
file and the manifest are written to temporary names, fsynced and renamed, manifest last, so a
consumer that waits for the manifest never reads a partial file. Rows are streamed from the
database: a 4-million-row active extract does not sit in memory.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from .audit import ChangeType
from .db.schema import ACTIVE, DEACTIVATED, audit_t, deactivations_t, students_t

KINDS = ("active", "delta", "deactivated")
STATE_FILE = ".ssid-delta-state.json"

ACTIVE_COLUMNS = ("StudentID", "LegalFirstName", "LegalMiddleName", "LegalLastName", "BirthDate", "Gender",
                  "District_IRN", "Building_IRN", "CreatedUTC")
DEACTIVATED_COLUMNS = ("StudentID", "SurvivingID", "Reason", "UserID", "User_District_IRN", "DeactivatedUTC",
                       "ViaSLF")
DELTA_COLUMNS = ("Sequence", "Change", "StudentID", "SurvivingID", "ChangedUTC", "UserID", "User_District_IRN")
#: audit change types a delta reports, and how it names them
DELTA_CHANGES = {ChangeType.CREATE: "ADD", ChangeType.LEGACY_IMPORT: "ADD", ChangeType.DEACTIVATE: "DEACTIVATE",
                 ChangeType.REACTIVATE: "REACTIVATE", ChangeType.MODIFY: "MODIFY"}
FETCH = 10_000


class ExtractError(Exception):
    """An extract that cannot be written; the message says why."""


@dataclass(frozen=True)
class Manifest:
    kind: str
    file: str
    records: int
    sha256: str
    size: int
    created_utc: str
    #: delta only: the audit sequence numbers covered (after ``from_sequence``, up to ``to_sequence``)
    from_sequence: int | None = None
    to_sequence: int | None = None


def utc(ts: float | None) -> str:
    return "" if ts is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _fsync_replace(tmp: Path, final: Path) -> None:
    with tmp.open("rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, final)


async def _stream(engine: AsyncEngine, query) -> AsyncIterator[Any]:
    async with engine.connect() as conn:
        result = await conn.stream(query.execution_options(yield_per=FETCH))
        async for row in result:
            yield row


async def _active_rows(engine: AsyncEngine) -> AsyncIterator[tuple]:
    s = students_t.c
    q = (select(s.student_id, s.first_name, s.middle_name, s.last_name, s.birth_date, s.gender, s.district_irn,
                s.building_irn, s.created_at).where(s.status == ACTIVE).order_by(s.student_id))
    async for r in _stream(engine, q):
        yield (*r[:8], utc(r[8]))


async def _deactivated_rows(engine: AsyncEngine) -> AsyncIterator[tuple]:
    d, s = deactivations_t.c, students_t.c
    # the latest deactivation of each student that is deactivated now (a reactivated one is active again)
    q = (select(d.student_id, d.surviving_id, d.reason, d.user_id, d.district_irn, d.at, d.via_slf, d.id)
         .select_from(deactivations_t.join(students_t, s.student_id == d.student_id))
         .where(s.status == DEACTIVATED).order_by(d.student_id, d.id))
    last: tuple | None = None
    async for r in _stream(engine, q):
        row = (r[0], r[1], r[2], r[3], r[4], utc(r[5]), "Y" if r[6] else "N")
        if last is not None and last[0] != row[0]:
            yield last
        last = row
    if last is not None:
        yield last


async def _delta_rows(engine: AsyncEngine, after: int, upto: int) -> AsyncIterator[tuple]:
    a = audit_t.c
    q = (select(a.id, a.change_type, a.student_id, a.detail, a.at, a.user_id, a.user_district)
         .where(and_(a.id > after, a.id <= upto, a.change_type.in_([c.value for c in DELTA_CHANGES])))
         .order_by(a.id))
    async for r in _stream(engine, q):
        detail = r[3] if isinstance(r[3], dict) else {}
        yield (r[0], DELTA_CHANGES[ChangeType(r[1])], r[2], detail.get("surviving_id", ""), utc(r[4]), r[5] or "",
               r[6] or "")


async def _write(out_dir: Path, kind: str, header: Iterable[str], rows: AsyncIterator[tuple], now: float,
                 **extra: Any) -> tuple[Path, Manifest]:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    name = f"ssid-{kind}-{stamp}-{uuid.uuid4().hex[:12]}.csv"
    final = out_dir / name
    tmp = out_dir / f".{name}.partial"
    digest, count = hashlib.sha256(), 0
    try:
        with tmp.open("w", encoding="utf-8", newline="") as f:
            w = csv.writer(f, lineterminator="\r\n")
            w.writerow(header)
            async for row in rows:
                w.writerow(["" if v is None else v for v in row])
                count += 1
        digest.update(tmp.read_bytes())
        _fsync_replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    manifest = Manifest(kind=kind, file=name, records=count, sha256=digest.hexdigest(), size=final.stat().st_size,
                        created_utc=utc(now), **extra)
    mfinal = out_dir / f"{name}.manifest.json"
    mtmp = out_dir / f".{name}.manifest.partial"
    mtmp.write_text(json.dumps(asdict(manifest), indent=2) + "\n", encoding="utf-8")
    _fsync_replace(mtmp, mfinal)
    return final, manifest


def _delta_state(out_dir: Path) -> int:
    p = out_dir / STATE_FILE
    if not p.exists():
        return 0
    try:
        return int(json.loads(p.read_text(encoding="utf-8"))["last_sequence"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ExtractError(f"{p}: unreadable ({exc}); remove it to start the next delta from the beginning") from None


async def write_extract(engine: AsyncEngine, kind: str, out_dir: Path, *, now: float | None = None
                        ) -> tuple[Path, Manifest]:
    """Write one extract of ``kind`` into ``out_dir``; returns the file and its manifest."""
    if kind not in KINDS:
        raise ExtractError(f"extract kind must be one of {', '.join(KINDS)}, not {kind!r}")
    now = time.time() if now is None else now
    out_dir.mkdir(parents=True, exist_ok=True)
    if kind == "active":
        return await _write(out_dir, kind, ACTIVE_COLUMNS, _active_rows(engine), now)
    if kind == "deactivated":
        return await _write(out_dir, kind, DEACTIVATED_COLUMNS, _deactivated_rows(engine), now)
    after = _delta_state(out_dir)
    async with engine.connect() as conn:
        upto = (await conn.execute(select(audit_t.c.id).order_by(audit_t.c.id.desc()).limit(1))).scalar() or 0
    path, manifest = await _write(out_dir, kind, DELTA_COLUMNS, _delta_rows(engine, after, upto), now,
                                  from_sequence=after, to_sequence=upto)
    state = out_dir / STATE_FILE
    tmp = out_dir / f".{STATE_FILE}.partial"
    tmp.write_text(json.dumps({"last_sequence": upto, "file": path.name}) + "\n", encoding="utf-8")
    _fsync_replace(tmp, state)
    return path, manifest
