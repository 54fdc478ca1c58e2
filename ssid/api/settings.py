"""Settings of the REST lookup API: token lifetime, default limits, the TLS-proxy switch.

The ``[api]`` table of the SSID configuration file (one file per process, like ``[web]`` and
``[server]``), read with ``tomllib`` into a frozen dataclass, every problem reported at once;
no secrets in the file (client secrets live hashed in the database). ::

    [api]
    token_lifetime = 1800          # seconds an access token lives (Ed-Fi: 30 minutes)
    default_hourly_limit = 5000    # requests per client per hour, unless the client has its own
    default_token_cap = 10         # live access tokens a client may hold at once
    behind_tls_proxy = false       # true only when a TLS-terminating proxy forwards plain HTTP
    max_body_bytes = 16384         # larger request bodies are refused (413)
    idempotency_ttl = 86400        # seconds an Idempotency-Key's answer is replayed

``make_api_app`` takes ``api_settings``; without it, the ``[api]`` table of the file the SSID
settings came from is read (``api_settings_for``), else the defaults apply.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping

#: the scopes a client may be granted (one per API operation group)
SCOPES = ("ssid-lookup", "enrollment-verification")


class ApiConfigError(ValueError):
    """An API configuration problem, worded for the person editing the file."""


@dataclass(frozen=True)
class ApiSettings:
    token_lifetime: int = 1800
    default_hourly_limit: int = 5000
    default_token_cap: int = 10
    behind_tls_proxy: bool = False
    max_body_bytes: int = 16_384
    idempotency_ttl: int = 86_400
    #: the rate-limit window in seconds (the seed speaks of connections per hour)
    rate_window: int = 3600

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ApiSettings:
        problems: list[str] = []
        api = data.get("api") or {}
        known = {f.name for f in fields(cls)}
        unknown = set(api) - known
        if unknown:
            problems.append(f"[api]: unknown keys {', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})")
        values: dict[str, Any] = {}
        ranges = {"token_lifetime": (60, 86_400), "default_hourly_limit": (1, 10_000_000),
                  "default_token_cap": (1, 10_000), "max_body_bytes": (256, 1_048_576),
                  "idempotency_ttl": (60, 30 * 86_400), "rate_window": (1, 86_400)}
        for name, (lo, hi) in ranges.items():
            if name in api:
                v = api[name]
                if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
                    problems.append(f"[api] {name} must be a whole number from {lo} to {hi}")
                else:
                    values[name] = v
        if "behind_tls_proxy" in api:
            if not isinstance(api["behind_tls_proxy"], bool):
                problems.append("[api] behind_tls_proxy must be true or false")
            else:
                values["behind_tls_proxy"] = api["behind_tls_proxy"]
        if problems:
            raise ApiConfigError("; ".join(problems))
        return cls(**values)


def api_settings_for(settings: Any) -> ApiSettings:
    """The ``[api]`` table of the file ``settings`` (``ssid.config.Settings``) came from, or the defaults."""
    source = getattr(settings, "source", None)
    if source is None:
        return ApiSettings()
    try:
        data = tomllib.loads(Path(source).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ApiConfigError(f"{source}: {exc}") from None
    try:
        return ApiSettings.from_mapping({"api": data.get("api") or {}})
    except ApiConfigError as exc:
        raise ApiConfigError(f"{source}: {exc}") from None
