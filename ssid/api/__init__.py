"""The SSID REST lookup API (seed 000, CDE/CCCCO "SSID Data Lookup") as an aiohttp application.

* ``app``          the handlers and the front middleware (correlation id, HTTPS, problem+json)
* ``clients``      OAuth clients: add, list, revoke, rotate (``slf ssid api-client``), authentication
* ``tokens``       opaque access tokens stored as hashes; ``ratelimit`` per-client hourly counters
* ``idempotency``  Idempotency-Key replay; ``correlation`` the per-request id in logs and audit
* ``validation``   request bodies, every field error at once (pure); ``problems`` RFC 9457 bodies
* ``lookup``       the matcher's outcome → confirmed / ambiguous / not_found; ``enrollment`` verifications
* ``openapi``      the OpenAPI 3.1 document; ``settings`` the [api] settings; ``tables`` migration 3

Serve it over TLS (``require_tls`` refuses otherwise), e.g. as the root of ``slf ssid serve``.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .settings import ApiConfigError, ApiSettings, api_settings_for

if TYPE_CHECKING:
    from aiohttp import web

    from ..config import Settings
    from ..matching import Matcher
    from ..store import SsidStore


def make_api_app(store: SsidStore, settings: Settings, *, clock: Callable[[], float] = time.time,
                 api_settings: ApiSettings | None = None, matcher: Matcher | None = None) -> web.Application:
    """The API as an aiohttp application to mount at ``/``.

    ``api_settings`` default to the ``[api]`` table of the configuration file, else the built-in defaults.
    """
    from .app import build_app  # imported here so that ``ssid.api.tables`` stays cheap to import

    return build_app(store, settings, clock=clock, api_settings=api_settings, matcher=matcher)


def require_tls(ssl_context: ssl.SSLContext | None, api_settings: ApiSettings) -> None:
    """Raise ApiConfigError when the API would be served without TLS and no TLS proxy is declared."""
    from .app import require_tls as check

    check(ssl_context, api_settings)


__all__ = ["ApiConfigError", "ApiSettings", "api_settings_for", "make_api_app",
           "require_tls"]
