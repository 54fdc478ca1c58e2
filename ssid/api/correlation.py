"""Correlation ids: accepted or made per request, echoed, and put in every log line.

Why a context variable: aiohttp answers each request in its own task, so the id set by the
middleware is seen by every function the handler calls, and each API module's logger adds it
to the message text itself. It therefore shows whatever log format the serving process
chose, with no formatter to configure. The same id goes into the audit rows the API writes
and into every problem body.
"""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar
from typing import Any

HEADER = "Correlation-Id"
MAX_LENGTH = 64  # the audit table's correlation_id column
_VALID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")

_current: ContextVar[str | None] = ContextVar("ssid_api_correlation_id", default=None)


def new_id() -> str:
    return str(uuid.uuid4())


def is_valid(value: str) -> bool:
    return bool(_VALID.fullmatch(value))


def current() -> str | None:
    return _current.get()


def bind(value: str):
    """Set the id for the running task; returns the token to reset it with."""
    return _current.set(value)


def reset(token) -> None:
    _current.reset(token)


class CorrelationLogger(logging.LoggerAdapter):
    """A logger whose every line starts with ``[correlation <id>]`` (``-`` outside a request)."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        cid = _current.get() or "-"
        extra = dict(kwargs.get("extra") or {})
        extra.setdefault("correlation_id", cid)
        kwargs["extra"] = extra
        return f"[correlation {cid}] {msg}", kwargs


def get_logger(name: str) -> CorrelationLogger:
    return CorrelationLogger(logging.getLogger(name), {})
