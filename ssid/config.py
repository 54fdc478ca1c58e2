"""SSID database configuration: one TOML file read into frozen dataclasses.

Why here and not in ``sif_agent.config``: the SSID system never imports the agents (see
.importlinter); it has its own small loader with the same habits (design convention 11):
checked once at start, every problem reported at once, worded for the person editing the
file, relative paths taken from the file's folder, no secrets in the file. ::

    [ssid]
    database = "../var/ssid.db"      # a SQLite file, or postgresql://user@host/ssid
    id_profile = "ohio"              # "ohio" | "calpads" | {name, description, segments}
    import_chunk_size = 200000       # legacy import: rows per transaction

    [ssid.maintenance]
    min_reason_length = 15           # deactivation / reactivation reasons
    min_reason_words = 3
    placeholder_reasons = ["duplicate", "n/a", ...]

    [ssid.roles]                     # which user roles may do what
    modify = ["state_admin", "district_admin"]
    deactivate = ["state_admin", "district_admin"]
    request_reactivation = ["state_admin", "district_admin"]
    approve_reactivation = ["state_approver"]

    [matching]                       # decision thresholds, in weight units (ssid.matching.Thresholds)
    match = 26.0                     # T_match
    match_inexact_birth_date = 32.0  # T_match when the birth dates differ
    review = 16.0                    # T_review
    margin = 6.0                     # best - second best, for an automatic match
    max_candidates = 5               # K: potential matches offered at most
    review_when_incomplete = true
    reference_population = 1000000
    parameters = "weights.json"      # m/u parameters (ssid.matching.Parameters.to_dict); built-in without it
    romanized = ["ABDIRIZAK ABDIRISAQ"]  # first names written several ways, added to the built-in table

    [[attributes]] ...               # the catalogue (ssid.catalogue); the Ohio defaults without it
    [tasks.generate] required = [...]
    [groups.minimal.tasks.generate] required = [...]

See ``conf/ssid.example.toml``.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

from dburl import DatabaseUrlError, async_url

from .catalogue import OHIO_ATTRIBUTES, OHIO_TASKS, Catalogue, CatalogueError
from .ids import OHIO, IdProfile, profile_from_config
from .matching import DEFAULT_PARAMETERS, Matcher, Parameters, Thresholds
from .matching.romanized import BUILT_IN, Romanizations, table_line
from .matching.weights import check_parameters

DEFAULT_DATABASE = "ssid.db"
_SSID_KEYS = {"database", "id_profile", "import_chunk_size", "maintenance", "roles"}
_MAINT_KEYS = {"min_reason_length", "min_reason_words", "placeholder_reasons"}
_ROLE_KEYS = {"modify", "deactivate", "request_reactivation", "approve_reactivation", "manage_users"}
_THRESHOLD_KEYS = {f.name for f in fields(Thresholds)}
_MATCHING_KEYS = _THRESHOLD_KEYS | {"parameters", "romanized"}
_TOP_KEYS = {"ssid", "attributes", "tasks", "groups", "matching", "slf"}  # [slf]: read by ssid.slf (the poller)
_TOP_KEYS |= {"server", "extracts"}  # read by `slf ssid serve` (slf/ssid_serve.py, ssid.schedule)
_TOP_KEYS |= {"web"}  # read by ssid.web.config (the web UI's roles and sessions)
_TOP_KEYS |= {"api"}  # read by ssid.api.settings (the REST API's tokens and limits)

#: reasons that say nothing (compared after lower-casing and stripping punctuation)
DEFAULT_PLACEHOLDER_REASONS = frozenset({
    "duplicate", "dup", "dupe", "duplicate id", "duplicate record", "n a", "na", "none", "no reason", "reason",
    "test", "testing", "asdf", "xxx", "x", "fix", "fixed", "error", "wrong", "wrong id", "bad id", "delete",
    "deactivate", "per request", "requested", "see notes", "other", "misc", "todo", "tbd", "unknown",
})


class ConfigError(ValueError):
    """A configuration problem, worded for the person editing the file."""


@dataclass(frozen=True)
class MaintenancePolicy:
    min_reason_length: int = 15
    min_reason_words: int = 3
    placeholder_reasons: frozenset[str] = DEFAULT_PLACEHOLDER_REASONS


@dataclass(frozen=True)
class Roles:
    """Which roles may perform each maintenance action (RFP 1.18.1, 1.21.7.1, 1.21.7.5.5)."""

    modify: frozenset[str] = frozenset({"state_admin", "district_admin"})
    deactivate: frozenset[str] = frozenset({"state_admin", "district_admin"})
    request_reactivation: frozenset[str] = frozenset({"state_admin", "district_admin"})
    approve_reactivation: frozenset[str] = frozenset({"state_approver"})
    manage_users: frozenset[str] = frozenset({"state_admin"})


@dataclass(frozen=True)
class Settings:
    database: str = f"sqlite+aiosqlite:///{DEFAULT_DATABASE}"
    id_profile: IdProfile = OHIO
    catalogue: Catalogue = field(default_factory=lambda: Catalogue(OHIO_ATTRIBUTES, dict(OHIO_TASKS)))
    maintenance: MaintenancePolicy = MaintenancePolicy()
    roles: Roles = Roles()
    import_chunk_size: int = 200_000
    source: Path | None = None  # the file read, if any
    thresholds: Thresholds = Thresholds()
    parameters: Parameters = DEFAULT_PARAMETERS
    romanizations: Romanizations = BUILT_IN

    def matcher(self) -> Matcher:
        """The matching engine with this configuration's thresholds, parameters and first-name
        spellings (every process that decides: the SLF poller, batch files, the REST API, the web
        UI, the sweep)."""
        return Matcher(self.parameters, self.thresholds, romanizations=self.romanizations)


def url_of(value: str, base: Path | None = None) -> str:
    """The async SQLAlchemy URL of a URL or a SQLite file path (relative to ``base``, else the
    working directory); ``postgresql://`` and ``sqlite:///`` as users write them (``dburl``)."""
    try:
        return async_url(value, base or Path.cwd())
    except DatabaseUrlError as exc:
        raise ConfigError(str(exc)) from None


