"""Agent configuration: one TOML file read with tomllib into frozen dataclasses.

Secrets never live in the file: an HTTP Basic password is named by the environment
variable that holds it (``password_env``); TLS keys are named by path.

    [agent]
    source_id = "ITC01-StudentLocator"
    outbox = "var/locator-outbox.db"

    [[zones]]
    id = "state"
    url = "https://zis.example.org/zones/state-zone"
    versions = ["2.1", "2.0r1"]
    provide = ["StudentLocator"]

See ``conf/agent.example.toml`` for every setting.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, TypeVar

from dburl import DatabaseUrlError, async_url
from messages import versions as sif_versions

T = TypeVar("T")

#: the object lists of SIF_Provision, in schema order, as config keys
OBJECT_LISTS = ("provide", "subscribe", "publish_add", "publish_change", "publish_delete",
                "request", "respond")
MODES = ("Pull", "Push")


class ConfigError(ValueError):
    """A configuration problem, worded for the person editing the file."""


@dataclass(frozen=True)
class TlsSettings:
    """Server verification (``ca``; None: the system's CAs) and an optional client certificate."""

    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    verify: bool = True  # only for plain-HTTP development zones; never turn off in production


@dataclass(frozen=True)
class BasicAuth:
    user: str
    password_env: str

    def password(self, environ: Mapping[str, str] = os.environ) -> str:
        try:
            return environ[self.password_env]
        except KeyError:
            raise ConfigError(f"environment variable {self.password_env} (the Basic password for "
                              f"{self.user}) is not set") from None


@dataclass(frozen=True)
class ObjectLists:
    """What the agent provides, subscribes to, publishes, requests and responds to in a zone."""

    provide: tuple[str, ...] = ()
    subscribe: tuple[str, ...] = ()
    publish_add: tuple[str, ...] = ()
    publish_change: tuple[str, ...] = ()
    publish_delete: tuple[str, ...] = ()
    request: tuple[str, ...] = ()
    respond: tuple[str, ...] = ()


@dataclass(frozen=True)
class RetrySettings:
    """Backoff with jitter for transport failures (zone down or slow)."""

    attempts: int = 8
    initial: float = 0.5  # seconds; the random wait grows exponentially from here
    maximum: float = 60.0  # seconds; cap of one wait


@dataclass(frozen=True)
class PushSettings:
    """Push mode: where this agent listens for the zone's POSTs (``[zones.push]``)."""

    host: str = "127.0.0.1"
    port: int = 0  # 0: any free port (the URL registered is built from the bound one)
    url: str | None = None  # the URL the zone should POST to, when it differs (proxy, DNS name)
    cert: Path | None = None  # the listener's certificate; without it plain HTTP (development only)
    key: Path | None = None
    client_ca: Path | None = None  # require the zone's client certificate, signed by this CA

    @property
    def advertised_host(self) -> str:
        return "localhost" if self.host in ("127.0.0.1", "0.0.0.0", "::1", "::") else self.host


@dataclass(frozen=True)
class ZoneSettings:
    id: str
    url: str
    source_id: str
    versions: tuple[str, ...] = ("2.1",)
    max_buffer_size: int = 1_048_576
    mode: str = "Pull"
    pull_interval: float = 5.0  # seconds to wait after the zone said 9 (no messages)
    request_timeout: float = 600.0  # seconds a SIF_Request waits for its last packet
    timeout: float = 30.0  # seconds for one HTTP exchange
    tls: TlsSettings = field(default_factory=TlsSettings)
    basic: BasicAuth | None = None
    objects: ObjectLists = field(default_factory=ObjectLists)
    retry: RetrySettings = field(default_factory=RetrySettings)
    push: PushSettings | None = None  # required when mode is Push


@dataclass(frozen=True)
class AgentSettings:
    source_id: str
    name: str
    zones: tuple[ZoneSettings, ...]
    outbox: str = "sqlite+aiosqlite:///var/agent-outbox.db"  # SQLAlchemy URL or a file path

    def zone(self, zone_id: str) -> ZoneSettings:
        for z in self.zones:
            if z.id == zone_id:
                return z
        raise KeyError(zone_id)


# --------------------------------------------------------------------------- reading


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} must be a list of strings")
    return tuple(value)


def _path(value: Any, base: Path) -> Path | None:
    if value is None:
        return None
    p = Path(value)
    return p if p.is_absolute() else base / p


def _known(table: Mapping, allowed: set[str], where: str) -> None:
    unknown = set(table) - allowed
    if unknown:
        raise ConfigError(f"unknown setting(s) in {where}: {', '.join(sorted(unknown))}")


_ZONE_KEYS = {"id", "url", "source_id", "versions", "max_buffer_size", "mode", "pull_interval",
              "request_timeout", "timeout", "tls", "basic", "retry", "push", *OBJECT_LISTS}


