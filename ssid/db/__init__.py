"""Storage of the SSID database: engines, tables, migrations (SQLAlchemy Core, SQLite or PostgreSQL).

* ``engine``      engines with SQLite pragmas and write transactions that take the lock up front
* ``schema``      the tables: ID registry, students, alias history, blocking keys, deactivations,
                  reactivation requests, append-only audit, users
* ``migrations``  the numbered migration runner and the database-side guards (triggers)
* ``candidates``  the matcher's CandidateSource over the blocking-key table
"""
