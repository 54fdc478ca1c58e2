"""The REST lookup API's tables, on the shared ``ssid.db.schema.metadata`` (migration 3).

Why these tables, and why in the database rather than in memory: several API worker
processes share one database, so everything that must hold across them lives here.

* ``ssid_api_clients``: OAuth clients (client credentials). Only an argon2 hash of the secret
  is kept; the secret is shown once when the client is added or rotated. Each client carries
  its scopes, the organisations it may see (CDS code prefixes, ``*`` for all), its hourly
  request limit and its live-token cap (NULL: the API settings' defaults).
* ``ssid_api_tokens``: access tokens, opaque random strings stored only as SHA-256 hashes
  (a token has 256 bits of entropy, so a fast hash is enough), expiring and revocable.
* ``ssid_api_rate``: one counter per client and fixed hourly window, incremented with an
  upsert, so the limit holds whichever worker answers.
* ``ssid_api_idempotency``: the first successful answer to each (client, Idempotency-Key),
  with a fingerprint of the request, so a retry gets the same answer and a reused key with
  another body is refused.
* ``ssid_api_lookups``: the disclosure log: which client asked, when, the outcome and the
  SSID disclosed (never the names or birth date that were submitted).
* ``ssid_api_enrollments``: verifications of enrollment posted by clients.
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Float, ForeignKey, Index, Integer, String, Table, Text

from ..db.schema import metadata

clients_t = Table(
    "ssid_api_clients", metadata,
    Column("client_id", String(64), primary_key=True),
    Column("name", Text, nullable=False),
    Column("secret_hash", Text, nullable=False),
    Column("scopes", JSON, nullable=False),  # list of scope names
    Column("organisations", JSON, nullable=False),  # CDS code prefixes, or ["*"]
    Column("hourly_limit", Integer, nullable=True),  # NULL: ApiSettings.default_hourly_limit
    Column("token_cap", Integer, nullable=True),  # NULL: ApiSettings.default_token_cap
    Column("status", String(16), nullable=False),  # active | revoked
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("secret_rotated_at", Float, nullable=True),
    Column("revoked_at", Float, nullable=True),
)

tokens_t = Table(
    "ssid_api_tokens", metadata,
    Column("token_hash", String(64), primary_key=True),  # SHA-256 hex of the token
    Column("client_id", String(64), ForeignKey("ssid_api_clients.client_id"), nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("issued_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("revoked_at", Float, nullable=True),
    Column("correlation_id", String(64), nullable=True),
    Index("ix_ssid_api_tokens_client", "client_id", "expires_at"),
)

rate_t = Table(
    "ssid_api_rate", metadata,
    Column("client_id", String(64), primary_key=True),
    Column("window_start", Integer, primary_key=True),  # epoch seconds, a multiple of the window
    Column("count", Integer, nullable=False),
)

idempotency_t = Table(
    "ssid_api_idempotency", metadata,
    Column("client_id", String(64), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("fingerprint", String(64), nullable=False),  # SHA-256 of method, path and canonical body
    Column("status", Integer, nullable=True),  # NULL while the first request is being answered
    Column("body", Text, nullable=True),  # the answer's JSON text
    Column("created_at", Float, nullable=False),
    Column("correlation_id", String(64), nullable=True),
    Index("ix_ssid_api_idempotency_created", "created_at"),
)

lookups_t = Table(
    "ssid_api_lookups", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("client_id", String(64), nullable=False),
    Column("at", Float, nullable=False),
    Column("correlation_id", String(64), nullable=True),
    Column("outcome", String(16), nullable=False),  # confirmed | ambiguous | not_found
    Column("student_id", String(32), nullable=True),  # the SSID disclosed (confirmed only)
    Column("cccid", String(16), nullable=False),
    Column("cds_code", String(14), nullable=False),
    Index("ix_ssid_api_lookups_link", "client_id", "student_id", "cccid"),
)

enrollments_t = Table(
    "ssid_api_enrollments", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("client_id", String(64), nullable=False),
    Column("student_id", String(32), nullable=False),  # the SSID as posted
    Column("active_student_id", String(32), nullable=False),  # its active ID (itself unless deactivated)
    Column("cccid", String(16), nullable=False),
    Column("college_code", String(16), nullable=True),
    Column("term", String(16), nullable=True),
    Column("enrolled_on", String(10), nullable=False),  # YYYY-MM-DD
    Column("recorded_at", Float, nullable=False),
    Column("correlation_id", String(64), nullable=True),
    Column("idempotency_key", String(128), nullable=False),
    Column("new_fact", Boolean, nullable=False),  # first record of this enrollment: audited
    Index("ix_ssid_api_enrollments_student", "active_student_id", "cccid"),
)

API_TABLES = (clients_t, tokens_t, rate_t, idempotency_t, lookups_t, enrollments_t)
