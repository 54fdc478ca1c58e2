"""The API's contract: an OpenAPI 3.1 document, built from the same constants the code enforces.

Why built in Python and not a hand-kept file: field lengths, patterns, scopes, problem types
and paths are taken from the modules that enforce them, so the document cannot drift from
the behaviour; the tests validate every response they receive against it. OpenAPI 3.1 uses
JSON Schema 2020-12, so "the SSID is present only when confirmed" is written as schema.
"""

from __future__ import annotations

from typing import Any

from .correlation import HEADER as CORRELATION_HEADER
from .correlation import MAX_LENGTH as CORRELATION_MAX
from .idempotency import HEADER as IDEMPOTENCY_HEADER
from .idempotency import MAX_LENGTH as IDEMPOTENCY_MAX
from .lookup import AMBIGUOUS, CONFIRMED, NOT_FOUND
from .problems import MEDIA_TYPE as PROBLEM_MEDIA_TYPE
from .problems import TYPES, type_uri
from .settings import SCOPES
from .validation import (CCCID_MAX, CCCID_PATTERN, CDS_LENGTH, CDS_PATTERN, COLLEGE_PATTERN, DATE_PATTERN,
                         FIRST_NAME_MAX, LAST_NAME_MAX, SSID_MAX, SSID_PATTERN, TERM_PATTERN)

API_VERSION = "1.0.0"
DISCOVERY_PATH = "/"
TOKEN_PATH = "/oauth/token"
REVOKE_PATH = "/oauth/revoke"
API_BASE = "/api/v1/"
OPENAPI_PATH = "/api/v1/openapi.json"
LOOKUP_PATH = "/api/v1/ssid-lookups"
VERIFY_PATH = "/api/v1/enrollment-verifications"

OAUTH_ERRORS = ("invalid_request", "invalid_client", "invalid_grant", "unauthorized_client", "unsupported_grant_type",
                "invalid_scope")
