"""Zone server configuration: one TOML file, read into frozen dataclasses.

Secrets never live in the file: HTTP Basic passwords are stored as salted scrypt
hashes (``slf zone hash-password`` makes one), TLS keys are named by path.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from dburl import DatabaseUrlError, async_url
from messages import versions

from .acl import Rights

VALIDATION_MODES = ("strict", "lenient", "off")
AUTH_MODES = ("certificate", "basic", "none")


class ConfigError(ValueError):
    """A configuration problem, worded for the person editing the file."""


@dataclass(frozen=True)
class AgentSettings:
    source_id: str
    rights: Rights
    password_hash: str | None = None  # for HTTP Basic; see zone.auth.hash_password


@dataclass(frozen=True)
class ZoneSettings:
    id: str
    name: str = ""
    source_id: str = "ZIS"  # SIF_SourceId the zone writes in its own messages
    validation: str = "strict"
    open_registration: bool = False  # mock zones: any agent registers with full rights
    authentication: str = "none"
    versions: tuple[str, ...] = versions.SUPPORTED
    min_buffer_size: int = 4096
    request_timeout: float = 600.0  # seconds a SIF_Request waits for its last packet
    record_findings: bool = True  # keep strict-schema findings in the log even when lenient
    agents: tuple[AgentSettings, ...] = ()

    def agent(self, source_id: str) -> AgentSettings | None:
        return next((a for a in self.agents if a.source_id == source_id), None)


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 7443
    tls_cert: Path | None = None
    tls_key: Path | None = None
    client_ca: Path | None = None
    database: str = "sqlite+aiosqlite:///var/zone.db"
    max_message_bytes: int = 4 * 1024 * 1024
    log_retention_rows: int = 10_000  # per zone, for the inspector
    zones: tuple[ZoneSettings, ...] = field(default_factory=tuple)

    def zone(self, zone_id: str) -> ZoneSettings | None:
        return next((z for z in self.zones if z.id == zone_id), None)

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None


def _rights(table: dict, where: str) -> Rights:
    try:
        return Rights.from_mapping(table)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _zone(table: dict, index: int) -> ZoneSettings:
    where = f"[[zones]] #{index + 1}"
    if "id" not in table:
        raise ConfigError(f"{where}: every zone needs an id, e.g. id = \"state-zone\"")
    zid = str(table["id"])
    where = f"zone {zid!r}"
    validation = table.get("validation", "strict")
    if validation not in VALIDATION_MODES:
        raise ConfigError(f"{where}: validation must be one of {', '.join(VALIDATION_MODES)}, not {validation!r}")
    auth = table.get("authentication", "none")
    if auth not in AUTH_MODES:
        raise ConfigError(f"{where}: authentication must be one of {', '.join(AUTH_MODES)}, not {auth!r}")
    zone_versions = tuple(table.get("versions", versions.SUPPORTED))
    for v in zone_versions:
        if v not in versions.SUPPORTED:
            raise ConfigError(f"{where}: version {v!r} is not supported; use some of {', '.join(versions.SUPPORTED)}")
    agents = []
    for a in table.get("agents", []):
        if "source_id" not in a:
            raise ConfigError(f"{where}: every [[zones.agents]] entry needs a source_id")
        agents.append(AgentSettings(
            source_id=str(a["source_id"]),
            rights=_rights(a, f"{where}, agent {a['source_id']!r}"),
            password_hash=a.get("password_hash"),
        ))
    if auth == "basic":
        missing = [a.source_id for a in agents if not a.password_hash]
        if missing:
            raise ConfigError(f"{where}: HTTP Basic authentication needs a password_hash for "
                              f"{', '.join(missing)} (make one with `slf zone hash-password`)")
    return ZoneSettings(
        id=zid,
        name=str(table.get("name", zid)),
        source_id=str(table.get("source_id", "ZIS")),
        validation=validation,
        open_registration=bool(table.get("open_registration", False)),
        authentication=auth,
        versions=zone_versions,
        min_buffer_size=int(table.get("min_buffer_size", 4096)),
        request_timeout=float(table.get("request_timeout", 600)),
        record_findings=bool(table.get("record_findings", True)),
        agents=tuple(agents),
    )


def load(path: Path) -> ServerSettings:
    """Read a zone server TOML file; ConfigError says what to fix."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file (see conf/zone.example.toml)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return from_mapping(data, base=Path(path).parent)


def from_mapping(data: dict, base: Path = Path(".")) -> ServerSettings:
    server = data.get("server", {})

    def path(key: str) -> Path | None:
        value = server.get(key)
        return None if not value else (base / value if not Path(value).is_absolute() else Path(value))

    zones = tuple(_zone(z, i) for i, z in enumerate(data.get("zones", [])))
    if not zones:
        raise ConfigError("no zones configured: add at least one [[zones]] table with an id")
    ids = [z.id for z in zones]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"zone ids must be unique: {ids}")
    settings = ServerSettings(
        host=str(server.get("host", "127.0.0.1")),
        port=int(server.get("port", 7443)),
        tls_cert=path("tls_cert"),
        tls_key=path("tls_key"),
        client_ca=path("client_ca"),
        database=_database(str(server.get("database", "sqlite+aiosqlite:///var/zone.db")), base),
        max_message_bytes=int(server.get("max_message_bytes", 4 * 1024 * 1024)),
        log_retention_rows=int(server.get("log_retention_rows", 10_000)),
        zones=zones,
    )
    if (settings.tls_cert is None) != (settings.tls_key is None):
        raise ConfigError("[server] tls_cert and tls_key go together: set both, or neither for --no-tls")
    if any(z.authentication == "certificate" for z in zones) and settings.client_ca is None:
        raise ConfigError("a zone uses certificate authentication: set [server] client_ca to the CA "
                          "that signs agent certificates")
    return settings


def _database(value: str, base: Path) -> str:
    """[server] database: a URL, or a SQLite file path relative to the configuration file."""
    try:
        return async_url(value, base)
    except DatabaseUrlError as exc:
        raise ConfigError(f"[server] database: {exc}") from None

