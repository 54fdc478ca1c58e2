"""Database URLs as users write them, made into the async URLs the processes run on.

Why: every process (zone, agents, SSID database) runs on SQLAlchemy's asyncio engine, which
needs an async driver (aiosqlite, asyncpg). An operator writes what SQLAlchemy and psql
document, ``postgresql://user@host/db`` or ``sqlite:///var/ssid.db``, or just a file path.
Those used to fail deep inside the engine with a traceback about a missing ``psycopg`` or a
"not async" driver. Here they are taken as meant, and anything else is refused with what to
write instead. Standard library only: every package may import it.
"""

from __future__ import annotations

from pathlib import Path

#: the async driver each supported backend runs on
ASYNC_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}
#: other spellings of the backends' names
_BACKENDS = {"sqlite": "sqlite", "postgresql": "postgresql", "postgres": "postgresql", "pgsql": "postgresql"}
#: synchronous drivers named in a URL, taken to mean the backend's async driver
_SYNC_DRIVERS = {"pysqlite", "psycopg", "psycopg2", "psycopg2cffi", "pg8000", "psycopg_async"}

EXAMPLES = "a SQLite file path, sqlite:///FILE, or postgresql://USER@HOST:PORT/DATABASE"


class DatabaseUrlError(ValueError):
    """A database setting that names no supported database; the message says what to write."""


def async_url(value: str, base: Path | None = None) -> str:
    """The async SQLAlchemy URL for ``value``: a URL (any driver of SQLite or PostgreSQL) or a
    SQLite file path (relative paths are taken from ``base`` when given, else kept relative).

    >>> async_url("postgresql://slf@db.example/ssid")
    'postgresql+asyncpg://slf@db.example/ssid'
    >>> async_url("var/ssid.db", Path("/srv/slf"))
    'sqlite+aiosqlite:////srv/slf/var/ssid.db'
    """
    value = value.strip()
    if not value:
        raise DatabaseUrlError(f"the database setting is empty: give {EXAMPLES}")
    if "://" not in value:
        path = Path(value).expanduser()
        if base is not None and not path.is_absolute():
            path = base / path
        return f"sqlite+aiosqlite:///{path}"
    scheme, rest = value.split("://", 1)
    name, _, driver = scheme.lower().partition("+")
    backend = _BACKENDS.get(name)
    if backend is None:
        raise DatabaseUrlError(f"unsupported database {scheme!r} in {_shown(value)}: SQLite and PostgreSQL are "
                               f"supported; give {EXAMPLES}")
    if driver and driver != ASYNC_DRIVERS[backend] and driver not in _SYNC_DRIVERS:
        raise DatabaseUrlError(f"unknown driver {driver!r} for {backend} in {_shown(value)}: leave it out "
                               f"({backend}://...) or name {ASYNC_DRIVERS[backend]}")
    return f"{backend}+{ASYNC_DRIVERS[backend]}://{rest}"


def _shown(value: str) -> str:
    """``value`` with any password replaced, fit for an error message or a log."""
    scheme, _, rest = value.partition("://")
    creds, at, host = rest.rpartition("@")
    if at and ":" in creds:
        rest = f"{creds.split(':', 1)[0]}:***@{host}"
    return f"{scheme}://{rest}"


__all__ = ["ASYNC_DRIVERS", "DatabaseUrlError", "EXAMPLES", "async_url"]