_SCOPE_TEXT = {"ssid-lookup": "look up a student's SSID", "enrollment-verification": "post verifications of enrollment"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _header(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/headers/{name}"}


def _problem(description: str, *, rate: bool = True, retry: bool = False, www: bool = False) -> dict[str, Any]:
    headers: dict[str, Any] = {CORRELATION_HEADER: _header("Correlation-Id")}
    if rate:
        headers.update({"RateLimit-Policy": _header("RateLimit-Policy"), "RateLimit": _header("RateLimit")})
    if retry:
        headers["Retry-After"] = {**_header("Retry-After")}
    if www:
        headers["WWW-Authenticate"] = _header("WWW-Authenticate")
    return {"description": description, "headers": headers,
            "content": {PROBLEM_MEDIA_TYPE: {"schema": _ref("Problem")}}}


def _oauth_error(description: str, *, www: bool = False, retry: bool = False) -> dict[str, Any]:
    headers: dict[str, Any] = {CORRELATION_HEADER: _header("Correlation-Id"),
                               "Cache-Control": _header("Cache-Control-No-Store")}
    if www:
        headers["WWW-Authenticate"] = _header("WWW-Authenticate")
    if retry:
        headers["Retry-After"] = _header("Retry-After")
    return {"description": description, "headers": headers,
            "content": {"application/json": {"schema": _ref("OAuthError")}}}


def _ok(description: str, schema: str, *, rate: bool = False, replay: bool = False) -> dict[str, Any]:
    headers: dict[str, Any] = {CORRELATION_HEADER: _header("Correlation-Id")}
    if rate:
        headers.update({"RateLimit-Policy": _header("RateLimit-Policy"), "RateLimit": _header("RateLimit")})
    if replay:
        headers["Idempotent-Replayed"] = _header("Idempotent-Replayed")
    return {"description": description, "headers": headers, "content": {"application/json": {"schema": _ref(schema)}}}


_DEFAULT = _problem("Any other refusal: HTTPS required (403), method not allowed, an unexpected error (500).",
                    rate=False)


def _api_errors(*, idempotent: bool) -> dict[str, Any]:
    out = {
        "400": _problem("Invalid data (every field error at once, in validationErrors) or an invalid header."),
        "401": _problem("No access token, or it is unknown, expired or revoked: get a new one at /oauth/token.",
                        rate=False, www=True),
        "403": _problem("The token lacks the scope, or the client may not see this organisation.", www=True),
        "413": _problem("The body is larger than the API accepts."),
        "415": _problem("The body is not application/json."),
        "422": _problem("The Idempotency-Key was used before with another body"
                        + (", or the SSID was not confirmed to this client for this CCCID." if idempotent else ".")),
        "429": _problem("The client's hourly request limit is used up: wait Retry-After seconds.", retry=True),
        "default": _DEFAULT,
    }
    if idempotent:
        out["409"] = _problem("A request with the same Idempotency-Key is still being answered: retry shortly.")
    return out


def _schemas() -> dict[str, Any]:
    problem_kinds = sorted(type_uri(k) for k in TYPES)
    return {
        "Discovery": {
            "type": "object", "additionalProperties": False, "required": ["name", "version", "urls"],
            "properties": {
                "name": {"type": "string"}, "version": {"type": "string"},
                "urls": {"type": "object", "additionalProperties": False,
                         "required": ["oauth", "revoke", "api", "openApi"],
                         "properties": {k: {"type": "string", "format": "uri"}
                                        for k in ("oauth", "revoke", "api", "openApi")}},
            },
        },
        "TokenRequest": {
            "type": "object", "required": ["grant_type"],
            "properties": {
                "grant_type": {"type": "string", "const": "client_credentials"},
                "scope": {"type": "string", "description": "Space-separated scopes; all of the client's when absent."},
                "client_id": {"type": "string", "description": "Only when not using HTTP Basic."},
                "client_secret": {"type": "string", "description": "Only when not using HTTP Basic."},
            },
        },
        "RevokeRequest": {
            "type": "object", "required": ["token"],
            "properties": {"token": {"type": "string"}, "token_type_hint": {"type": "string"},
                           "client_id": {"type": "string"}, "client_secret": {"type": "string"}},
        },
        "TokenResponse": {
            "type": "object", "additionalProperties": False,
            "required": ["access_token", "token_type", "expires_in", "scope"],
            "properties": {
                "access_token": {"type": "string", "minLength": 32},
                "token_type": {"type": "string", "const": "bearer"},
                "expires_in": {"type": "integer", "minimum": 1},
                "scope": {"type": "string"},
            },
        },
        "OAuthError": {
            "type": "object", "additionalProperties": False, "required": ["error"],
            "properties": {"error": {"type": "string", "enum": list(OAUTH_ERRORS)},
                           "error_description": {"type": "string"}},
        },
        "LookupRequest": {
            "type": "object", "additionalProperties": False,
            "required": ["firstName", "lastName", "birthDate", "cdsCode", "cccid"],
            "properties": {
                "firstName": {"type": "string", "minLength": 1, "maxLength": FIRST_NAME_MAX},
                "lastName": {"type": "string", "minLength": 1, "maxLength": LAST_NAME_MAX},
                "birthDate": {"type": "string", "pattern": DATE_PATTERN, "format": "date"},
                "cdsCode": {"type": "string", "pattern": CDS_PATTERN, "minLength": CDS_LENGTH,
                            "maxLength": CDS_LENGTH,
                            "description": "High school CDS code: 2 county, 5 district, 7 school digits."},
                "cccid": {"type": "string", "pattern": CCCID_PATTERN, "maxLength": CCCID_MAX,
                          "description": "3 letters (no I or O), 4 digits, optional 8th character reserved "
                                         "for growth."},
                "ssid": {"type": "string", "pattern": SSID_PATTERN, "maxLength": SSID_MAX,
                         "description": "The SSID collected from the student, if any."},
            },
        },
        "LookupResponse": {
            "type": "object", "additionalProperties": False, "required": ["status", "cccid"],
            "properties": {
                "status": {"type": "string", "enum": [CONFIRMED, AMBIGUOUS, NOT_FOUND]},
                "cccid": {"type": "string", "pattern": CCCID_PATTERN},
                "ssid": {"type": "string", "maxLength": 32},
            },
            "if": {"properties": {"status": {"const": CONFIRMED}}},
            "then": {"required": ["ssid"]},
            "else": {"not": {"required": ["ssid"]}},
        },
        "VerificationRequest": {
            "type": "object", "additionalProperties": False, "required": ["ssid", "cccid", "enrolledOn"],
            "properties": {
                "ssid": {"type": "string", "pattern": SSID_PATTERN, "maxLength": SSID_MAX},
                "cccid": {"type": "string", "pattern": CCCID_PATTERN, "maxLength": CCCID_MAX},
                "enrolledOn": {"type": "string", "pattern": DATE_PATTERN, "format": "date"},
                "collegeCode": {"type": "string", "pattern": COLLEGE_PATTERN},
                "term": {"type": "string", "pattern": TERM_PATTERN, "maxLength": 16},
            },
        },
        "VerificationResponse": {
            "type": "object", "additionalProperties": False,
            "required": ["id", "ssid", "cccid", "enrolledOn", "alreadyRecorded", "recordedAt"],
            "properties": {
                "id": {"type": "string"},
                "ssid": {"type": "string", "description": "The active SSID the verification was recorded against."},
                "cccid": {"type": "string", "pattern": CCCID_PATTERN},
                "enrolledOn": {"type": "string", "format": "date"},
                "collegeCode": {"type": "string"},
                "term": {"type": "string"},
                "alreadyRecorded": {"type": "boolean",
                                    "description": "True when the same enrollment was verified before."},
                "recordedAt": {"type": "string", "format": "date-time"},
            },
        },
        "Problem": {
            "type": "object", "required": ["type", "title", "status", "detail", "correlationId"],
            "additionalProperties": False,
            "properties": {
                "type": {"type": "string", "enum": problem_kinds},
                "title": {"type": "string"},
                "status": {"type": "integer", "minimum": 400, "maximum": 599},
                "detail": {"type": "string"},
                "correlationId": {"type": "string", "maxLength": CORRELATION_MAX},
                "validationErrors": {
                    "type": "object", "minProperties": 1,
                    "propertyNames": {"pattern": r"^\$"},
                    "additionalProperties": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                    "description": "Every field error at once, keyed by JSON path ($.birthDate).",
                },
            },
        },
    }


def _headers() -> dict[str, Any]:
    return {
        "Correlation-Id": {"description": "The request's correlation id (the one sent, else a new one); it is "
                                          "in every log line and audit row of the request.",
                           "required": True, "schema": {"type": "string", "maxLength": CORRELATION_MAX}},
        "RateLimit-Policy": {"description": 'The client\'s quota, e.g. "hourly";q=5000;w=3600.',
                             "required": False, "schema": {"type": "string", "pattern": r'^"[a-z0-9-]+";q=\d+;w=\d+$'}},
        "RateLimit": {"description": 'What is left, e.g. "hourly";r=4999;t=1800 (remaining, seconds to reset).',
                      "required": False, "schema": {"type": "string", "pattern": r'^"[a-z0-9-]+";r=\d+;t=\d+$'}},
        "Retry-After": {"description": "Seconds to wait before trying again.", "required": True,
                        "schema": {"type": "string", "pattern": r"^\d+$"}},
        "WWW-Authenticate": {"description": "The authentication scheme expected (RFC 6750, RFC 7617).",
                             "required": False, "schema": {"type": "string"}},
        "Cache-Control-No-Store": {"description": "Token answers are never cached.", "required": True,
                                   "schema": {"type": "string", "pattern": "no-store"}},
        "Idempotent-Replayed": {"description": "Present (true) when this is the stored answer to an earlier "
                                               "request with the same Idempotency-Key.",
                                "required": False, "schema": {"type": "string", "enum": ["true"]}},
    }


def _parameters() -> dict[str, Any]:
    return {
        "Correlation-Id": {"name": CORRELATION_HEADER, "in": "header", "required": False,
                           "description": "A correlation id of your own (letters, digits, . _ : -); one is made "
                                          "when absent.",
                           "schema": {"type": "string", "maxLength": CORRELATION_MAX,
                                      "pattern": r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"}},
        "Idempotency-Key-Optional": {"name": IDEMPOTENCY_HEADER, "in": "header", "required": False,
                                     "description": "Optional: a retry with the same key gets the first answer.",
                                     "schema": {"type": "string", "maxLength": IDEMPOTENCY_MAX}},
        "Idempotency-Key": {"name": IDEMPOTENCY_HEADER, "in": "header", "required": True,
                            "description": "A unique key per verification (e.g. a UUID): a retry with the same key "
                                           "and body gets the first answer; the same key with another body is "
                                           "refused (422).",
                            "schema": {"type": "string", "maxLength": IDEMPOTENCY_MAX}},
    }


def document(server_url: str | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document (``server_url``: where this API is reached, for the servers list)."""
    form = "application/x-www-form-urlencoded"
    token_responses = {
        "200": {"description": "An access token.", "content": {"application/json": {"schema": _ref("TokenResponse")}},
                "headers": {CORRELATION_HEADER: _header("Correlation-Id"),
                            "Cache-Control": _header("Cache-Control-No-Store")}},
        "400": _oauth_error("invalid_request, unsupported_grant_type or invalid_scope (RFC 6749 §5.2)."),
        "401": _oauth_error("invalid_client: unknown client, wrong secret, or a revoked client.", www=True),
        "429": _oauth_error("invalid_request: the client holds as many live tokens as it may; reuse one, "
                            "revoke one, or wait Retry-After seconds.", retry=True),
        "default": _DEFAULT,
    }
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "SSID lookup API",
            "version": API_VERSION,
            "summary": "Look up a student's statewide student identifier (SSID) and post verification of "
                       "enrollment (CDE/CCCCO SSID Data Lookup).",
            "description": "OAuth 2.0 client credentials; HTTPS only; personal data only in request bodies, never "
                           "in URLs; errors as application/problem+json (RFC 9457); per-client hourly limits "
                           "(RateLimit headers); Idempotency-Key on POSTs that record anything; Correlation-Id "
                           "echoed.",
        },
        "paths": {
            DISCOVERY_PATH: {"get": {
                "operationId": "discover", "summary": "Version and the URLs of the token endpoint, the API and this "
                                                      "document.",
                "security": [], "parameters": [{"$ref": "#/components/parameters/Correlation-Id"}],
                "responses": {"200": _ok("Discovery document.", "Discovery"), "default": _DEFAULT}}},
            OPENAPI_PATH: {"get": {
                "operationId": "openApi", "summary": "This document.", "security": [],
                "responses": {"200": {"description": "The OpenAPI 3.1 document.",
                                      "headers": {CORRELATION_HEADER: _header("Correlation-Id")},
                                      "content": {"application/json": {"schema": {"type": "object",
                                                                                  "required": ["openapi"]}}}},
                              "default": _DEFAULT}}},
            TOKEN_PATH: {"post": {
                "operationId": "token", "summary": "Get an access token (client_credentials).",
                "security": [{"clientBasic": []}, {}],
                "description": "Authenticate with HTTP Basic (client id and secret) or with client_id and "
                               "client_secret in the body, not both. Tokens are opaque, expire after expires_in "
                               "seconds, and each client may hold a limited number at once.",
                "requestBody": {"required": True, "content": {form: {"schema": _ref("TokenRequest")}}},
                "responses": token_responses}},
            REVOKE_PATH: {"post": {
                "operationId": "revokeToken", "summary": "Revoke one of the client's access tokens (RFC 7009).",
                "security": [{"clientBasic": []}, {}],
                "requestBody": {"required": True, "content": {form: {"schema": _ref("RevokeRequest")}}},
                "responses": {
                    "200": {"description": "Revoked, or not a live token of this client (RFC 7009 §2.2).",
                            "headers": {CORRELATION_HEADER: _header("Correlation-Id")}},
                    "400": _oauth_error("invalid_request."),
                    "401": _oauth_error("invalid_client.", www=True),
                    "default": _DEFAULT}}},
            LOOKUP_PATH: {"post": {
                "operationId": "lookUpSsid", "summary": "Look up a student's SSID.",
                "description": "confirmed (with the SSID) only when the record matches one student automatically; "
                               "ambiguous when a person must decide; not_found otherwise. Never returns "
                               "demographics. The CDS code must belong to an organisation the client may see.",
                "security": [{"oauth2": ["ssid-lookup"]}],
                "parameters": [{"$ref": "#/components/parameters/Correlation-Id"},
                               {"$ref": "#/components/parameters/Idempotency-Key-Optional"}],
                "requestBody": {"required": True,
                                "content": {"application/json": {"schema": _ref("LookupRequest")}}},
                "responses": {"200": _ok("The lookup's outcome.", "LookupResponse", rate=True, replay=True),
                              **_api_errors(idempotent=False)}}},
            VERIFY_PATH: {"post": {
                "operationId": "verifyEnrollment", "summary": "Record a verification of enrollment.",
                "description": "For an SSID that a lookup by this client confirmed for this CCCID.",
                "security": [{"oauth2": ["enrollment-verification"]}],
                "parameters": [{"$ref": "#/components/parameters/Correlation-Id"},
                               {"$ref": "#/components/parameters/Idempotency-Key"}],
                "requestBody": {"required": True,
                                "content": {"application/json": {"schema": _ref("VerificationRequest")}}},
                "responses": {"201": _ok("Recorded.", "VerificationResponse", rate=True, replay=True),
                              **_api_errors(idempotent=True)}}},
        },
        "components": {
            "schemas": _schemas(),
            "headers": _headers(),
            "parameters": _parameters(),
            "securitySchemes": {
                "oauth2": {"type": "oauth2", "flows": {"clientCredentials": {
                    "tokenUrl": TOKEN_PATH, "scopes": {s: _SCOPE_TEXT.get(s, s) for s in SCOPES}}}},
                "clientBasic": {"type": "http", "scheme": "basic",
                                "description": "Client id and secret (token and revoke endpoints)."},
            },
        },
    }
    if server_url:
        doc["servers"] = [{"url": server_url}]
    return doc