def _unknown(where: str, got: Mapping[str, Any], known: set[str], problems: list[str]) -> None:
    extra = set(got) - known
    if extra:
        problems.append(f"{where}: unknown keys {', '.join(sorted(extra))} (known: {', '.join(sorted(known))})")


def _str_set(value: Any, where: str, problems: list[str]) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(f"{where} must be a list of strings")
        return frozenset()
    return frozenset(value)


def from_mapping(data: Mapping[str, Any], base: Path | None = None) -> Settings:
    """Settings from parsed TOML; every problem reported at once in one ConfigError."""
    problems: list[str] = []
    _unknown("top level", data, _TOP_KEYS, problems)
    ssid = data.get("ssid") or {}
    _unknown("[ssid]", ssid, _SSID_KEYS, problems)
    database = url_of(str(ssid.get("database") or DEFAULT_DATABASE), base)
    try:
        profile = profile_from_config(ssid.get("id_profile"))
    except ValueError as exc:
        problems.append(f"[ssid] {exc}")
        profile = OHIO
    chunk = ssid.get("import_chunk_size", 200_000)
    if not isinstance(chunk, int) or not 1 <= chunk <= 1_000_000:
        problems.append("[ssid] import_chunk_size must be a whole number between 1 and 1000000")
        chunk = 200_000

    m = ssid.get("maintenance") or {}
    _unknown("[ssid.maintenance]", m, _MAINT_KEYS, problems)
    maintenance = MaintenancePolicy()
    try:
        maintenance = MaintenancePolicy(
            int(m.get("min_reason_length", maintenance.min_reason_length)),
            int(m.get("min_reason_words", maintenance.min_reason_words)),
            frozenset(str(r).lower() for r in m["placeholder_reasons"]) if "placeholder_reasons" in m
            else maintenance.placeholder_reasons)
        if maintenance.min_reason_length < 1 or maintenance.min_reason_words < 1:
            problems.append("[ssid.maintenance] min_reason_length and min_reason_words must be at least 1")
    except (TypeError, ValueError):
        problems.append("[ssid.maintenance] min_reason_length and min_reason_words must be whole numbers, "
                        "placeholder_reasons a list of strings")

    r = ssid.get("roles") or {}
    _unknown("[ssid.roles]", r, _ROLE_KEYS, problems)
    defaults = Roles()
    roles = Roles(**{k: (_str_set(r[k], f"[ssid.roles] {k}", problems) if k in r else getattr(defaults, k))
                     for k in _ROLE_KEYS})

    thresholds, parameters, romanizations = _matching(data.get("matching") or {}, base, problems)

    catalogue = None
    try:
        catalogue = Catalogue.from_config(data, OHIO_ATTRIBUTES, OHIO_TASKS)
    except CatalogueError as exc:
        problems.extend(exc.problems)
    if problems:
        raise ConfigError("; ".join(problems))
    return Settings(database, profile, catalogue, maintenance, roles, chunk, thresholds=thresholds,
                    parameters=parameters, romanizations=romanizations)


