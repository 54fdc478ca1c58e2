"""Student Resolver configuration: one TOML file for the whole resolver process.

Why TOML into frozen dataclasses: as for every process (design convention 11), the file is
checked once at start with messages written for the person editing it; secrets are named
by environment variable, never stored. ``[agent]`` and ``[[zones]]`` are the agent
runtime's (``sif_agent.config``, see ``conf/agent.example.toml``); the resolver adds::

    [resolver]
    database = "../var/slf.db"      # the SLF tables (shared with the SSID database): file or URL
    worker_id = "resolver-1"        # this worker's name in row claims; unique per worker
    on_complete = "delete"          # seed: delete answered rows; "keep": set 9 COMPLETE instead
    poll_interval = 30.0            # seconds between polls when nothing wakes the resolver
    listen = true                   # PostgreSQL: LISTEN slf_status for prompt wake-ups
    claim_lease = 60.0              # seconds a claimed row is reserved for one worker
    batch_size = 100                # rows answered per pass
    retention_days = 30             # answered request log kept this long (repeat answers)
    school_year_start_month = 7     # SCHOOL_YR from EffectiveDate: July starts a new year

    [resolver.batching]
    policy = "request"              # "request" | "batch_num" | "day"
    batch_num_path = 'SIF_ExtendedElements/SIF_ExtendedElement[@Name="BatchNum"]'
    ready = "immediate"             # "immediate" | "deferred"
    ready_count = 0                 # deferred: READY once the batch has this many rows (0: off)
    ready_after = 0.0               # deferred: READY this many seconds after creation (0: off)
    ready_at = "15:30"              # deferred: READY at this time of day (optional)
    timezone = "America/New_York"   # for "day" batches and ready_at

    [[resolver.columns]]            # a seed column with state-side codes, or a new column
    name = "ETHNICITY_CODE"
    codes = ["ohio_ethnicity"]

    [[resolver.columns]]
    name = "BIRTHPLACE_CITY"
    path = "Demographics/PlaceOfBirth"
    length = 60

    [resolver.codes.ohio_ethnicity] # sif_agent.codetables format; side = "state"
    side = "state"
    file = "../mappings/codes/ohio_ethnicity.csv"

See ``conf/resolver.example.toml``.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..codetables import CodeTable, CodeTableError, table_from_spec
from ..config import AgentSettings, ConfigError, from_mapping as agent_from_mapping, load_toml
from ..sifpath import PathError, parse_path
from dburl import DatabaseUrlError

from .db import url_of
from .tables import CORE_ATTRIBUTES, CORE_NAMES, FORMATS, AttributeColumn

POLICIES = ("request", "batch_num", "day")
READY_MODES = ("immediate", "deferred")
ON_COMPLETE = ("delete", "keep")
DEFAULT_BATCH_NUM_PATH = 'SIF_ExtendedElements/SIF_ExtendedElement[@Name="BatchNum"]'
_COLUMN_NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,29}$")
_RESOLVER_KEYS = {"database", "worker_id", "on_complete", "poll_interval", "listen", "claim_lease", "batch_size",
                  "retention_days", "school_year_start_month", "batching", "columns", "codes"}
_BATCHING_KEYS = {"policy", "batch_num_path", "ready", "ready_count", "ready_after", "ready_at", "timezone"}
_COLUMN_KEYS = {"name", "path", "length", "codes", "format", "description"}


@dataclass(frozen=True)
class Batching:
    """How transactions are grouped into SLF_BATCH rows and when a batch becomes READY."""

    policy: str = "request"
    batch_num_path: str = DEFAULT_BATCH_NUM_PATH
    ready: str = "immediate"
    ready_count: int = 0
    ready_after: float = 0.0
    ready_at: dt.time | None = None
    timezone: str = "UTC"


@dataclass(frozen=True)
class StorePolicy:
    """What the store needs from the configuration."""

    batching: Batching = field(default_factory=Batching)
    on_complete: str = "delete"
    claim_lease: float = 60.0
    batch_size: int = 100
    retention: float = 30 * 86400.0
    school_year_start_month: int = 7


@dataclass(frozen=True)
class ResolverSettings:
    agent: AgentSettings
    database: str
    #: every attribute column read from a request (seed columns, with configured paths/codes, then extra)
    columns: tuple[AttributeColumn, ...] = CORE_ATTRIBUTES
    #: the configured columns that are not the seed's (added to SLF_TRANSACTION_PARMS)
    extra_columns: tuple[AttributeColumn, ...] = ()
    code_tables: Mapping[str, CodeTable] = field(default_factory=dict)
    policy: StorePolicy = field(default_factory=StorePolicy)
    worker_id: str = ""
    poll_interval: float = 30.0
    listen: bool = True

    def __post_init__(self) -> None:
        if not self.worker_id:
            object.__setattr__(self, "worker_id", f"{socket.gethostname()}:{self.agent.source_id}")


def _number(t: Mapping, key: str, where: str, default, *, integer: bool = False, minimum: float = 0.0,
            strict: bool = True):
    value = t.get(key, default)
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or value < minimum or (strict and value == minimum):
        kind = "a whole number" if integer else "a number"
        raise ConfigError(f"{where}: {key} must be {kind} {'>' if strict else '>='} {minimum:g}")
    return value


def _known(t: Mapping, allowed: set[str], where: str) -> None:
    unknown = set(t) - allowed
    if unknown:
        raise ConfigError(f"unknown setting(s) in {where}: {', '.join(sorted(unknown))}")


def _batching(t: Any) -> Batching:
    where = "[resolver.batching]"
    if not isinstance(t, dict):
        raise ConfigError(f"{where} must be a table")
    _known(t, _BATCHING_KEYS, where)
    policy = t.get("policy", "request")
    if policy not in POLICIES:
        raise ConfigError(f"{where}: policy must be one of {', '.join(POLICIES)}, not {policy!r}")
    ready = t.get("ready", "immediate")
    if ready not in READY_MODES:
        raise ConfigError(f"{where}: ready must be \"immediate\" or \"deferred\", not {ready!r}")
    path = t.get("batch_num_path", DEFAULT_BATCH_NUM_PATH)
    try:
        parse_path(path)
    except (PathError, TypeError) as exc:
        raise ConfigError(f"{where}: batch_num_path: {exc}") from None
    at = t.get("ready_at")
    ready_at = None
    if at is not None:
        try:
            ready_at = dt.time.fromisoformat(at) if isinstance(at, str) else at
            assert isinstance(ready_at, dt.time)
        except (ValueError, AssertionError):
            raise ConfigError(f"{where}: ready_at must be a time of day such as \"15:30\"") from None
    tz = t.get("timezone", "UTC")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ConfigError(f"{where}: timezone {tz!r} is not a known time zone (e.g. \"America/New_York\")") from None
    count = _number(t, "ready_count", where, 0, integer=True, strict=False)
    after = _number(t, "ready_after", where, 0.0, strict=False)
    if ready == "immediate" and (count or after or ready_at):
        raise ConfigError(f"{where}: ready_count, ready_after and ready_at need ready = \"deferred\"")
    return Batching(policy=policy, batch_num_path=path, ready=ready, ready_count=count, ready_after=float(after),
                    ready_at=ready_at, timezone=tz)


def _columns(raw: Any, tables: Mapping[str, CodeTable]) -> tuple[tuple[AttributeColumn, ...], tuple[AttributeColumn, ...]]:
    if not isinstance(raw, list):
        raise ConfigError("[[resolver.columns]] must be a list of tables")
    core = {c.name: c for c in CORE_ATTRIBUTES}
    extra: list[AttributeColumn] = []
    seen: set[str] = set()
    for i, t in enumerate(raw):
        if not isinstance(t, dict):
            raise ConfigError(f"[[resolver.columns]] #{i + 1} must be a table")
        name = t.get("name")
        where = f"[[resolver.columns]] {name or f'#{i + 1}'}"
        _known(t, _COLUMN_KEYS, where)
        if not isinstance(name, str) or not _COLUMN_NAME.match(name):
            raise ConfigError(f"{where}: name must be an upper-case column name such as \"BIRTHPLACE_CITY\"")
        if name in seen:
            raise ConfigError(f"{where}: configured twice")
        seen.add(name)
        codes = t.get("codes", [])
        if isinstance(codes, str):
            codes = [codes]
        if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
            raise ConfigError(f"{where}: codes must be a list of code table names")
        for c in codes:
            if c not in tables:
                raise ConfigError(f"{where}: code table {c!r} is not defined (add [resolver.codes.{c}])")
            if tables[c].side != "state":
                raise ConfigError(f"{where}: code table {c!r} is a district-side table; the resolver applies "
                                  "only side = \"state\" tables")
        path = t.get("path")
        if path is not None:
            try:
                parse_path(path)
            except (PathError, TypeError) as exc:
                raise ConfigError(f"{where}: path: {exc}") from None
        fmt = t.get("format", "text")
        if fmt not in FORMATS:
            raise ConfigError(f"{where}: format must be one of {', '.join(FORMATS)}")
        if name in CORE_NAMES:
            if "length" in t:
                raise ConfigError(f"{where}: the seed fixes the length of {name}; only path, codes and format "
                                  "can be configured")
            base = core[name]
            core[name] = replace(base, path=path or base.path, codes=tuple(codes),
                                 format=t.get("format", base.format))
            continue
        if path is None:
            raise ConfigError(f"{where}: path (the StudentLocator element it is read from) is required")
        length = _number(t, "length", where, 60, integer=True)
        if length > 255:
            raise ConfigError(f"{where}: length must be at most 255")
        extra.append(AttributeColumn(name, path, length, format=fmt, codes=tuple(codes),
                                     description=str(t.get("description", ""))))
    return tuple(core[c.name] for c in CORE_ATTRIBUTES) + tuple(extra), tuple(extra)


def from_mapping(data: Mapping[str, Any], base: Path = Path(".")) -> ResolverSettings:
    """Settings from a parsed TOML document; relative paths are taken from ``base``."""
    extra = set(data) - {"agent", "zones", "resolver"}
    if extra:
        raise ConfigError(f"unknown section(s) in the file: {', '.join(sorted(extra))}")
    agent = agent_from_mapping({k: data[k] for k in ("agent", "zones") if k in data}, base)
    r = data.get("resolver")
    if not isinstance(r, dict):
        raise ConfigError("a [resolver] table is required")
    _known(r, _RESOLVER_KEYS, "[resolver]")
    for z in agent.zones:
        if "StudentLocator" not in (z.objects.provide + z.objects.respond):
            raise ConfigError(f"zone {z.id}: the resolver answers StudentLocator requests; add "
                              "provide = [\"StudentLocator\"] (and respond = [\"StudentLocator\"])")
    database = r.get("database", "var/slf.db")
    if not isinstance(database, str) or not database:
        raise ConfigError("[resolver] database must be a file path or a SQLAlchemy URL")
    on_complete = r.get("on_complete", "delete")
    if on_complete not in ON_COMPLETE:
        raise ConfigError(f"[resolver] on_complete must be \"delete\" or \"keep\", not {on_complete!r}")
    worker = r.get("worker_id", "")
    if not isinstance(worker, str) or len(worker) > 48:
        raise ConfigError("[resolver] worker_id must be a name of at most 48 characters")
    listen = r.get("listen", True)
    if not isinstance(listen, bool):
        raise ConfigError("[resolver] listen must be true or false")
    month = _number(r, "school_year_start_month", "[resolver]", 7, integer=True)
    if month > 12:
        raise ConfigError("[resolver] school_year_start_month must be 1-12")
    tables: dict[str, CodeTable] = {}
    codes = r.get("codes", {})
    if not isinstance(codes, dict):
        raise ConfigError("[resolver.codes] must hold tables [resolver.codes.<name>]")
    for name, spec in codes.items():
        try:
            tables[name] = table_from_spec(name, spec, base_dir=base, origin="[resolver.codes]")
        except CodeTableError as exc:
            raise ConfigError(str(exc)) from None
    columns, extra_columns = _columns(r.get("columns", []), tables)
    policy = StorePolicy(
        batching=_batching(r.get("batching", {})), on_complete=on_complete,
        claim_lease=float(_number(r, "claim_lease", "[resolver]", 60.0)),
        batch_size=_number(r, "batch_size", "[resolver]", 100, integer=True),
        retention=float(_number(r, "retention_days", "[resolver]", 30)) * 86400.0,
        school_year_start_month=month)
    try:
        database = url_of(database, base)
    except DatabaseUrlError as exc:
        raise ConfigError(f"[resolver] database: {exc}") from None
    return ResolverSettings(agent=agent, database=database, columns=columns,
                            extra_columns=extra_columns, code_tables=tables, policy=policy, worker_id=worker,
                            poll_interval=float(_number(r, "poll_interval", "[resolver]", 30.0)), listen=listen)


def load(path: str | os.PathLike) -> ResolverSettings:
    return load_toml(path, from_mapping)
