"""The web UI's own tables, on the SSID schema's metadata (created by migration 4).

Why each exists:

* ``ssid_web_passwords``: one argon2 hash per user (never the password). Kept apart from
  ``ssid_users`` so the store's user rows stay what the CLI, batch files and API share.
* ``ssid_web_sessions``: server-side sessions keyed by the SHA-256 of the cookie's token, so a
  copy of the table does not let anyone sign in. A session ends by idle time, by absolute
  time or by revocation (sign-out, an administrator, a suspension); revoked rows are kept.
  ``flash`` carries one message to the next page after a POST-redirect-GET.
* ``ssid_web_logins``: every sign-in attempt (user id as typed, address, outcome), for
  throttling per user and per address and for the administrators' review.
* ``ssid_web_scopes``: further districts and buildings a user serves besides the district and
  building of its ``ssid_users`` row (an ITC operator serves several districts).
* ``ssid_web_activity``: what people did in the web UI that the SSID audit does not record by
  itself (sign-in, sign-out, searches, record views, potential-match decisions, session
  revocations), with the acting user and district; no student personal data.
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Float, Index, Integer, String, Table, Text

from ..db.schema import metadata

passwords_t = Table(
    "ssid_web_passwords", metadata,
    Column("user_id", String(64), primary_key=True),
    Column("hash", Text, nullable=False),
    Column("changed_at", Float, nullable=False),
    Column("changed_by", String(64), nullable=True),
)

sessions_t = Table(
    "ssid_web_sessions", metadata,
    Column("token_hash", String(64), primary_key=True),  # hex SHA-256 of the cookie's token
    Column("user_id", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
    Column("address", String(64), nullable=True),
    Column("revoked_at", Float, nullable=True),
    Column("revoked_why", String(64), nullable=True),  # sign-out | suspended | administrator USER
    Column("flash", Text, nullable=True),
    Index("ix_ssid_web_sessions_user", "user_id"),
)

logins_t = Table(
    "ssid_web_logins", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("user_id", String(64), nullable=False),  # as typed (may name no user)
    Column("address", String(64), nullable=False),
    Column("ok", Boolean, nullable=False),
    Index("ix_ssid_web_logins_user", "user_id", "at"),
    Index("ix_ssid_web_logins_address", "address", "at"),
)

scopes_t = Table(
    "ssid_web_scopes", metadata,
    Column("user_id", String(64), primary_key=True),
    Column("district_irn", String(16), primary_key=True),  # "" when only a building is bound
    Column("building_irn", String(16), primary_key=True),  # "" for the whole district
    Column("added_at", Float, nullable=False),
    Column("added_by", String(64), nullable=True),
)

activity_t = Table(
    "ssid_web_activity", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("user_id", String(64), nullable=False),
    Column("user_district", String(16), nullable=True),
    Column("action", String(32), nullable=False),
    Column("student_id", String(32), nullable=True),
    Column("transaction_id", String(64), nullable=True),
    Column("detail", JSON, nullable=True),
    Index("ix_ssid_web_activity_user", "user_id", "id"),
)

WEB_TABLES = (passwords_t, sessions_t, logins_t, scopes_t, activity_t)