def _matching(m: Mapping[str, Any], base: Path | None, problems: list[str]
              ) -> tuple[Thresholds, Parameters, Romanizations]:
    """``[matching]``: the decision thresholds, the m/u parameters (a JSON file) and a state's own
    lines for the table of first names romanized several ways."""
    if not isinstance(m, Mapping):
        problems.append("[matching] must be a table")
        return Thresholds(), DEFAULT_PARAMETERS, BUILT_IN
    _unknown("[matching]", m, _MATCHING_KEYS, problems)
    defaults = Thresholds()
    values: dict[str, Any] = {}
    for f in fields(Thresholds):
        if f.name not in m:
            continue
        v, default = m[f.name], getattr(defaults, f.name)
        if isinstance(default, bool):
            ok = isinstance(v, bool)
        elif isinstance(default, int):
            ok = isinstance(v, int) and not isinstance(v, bool)
        else:
            ok = isinstance(v, (int, float)) and not isinstance(v, bool)
        if not ok:
            kind = "true or false" if isinstance(default, bool) else (
                "a whole number" if isinstance(default, int) else "a number (weight units)")
            problems.append(f"[matching] {f.name} must be {kind}, got {v!r}")
            continue
        values[f.name] = float(v) if isinstance(default, float) else v
    thresholds = defaults
    try:
        thresholds = Thresholds(**values)
    except ValueError as exc:
        problems.append(f"[matching] {exc}")
    if thresholds.reference_population < 1:
        problems.append("[matching] reference_population must be at least 1")
    parameters = DEFAULT_PARAMETERS
    if "parameters" in m:
        parameters = _parameters(m["parameters"], base, problems)
    return thresholds, parameters, _romanized(m.get("romanized", []), problems)


def _romanized(lines: Any, problems: list[str]) -> Romanizations:
    """``[matching] romanized``: lines added to the built-in table (``ssid.matching.romanized``)."""
    if not isinstance(lines, list) or not all(isinstance(v, str) for v in lines):
        problems.append('[matching] romanized must be a list of lines, e.g. ["ABDIRIZAK ABDIRISAQ ABDIRISAAQ"]')
        return BUILT_IN
    added = []
    for number, line in enumerate(lines, 1):
        try:
            added.append(table_line(line))
        except ValueError as exc:
            problems.append(f"[matching] romanized line {number} ({line!r}): {exc}")
    return BUILT_IN.extended(added) if added else BUILT_IN

def _parameters(value: Any, base: Path | None, problems: list[str]) -> Parameters:
    """The m/u parameters file named by ``[matching] parameters`` (JSON, ``Parameters.to_dict``)."""
    if not isinstance(value, str) or not value.strip():
        problems.append("[matching] parameters must be the path of a JSON file of m/u parameters")
        return DEFAULT_PARAMETERS
    path = Path(value)
    if not path.is_absolute():
        path = (base or Path.cwd()) / path
    where = f"[matching] parameters: {path}"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        params = Parameters.from_dict(data)
    except FileNotFoundError:
        problems.append(f"{where}: file not found")
        return DEFAULT_PARAMETERS
    except json.JSONDecodeError as exc:
        problems.append(f"{where}: not valid JSON ({exc})")
        return DEFAULT_PARAMETERS
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        problems.append(f"{where}: not a parameter set ({type(exc).__name__}: {exc}); it needs \"version\" and "
                        "\"fields\": {field: {level: {\"m\": ..., \"u\": ...}}}, as Parameters.to_dict() writes it")
        return DEFAULT_PARAMETERS
    bad = check_parameters(params)
    if bad:
        problems.append(f"{where}: {'; '.join(bad)}")
        return DEFAULT_PARAMETERS
    return params


def load(path: Path | str) -> Settings:
    """Read and check a TOML configuration file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found (see conf/ssid.example.toml)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        settings = from_mapping(data, path.resolve().parent)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return replace(settings, source=path)
