"""Web UI settings: roles and their permissions, session and sign-in limits (the ``[web]`` table).

Why roles live in configuration (RFP 1.18.1, spec "Security"): the state decides which staff
may search, resolve potential matches, change or deactivate records, approve reactivations,
manage users or read the audit, and changes that without a release. Each role also says how
far its holder sees: ``state`` (every student), ``district`` (the districts the user is bound
to) or ``building`` (the buildings the user is bound to).

Why the maintenance permissions are cross-checked against ``[ssid.roles]``: the store's
maintenance functions enforce ``[ssid.roles]`` themselves (for the CLI, batch files and the API
too). A web role granted "deactivate" that ``[ssid.roles] deactivate`` does not list would show
a button that always fails, so such a file is refused when loaded, naming the fix. ::

    [web]
    session_idle_minutes = 15
    session_absolute_hours = 8
    login_failures_per_user = 5          # then that user waits login_window_minutes
    login_failures_per_address = 20      # from one address, whichever users it tries
    login_window_minutes = 15

    [web.roles.district_user]
    label = "District user"
    scope = "district"                   # state | district | building
    permissions = ["search", "view", "resolve"]
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..config import ConfigError, Roles, Settings

#: what a role may be granted (the web's verbs; the first five of MAINTENANCE are checked by the store too)
PERMISSIONS = ("search", "view", "resolve", "modify", "deactivate", "request_reactivation", "approve_reactivation",
               "manage_users", "audit")
#: web permissions the store enforces itself through ``[ssid.roles]``
MAINTENANCE = ("modify", "deactivate", "request_reactivation", "approve_reactivation", "manage_users")
SCOPES = ("state", "district", "building")
_WEB_KEYS = {"session_idle_minutes", "session_absolute_hours", "login_failures_per_user",
             "login_failures_per_address", "login_window_minutes", "argon2_time_cost", "argon2_memory_kib",
             "roles"}
_ROLE_KEYS = {"label", "scope", "permissions"}


@dataclass(frozen=True)
class Role:
    name: str
    label: str
    scope: str
    permissions: frozenset[str]


def _role(name: str, label: str, scope: str, *perms: str) -> tuple[str, Role]:
    return name, Role(name, label, scope, frozenset(perms))


#: the seven roles of the spec; the example configuration spells the same out
DEFAULT_ROLES: Mapping[str, Role] = dict((
    _role("state_admin", "State administrator", "state", "search", "view", "resolve", "modify", "deactivate",
          "request_reactivation", "manage_users", "audit"),
    _role("state_approver", "State approver", "state", "search", "view", "approve_reactivation", "audit"),
    _role("district_admin", "District administrator", "district", "search", "view", "resolve", "modify",
          "deactivate", "request_reactivation"),
    _role("district_user", "District user", "district", "search", "view", "resolve"),
    _role("building_user", "Building user", "building", "search", "view", "resolve"),
    _role("auditor", "Auditor", "state", "search", "view", "audit"),
    _role("itc_operator", "ITC operator", "district", "search", "view", "resolve"),
))


@dataclass(frozen=True)
class WebSettings:
    roles: Mapping[str, Role] = field(default_factory=lambda: dict(DEFAULT_ROLES))
    session_idle: float = 15 * 60.0  # seconds without a request before a session ends
    session_absolute: float = 8 * 3600.0  # seconds after sign-in a session ends regardless
    login_failures_per_user: int = 5
    login_failures_per_address: int = 20
    login_window: float = 15 * 60.0
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536

    def permissions(self, roles: frozenset[str] | set[str]) -> frozenset[str]:
        """What a user holding ``roles`` may do (roles not configured for the web grant nothing)."""
        out: set[str] = set()
        for r in roles:
            if r in self.roles:
                out |= self.roles[r].permissions
        return frozenset(out)

    def scopes(self, roles: frozenset[str] | set[str]) -> frozenset[str]:
        return frozenset(self.roles[r].scope for r in roles if r in self.roles)


def _number(data: Mapping[str, Any], key: str, low: float, high: float, problems: list[str]) -> float | None:
    if key not in data:
        return None
    v = data[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not low <= v <= high:
        problems.append(f"[web] {key} must be a number between {low:g} and {high:g}")
        return None
    return v


def from_mapping(data: Mapping[str, Any], store_roles: Roles = Roles()) -> WebSettings:
    """WebSettings from a parsed ``[web]`` table; every problem at once in one ConfigError."""
    problems: list[str] = []
    extra = set(data) - _WEB_KEYS
    if extra:
        problems.append(f"[web]: unknown keys {', '.join(sorted(extra))} (known: {', '.join(sorted(_WEB_KEYS))})")
    kw: dict[str, Any] = {}
    for key, attr, low, high, scale in (
            ("session_idle_minutes", "session_idle", 1, 24 * 60, 60.0),
            ("session_absolute_hours", "session_absolute", 0.1, 7 * 24, 3600.0),
            ("login_window_minutes", "login_window", 1, 24 * 60, 60.0)):
        v = _number(data, key, low, high, problems)
        if v is not None:
            kw[attr] = float(v) * scale
    for key, low, high in (("login_failures_per_user", 1, 1000), ("login_failures_per_address", 1, 100_000),
                           ("argon2_time_cost", 1, 20), ("argon2_memory_kib", 8192, 4 * 1024 * 1024)):
        v = _number(data, key, low, high, problems)
        if v is not None:
            kw[key] = int(v)
    if "roles" in data:
        roles: dict[str, Role] = {}
        table = data["roles"]
        if not isinstance(table, Mapping) or not table:
            problems.append("[web.roles] must hold at least one [web.roles.NAME] table")
            table = {}
        for name, spec in table.items():
            where = f"[web.roles.{name}]"
            if not isinstance(spec, Mapping):
                problems.append(f"{where} must be a table with label, scope and permissions")
                continue
            unknown = set(spec) - _ROLE_KEYS
            if unknown:
                problems.append(f"{where}: unknown keys {', '.join(sorted(unknown))} (known: label, scope, "
                                "permissions)")
            scope = spec.get("scope")
            if scope not in SCOPES:
                problems.append(f"{where} scope must be one of {', '.join(SCOPES)}")
            perms = spec.get("permissions", [])
            if not isinstance(perms, list) or not all(isinstance(p, str) for p in perms):
                problems.append(f"{where} permissions must be a list of strings")
                perms = []
            bad = sorted(set(perms) - set(PERMISSIONS))
            if bad:
                problems.append(f"{where}: unknown permissions {', '.join(bad)} (known: {', '.join(PERMISSIONS)})")
            roles[str(name)] = Role(str(name), str(spec.get("label") or name), str(scope), frozenset(perms))
        kw["roles"] = roles
    web = WebSettings(**kw)
    if web.session_absolute < web.session_idle:
        problems.append("[web] session_absolute_hours must not be shorter than session_idle_minutes")
    problems += role_conflicts(web, store_roles)
    if problems:
        raise ConfigError("; ".join(problems))
    return web


def role_conflicts(web: WebSettings, store_roles: Roles) -> list[str]:
    """Web roles granted a maintenance permission that ``[ssid.roles]`` does not give them. Pure."""
    out = []
    for perm in MAINTENANCE:
        allowed = getattr(store_roles, perm)
        for role in sorted(web.roles.values(), key=lambda r: r.name):
            if perm in role.permissions and role.name not in allowed:
                out.append(f"[web.roles.{role.name}] grants {perm!r} but [ssid.roles] {perm} does not list "
                           f"{role.name!r}: add it there or remove the permission")
    return out


def load(settings: Settings) -> WebSettings:
    """The ``[web]`` table of the file ``settings`` came from (the defaults without one)."""
    data: Mapping[str, Any] = {}
    if settings.source is not None:
        try:
            data = tomllib.loads(Path(settings.source).read_text(encoding="utf-8")).get("web") or {}
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{settings.source}: {exc}") from None
    try:
        return from_mapping(data, settings.roles)
    except ConfigError as exc:
        where = f"{settings.source}: " if settings.source else ""
        raise ConfigError(f"{where}{exc}") from None
