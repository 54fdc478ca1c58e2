"""Student Locator configuration: one TOML file for the whole locator process.

The runtime part (``[agent]`` and ``[[zones]]``) is read by :mod:`sif_agent.config`, exactly as
in ``conf/agent.example.toml``; the locator adds::

    [locator]
    database = "../var/locator.db"         # SQLite file or SQLAlchemy URL (transactions, students)
    state_zone = "state"                   # the [[zones]] id of the state zone
    query_form = "example"                 # "example" (SIF_Example) or "conditions"
    due_interval = 30.0                    # seconds between passes over due transactions

    [[locator.districts]]                  # one per district zone
    zone = "district-043802"               # a [[zones]] id
    mode = 1                               # new-student determination: 1, 2 or 3
    school_year = "2027"                   # active school year (xs:gYear)
    district_irn = "043802"
    mapping = "ohio"                       # a name in mappings/, or a path to a mapping file
    state_id_pattern = "^[A-Z]{2}[0-9]{7}$"  # optional: exclude students already holding one

    [locator.transactions]                 # optional: when to give up waiting, follow up, retry
    response_timeout = 3600.0              # seconds without an answer: a FAULT (then retried)
    follow_up = [300, 900, 3600, 14400]    # ambiguous: re-ask the state after these waits...
    follow_up_then = 86400                 # ...then this often
    fault = [60, 300, 900, 3600]           # technical failures: retry after these waits...
    fault_then = 14400                     # ...then this often

    [notify]                               # optional: see sif_agent.locator.notify
    ...

See ``conf/locator.example.toml``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from dburl import DatabaseUrlError, async_url

from ..config import AgentSettings, ConfigError, from_mapping as agent_from_mapping, load_toml
from . import mapping as mapping_mod
from .determination import Mode
from .notify import NotifyError, NotifySettings
from .transactions import DEFAULT_POLICY, Backoff, Policy

QUERY_FORMS = ("example", "conditions")
_LOCATOR_KEYS = {"database", "state_zone", "query_form", "due_interval", "districts", "transactions"}
_POLICY_KEYS = {"response_timeout", "follow_up", "follow_up_then", "fault", "fault_then"}
_DISTRICT_KEYS = {"zone", "mode", "school_year", "district_irn", "mapping", "state_id_pattern"}
_GYEAR = re.compile(r"^[0-9]{4}$")


@dataclass(frozen=True)
class DistrictSettings:
    zone: str
    mode: Mode
    school_year: str
    district_irn: str
    mapping: mapping_mod.Mapping
    state_id_pattern: str | None = None


@dataclass(frozen=True)
class LocatorSettings:
    agent: AgentSettings
    database: str
    state_zone: str
    districts: tuple[DistrictSettings, ...]
    query_form: str = "example"
    due_interval: float = 30.0
    notify: NotifySettings | None = None
    policy: Policy = DEFAULT_POLICY

    def district(self, zone_id: str) -> DistrictSettings | None:
        return next((d for d in self.districts if d.zone == zone_id), None)


def _url(value: str, base: Path) -> str:
    try:
        return async_url(value, base)
    except DatabaseUrlError as exc:
        raise ConfigError(f"[locator] database: {exc}") from None


def _mapping(value: Any, where: str, base: Path) -> mapping_mod.Mapping:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: 'mapping' (a name in mappings/ or a file path) is required")
    try:
        if value.endswith(".toml") or "/" in value:
            p = Path(value)
            return mapping_mod.load(p if p.is_absolute() else base / p)
        return mapping_mod.load_named(value)
    except mapping_mod.MappingError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _district(t: Any, zone_ids: set[str], base: Path) -> DistrictSettings:
    if not isinstance(t, dict):
        raise ConfigError("[[locator.districts]] entries must be tables")
    where = f"[[locator.districts]] zone {t.get('zone', '?')}"
    unknown = set(t) - _DISTRICT_KEYS
    if unknown:
        raise ConfigError(f"unknown setting(s) in {where}: {', '.join(sorted(unknown))}")
    zone = t.get("zone")
    if not isinstance(zone, str) or zone not in zone_ids:
        raise ConfigError(f"{where}: 'zone' must name one of the [[zones]] ids ({', '.join(sorted(zone_ids))})")
    try:
        mode = Mode.parse(t.get("mode", 1))
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    year = str(t.get("school_year", "")).strip()
    if not _GYEAR.match(year):
        raise ConfigError(f"{where}: school_year must be a year such as \"2027\" (for 2026-27)")
    irn = t.get("district_irn")
    if not isinstance(irn, str) or not irn.strip():
        raise ConfigError(f"{where}: district_irn is required")
    pattern = t.get("state_id_pattern")
    if pattern is not None:
        try:
            re.compile(pattern)
        except (re.error, TypeError) as exc:
            raise ConfigError(f"{where}: state_id_pattern is not a valid regular expression: {exc}") from None
    return DistrictSettings(zone=zone, mode=mode, school_year=year, district_irn=irn.strip(),
                            mapping=_mapping(t.get("mapping"), where, base), state_id_pattern=pattern)


def _seconds(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(f"{where} must be a positive number of seconds")
    return float(value)


def _policy(t: Any) -> Policy:
    where = "[locator.transactions]"
    if not isinstance(t, dict):
        raise ConfigError(f"{where} must be a table")
    unknown = set(t) - _POLICY_KEYS
    if unknown:
        raise ConfigError(f"unknown setting(s) in {where}: {', '.join(sorted(unknown))}")

    def backoff(name: str, default: Backoff) -> Backoff:
        steps = t.get(name, default.steps)
        if not isinstance(steps, (list, tuple)):
            raise ConfigError(f"{where} {name} must be a list of seconds, e.g. [60, 300, 900]")
        return Backoff(tuple(_seconds(v, f"{where} {name}") for v in steps),
                       _seconds(t.get(f"{name}_then", default.then), f"{where} {name}_then"), default.jitter)

    return Policy(follow_up=backoff("follow_up", DEFAULT_POLICY.follow_up), fault=backoff("fault", DEFAULT_POLICY.fault),
                  response_timeout=_seconds(t.get("response_timeout", DEFAULT_POLICY.response_timeout),
                                            f"{where} response_timeout"))


def from_mapping(data: Mapping[str, Any], base: Path = Path(".")) -> LocatorSettings:
    extra = set(data) - {"agent", "zones", "locator", "notify"}
    if extra:
        raise ConfigError(f"unknown section(s) in the file: {', '.join(sorted(extra))}")
    agent = agent_from_mapping({k: data[k] for k in ("agent", "zones") if k in data}, base)
    loc = data.get("locator")
    if not isinstance(loc, dict):
        raise ConfigError("a [locator] table is required")
    unknown = set(loc) - _LOCATOR_KEYS
    if unknown:
        raise ConfigError(f"unknown setting(s) in [locator]: {', '.join(sorted(unknown))}")
    zone_ids = {z.id for z in agent.zones}
    state = loc.get("state_zone")
    if not isinstance(state, str) or state not in zone_ids:
        raise ConfigError(f"[locator] state_zone must name one of the [[zones]] ids ({', '.join(sorted(zone_ids))})")
    form = loc.get("query_form", "example")
    if form not in QUERY_FORMS:
        raise ConfigError(f"[locator] query_form must be \"example\" or \"conditions\", not {form!r}")
    interval = loc.get("due_interval", 30.0)
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or interval <= 0:
        raise ConfigError("[locator] due_interval must be a positive number of seconds")
    database = loc.get("database", "var/locator.db")
    if not isinstance(database, str) or not database:
        raise ConfigError("[locator] database must be a file path or a SQLAlchemy URL")
    districts = tuple(_district(t, zone_ids, base) for t in loc.get("districts", []))
    if not districts:
        raise ConfigError("at least one [[locator.districts]] table is required")
    seen = [d.zone for d in districts]
    if len(set(seen)) != len(seen):
        raise ConfigError("[[locator.districts]]: each zone may appear once")
    if state in seen:
        raise ConfigError(f"[locator] the state zone {state!r} cannot also be a district zone")
    notify = None
    if "notify" in data:
        try:
            notify = NotifySettings.from_toml(data["notify"], base_dir=base)
        except NotifyError as exc:
            raise ConfigError(str(exc)) from None
    return LocatorSettings(agent=agent, database=_url(database, base), state_zone=state, districts=districts,
                           query_form=form, due_interval=float(interval), notify=notify,
                           policy=_policy(loc.get("transactions", {})))


def load(path: str | os.PathLike) -> LocatorSettings:
    return load_toml(path, from_mapping)