def _zone(t: Mapping, agent_source: str, base: Path) -> ZoneSettings:
    where = f"zone {t.get('id', '?')}"
    _known(t, _ZONE_KEYS, where)
    for key in ("id", "url"):
        if not isinstance(t.get(key), str) or not t[key]:
            raise ConfigError(f"{where}: '{key}' is required")
    vs = _strings(t.get("versions", ["2.1"]), f"{where}: versions")
    for v in vs:
        if v not in sif_versions.SUPPORTED:
            raise ConfigError(f"{where}: SIF version {v!r} is not supported ({', '.join(sif_versions.SUPPORTED)})")
    if not vs:
        raise ConfigError(f"{where}: versions must list at least one SIF version")
    mode = t.get("mode", "Pull")
    if mode not in MODES:
        raise ConfigError(f"{where}: mode must be Pull or Push, not {mode!r}")
    push = None
    if mode == "Push" or "push" in t:
        p = t.get("push", {})
        _known(p, {"listen", "url", "cert", "key", "client_ca"}, f"{where}: push")
        host, _, port = str(p.get("listen", "127.0.0.1:0")).rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(f"{where}: push.listen must be HOST:PORT (e.g. \"0.0.0.0:8444\")")
        push = PushSettings(host=host.strip("[]"), port=int(port), url=p.get("url"),
                            cert=_path(p.get("cert"), base), key=_path(p.get("key"), base),
                            client_ca=_path(p.get("client_ca"), base))
        if push.key and not push.cert:
            raise ConfigError(f"{where}: push.key needs push.cert")
    tls_t = t.get("tls", {})
    _known(tls_t, {"ca", "cert", "key", "verify"}, f"{where}: tls")
    tls = TlsSettings(ca=_path(tls_t.get("ca"), base), cert=_path(tls_t.get("cert"), base),
                      key=_path(tls_t.get("key"), base), verify=bool(tls_t.get("verify", True)))
    if tls.key and not tls.cert:
        raise ConfigError(f"{where}: tls.key needs tls.cert")
    basic = None
    if "basic" in t:
        b = t["basic"]
        if "password" in b:
            raise ConfigError(f"{where}: passwords are never stored in the file; use password_env")
        _known(b, {"user", "password_env"}, f"{where}: basic")
        if not b.get("user") or not b.get("password_env"):
            raise ConfigError(f"{where}: basic needs user and password_env")
        basic = BasicAuth(user=b["user"], password_env=b["password_env"])
    r = t.get("retry", {})
    _known(r, {"attempts", "initial", "maximum"}, f"{where}: retry")
    retry = RetrySettings(**{k: r[k] for k in r})
    numbers = {}
    for key in ("max_buffer_size", "pull_interval", "request_timeout", "timeout"):
        if key in t:
            if not isinstance(t[key], (int, float)) or t[key] <= 0:
                raise ConfigError(f"{where}: {key} must be a positive number")
            numbers[key] = t[key]
    return ZoneSettings(
        id=t["id"], url=t["url"], source_id=t.get("source_id", agent_source), versions=vs, mode=mode,
        tls=tls, basic=basic, retry=retry, push=push,
        objects=ObjectLists(**{k: _strings(t.get(k), f"{where}: {k}") for k in OBJECT_LISTS}),
        **numbers,
    )


def from_mapping(data: Mapping, base: Path = Path(".")) -> AgentSettings:
    """Settings from an already-parsed TOML document; relative paths are taken from ``base``."""
    _known(data, {"agent", "zones"}, "the file")
    a = data.get("agent", {})
    _known(a, {"source_id", "name", "outbox"}, "[agent]")
    if not a.get("source_id"):
        raise ConfigError("[agent] source_id is required")
    zones = tuple(_zone(z, a["source_id"], base) for z in data.get("zones", []))
    if not zones:
        raise ConfigError("at least one [[zones]] table is required")
    ids = [z.id for z in zones]
    if len(set(ids)) != len(ids):
        raise ConfigError("zone ids must be unique")
    outbox = a.get("outbox", "var/agent-outbox.db")
    try:
        outbox = async_url(outbox, base)
    except DatabaseUrlError as exc:
        raise ConfigError(f"[agent] outbox: {exc}") from None
    return AgentSettings(source_id=a["source_id"], name=a.get("name", a["source_id"]), zones=zones,
                         outbox=outbox)


def load_toml(path: str | os.PathLike, build: Callable[[Mapping, Path], T]) -> T:
    """Read one process's TOML file and build its settings with ``build(data, folder)``
    (relative paths are taken from the file's folder). Every problem, from a missing file to
    a bad value, is a ConfigError that names the file."""
    p = Path(path)
    try:
        with p.open("rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: {exc}") from None
    try:
        return build(data, p.parent)
    except ConfigError as exc:
        raise ConfigError(f"{p}: {exc}") from None


def load(path: str | os.PathLike) -> AgentSettings:
    return load_toml(path, from_mapping)
