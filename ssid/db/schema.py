"""The SSID tables (SQLAlchemy Core, the same on SQLite and PostgreSQL).

Why these tables:

* ``ssid_ids`` is the registry of **every identifier ever seen** (issued here, loaded from the
  prior system, reserved, retired) with the identifier as primary key. Issuing a new ID is an
  insert here that must not conflict, so "never reuse an ID" is a database constraint, not a
  hope (RFP 1.21.3, 1.21.4.1–1.21.4.2). Rows are never updated or deleted (triggers).
* ``ssid_students``: one row per student ID; the five core attributes the matcher and the
  duplicate rule need are columns, the rest of the configured catalogue lives in a JSON
  column (attributes come and go by configuration, RFP 1.21.1.2.3). Attribute text is stored
  unbounded: field lengths are a catalogue rule that can grow (RFP 1.30). ``identity_key`` is
  the normalised (last, first, middle, birth date, gender), indexed for the "never create a
  duplicate" rule. Status is active or deactivated; a row is never deleted and its
  ``student_id`` never changes (triggers).
* ``ssid_aliases``: every version of a student's matching attributes ever submitted (names,
  birth date...), with its standardised form, so a student is found under any of them.
* ``ssid_block_keys``: the matcher's blocking keys (``ssid.matching.blocking.record_keys``) of
  every alias, clustered by key, with gender and first initial for narrowing a large block.
* ``ssid_name_counts``: how many stored versions carry each first and last name (the matcher's
  term frequencies), kept by every writer; see ``ssid.db.namecounts``.
* ``ssid_deactivations``: who, from which district, when, why, and the surviving ID.
* ``ssid_reactivations``: requests to reactivate and the state's decision (a different user).
* ``ssid_audit``: append-only; the seed's audit fields (Supplement Two C) plus the forced-new
  flag (RFP 1.21.8.1) and a correlation id.
* ``ssid_users``: who may act, their district, group, roles and whether they are limited.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON, Boolean, Column, Float, ForeignKey, Index, Integer, MetaData, SmallInteger, String, Table, Text,
    UniqueConstraint, text,
)

metadata = MetaData()

ID_KINDS = ("issued", "legacy", "reserved", "retired")
ACTIVE, DEACTIVATED = "active", "deactivated"

ids_t = Table(
    "ssid_ids", metadata,
    Column("student_id", String(32), primary_key=True),
    Column("kind", String(16), nullable=False),  # issued | legacy | reserved | retired
    Column("source", String(64), nullable=True),  # import job, "issue", reservation note
    Column("at", Float, nullable=False),
    sqlite_with_rowid=False,  # the ID is the row: one B-tree, not a table plus an index
)

students_t = Table(
    "ssid_students", metadata,
    Column("student_id", String(32), ForeignKey("ssid_ids.student_id"), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("first_name", Text, nullable=True),
    Column("middle_name", Text, nullable=True),
    Column("last_name", Text, nullable=True),
    Column("birth_date", String(10), nullable=True),  # YYYY-MM-DD
    Column("gender", Text, nullable=True),
    Column("attributes", JSON, nullable=False),  # the other catalogue attributes
    Column("identity_key", Text, nullable=False),
    Column("district_irn", String(16), nullable=True),  # where the student was first registered
    Column("building_irn", String(16), nullable=True),
    Column("created_by", String(64), nullable=True),
    Column("created_at", Float, nullable=False),  # the prior system's DateTimeCreated for legacy IDs
    Column("updated_at", Float, nullable=False),
    Column("origin", String(16), nullable=False),  # issued | legacy
    Column("import_job", String(64), nullable=True),
    Column("user_defined", Text, nullable=True),  # a legacy file's UserDefined field
    Column("request_key", String(128), nullable=True),  # TransactionId / Idempotency-Key
    Column("row_version", Integer, nullable=False),
    Index("ix_ssid_students_identity", "identity_key"),
    # a student's status by ID, answered from this index alone (batch plans check the students they rest on)
    Index("ix_ssid_students_status", "student_id", "status"),
    # unique where given; legacy and most rows have none, and a partial index costs them nothing
    Index("uq_ssid_students_request_key", "request_key", unique=True,
          sqlite_where=text("request_key IS NOT NULL"), postgresql_where=text("request_key IS NOT NULL")),
)

aliases_t = Table(
    "ssid_aliases", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("student_id", String(32), ForeignKey("ssid_students.student_id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("record", JSON, nullable=False),  # the matcher's StudentRecord as submitted
    Column("std", JSON, nullable=False),  # its Standardized form: a list in records.STD_FIELDS order
    Column("source", String(16), nullable=False),  # legacy | issue | modify | match | batch | slf
    Column("at", Float, nullable=False),
    UniqueConstraint("student_id", "version", name="uq_ssid_alias_version"),
)

#: every lookup candidate's standardised record, read from an index alone (one B-tree search per
#: candidate instead of an index and then the table row). Created by migration 8 and by initial
#: loads (``bulkload``), with DDL per dialect: PostgreSQL cannot put a JSON column in an index key
#: (it has no btree operator class), it carries it as an INCLUDE column instead.
ALIAS_STD_INDEX = "ix_ssid_aliases_std"


def alias_std_index_ddl(dialect: str) -> str:
    cols = "(student_id, version) INCLUDE (std)" if dialect == "postgresql" else "(student_id, version, std)"
    return f"CREATE INDEX IF NOT EXISTS {ALIAS_STD_INDEX} ON ssid_aliases {cols}"


block_keys_t = Table(
    "ssid_block_keys", metadata,
    Column("key", String(96), primary_key=True),
    Column("student_id", String(32), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("gender", String(8), nullable=False),
    Column("first_initial", String(1), nullable=False),
    # YLF keys: the birth month * 100 + day their rule compares (ssid.matching.blocking); else NULL
    Column("month_day", SmallInteger, nullable=True),
    sqlite_with_rowid=False,  # clustered by key: a block is one range scan
)  # active students only: ssid.db.lookup_index

name_counts_t = Table(
    "ssid_name_counts", metadata,
    Column("field", String(16), primary_key=True),  # first_name | last_name
    Column("value", Text, primary_key=True),  # the standardised value (Standardized.first_key / last_key)
    Column("n", Integer, nullable=False),  # stored versions (aliases) carrying it; only ever grows
    sqlite_with_rowid=False,  # clustered by (field, value): a lookup is one B-tree search
)

deactivations_t = Table(
    "ssid_deactivations", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("student_id", String(32), ForeignKey("ssid_students.student_id"), nullable=False, index=True),
    Column("surviving_id", String(32), ForeignKey("ssid_students.student_id"), nullable=False, index=True),
    Column("reason", Text, nullable=False),
    Column("user_id", String(64), nullable=False),
    Column("district_irn", String(16), nullable=True),
    Column("at", Float, nullable=False),
    Column("batch_job_id", String(64), nullable=True),
    Column("via_slf", Boolean, nullable=False),
)

reactivations_t = Table(
    "ssid_reactivations", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("student_id", String(32), ForeignKey("ssid_students.student_id"), nullable=False, index=True),
    Column("reason", Text, nullable=False),
    Column("requested_by", String(64), nullable=False),
    Column("requester_district", String(16), nullable=True),
    Column("requested_at", Float, nullable=False),
    Column("status", String(16), nullable=False),  # pending | approved | rejected
    Column("decided_by", String(64), nullable=True),
    Column("decided_at", Float, nullable=True),
    Column("decision_note", Text, nullable=True),
)

audit_t = Table(
    "ssid_audit", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),  # date/time of the change (UTC epoch seconds)
    Column("change_type", String(32), nullable=False),
    Column("student_id", String(32), nullable=True),
    Column("old_values", JSON, nullable=True),
    Column("new_values", JSON, nullable=True),
    Column("batch_job_id", String(64), nullable=True),  # blank if made online
    Column("user_id", String(64), nullable=True),
    Column("user_district", String(16), nullable=True),
    Column("via_slf", Boolean, nullable=False),  # did it come through the SLF
    Column("forced_new", Boolean, nullable=False),  # a new ID issued past offered matches
    Column("correlation_id", String(64), nullable=True),
    Column("detail", JSON, nullable=True),  # reason, surviving ID, request id...
    Index("ix_ssid_audit_student", "student_id", "id"),
    Index("ix_ssid_audit_at", "at"),
    Index("ix_ssid_audit_user", "user_id", "change_type"),
)

users_t = Table(
    "ssid_users", metadata,
    Column("user_id", String(64), primary_key=True),
    Column("name", Text, nullable=True),
    Column("district_irn", String(16), nullable=True),
    Column("building_irn", String(16), nullable=True),
    Column("user_group", String(64), nullable=True),  # the catalogue's user group (required attributes)
    Column("roles", JSON, nullable=False),
    Column("status", String(16), nullable=False),  # active | limited | suspended
    Column("forced_new_limit", Integer, nullable=True),  # forced new IDs allowed per day while limited
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
)

version_t = Table(
    "ssid_schema_version", metadata,
    Column("version", Integer, primary_key=True),
    Column("description", Text, nullable=False),
    Column("applied_at", Float, nullable=False),
)

#: tables rows are never deleted from; ``ssid_ids``, ``ssid_aliases``, ``ssid_deactivations`` and
#: ``ssid_audit`` rows are never updated either (see migrations)
NO_DELETE = ("ssid_ids", "ssid_students", "ssid_aliases", "ssid_deactivations", "ssid_reactivations", "ssid_audit",
             "ssid_users")
NO_UPDATE = ("ssid_ids", "ssid_aliases", "ssid_deactivations", "ssid_audit")
