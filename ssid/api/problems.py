"""Errors as ``application/problem+json`` (RFC 9457), the way Ed-Fi APIs answer them.

Why one exception type: every refusal, from any layer (authentication, rate limit,
validation, a business rule), is raised as an :class:`ApiProblem` and rendered in one place
(the app's middleware), which adds the request's correlation id. So every error has the same
shape: ``type`` (a URN naming the kind of problem), ``title``, ``status``, ``detail`` (what
to do), ``correlationId`` and, for invalid data, ``validationErrors``: every field error at
once, keyed by JSON path (``$.birthDate``). Messages describe the rule broken, never the
value submitted: a problem body never echoes personal data.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

MEDIA_TYPE = "application/problem+json"
_PREFIX = "urn:ssid:api:"

#: problem type → (HTTP status, title)
TYPES: dict[str, tuple[int, str]] = {
    "bad-request:data-validation-failed": (400, "Data Validation Failed"),
    "bad-request:invalid-header": (400, "Invalid Header"),
    "bad-request:idempotency-key-required": (400, "Idempotency-Key Required"),
    "security:authentication": (401, "Authentication Failed"),
    "security:authorization:scope": (403, "Insufficient Scope"),
    "security:authorization:organisation": (403, "Organisation Not Permitted"),
    "security:https-required": (403, "HTTPS Required"),
    "not-found": (404, "Not Found"),
    "method-not-allowed": (405, "Method Not Allowed"),
    "conflict:in-progress": (409, "Request In Progress"),
    "payload-too-large": (413, "Payload Too Large"),
    "unsupported-media-type": (415, "Unsupported Media Type"),
    "idempotency-key-reused": (422, "Idempotency-Key Reused"),
    "not-linked": (422, "SSID Not Confirmed To This Client"),
    "too-many-requests": (429, "Too Many Requests"),
    "system": (500, "Unexpected Error"),
}


def type_uri(kind: str) -> str:
    return _PREFIX + kind


class ApiProblem(Exception):
    """A refusal rendered as problem+json; ``headers`` are added to the response."""

    def __init__(self, kind: str, detail: str, *, errors: Mapping[str, Sequence[str]] | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        if kind not in TYPES:
            raise ValueError(f"unknown problem type {kind!r}")
        super().__init__(detail)
        self.kind = kind
        self.status, self.title = TYPES[kind]
        self.detail = detail
        self.errors = {k: list(v) for k, v in (errors or {}).items()}
        self.headers = dict(headers or {})

    def body(self, correlation_id: str) -> dict[str, Any]:
        out: dict[str, Any] = {"type": type_uri(self.kind), "title": self.title, "status": self.status,
                               "detail": self.detail, "correlationId": correlation_id}
        if self.errors:
            out["validationErrors"] = self.errors
        return out

    def to_json(self, correlation_id: str) -> str:
        return json.dumps(self.body(correlation_id), ensure_ascii=False)


def validation_failed(errors: Mapping[str, Sequence[str]]) -> ApiProblem:
    n, fields = sum(len(v) for v in errors.values()), len(errors)
    counted = f"{n} problem{'s' if n != 1 else ''} in {fields} field{'s' if fields != 1 else ''}"
    return ApiProblem("bad-request:data-validation-failed",
                      f"The request has {counted}; see validationErrors, correct every field listed and send the "
                      "request again.", errors=errors)
