"""State SSID database: ID issuance, matching, maintenance, audit, batch files, extracts.

* ``ids``          identifier profiles (Ohio 2 letters + 7 digits, CALPADS-style 10 digits), random
                   draws from ``secrets``, the issuer that claims IDs never used before
* ``catalogue``    the configured attribute catalogue: rules, code lists, required combinations
                   per task and user group; SSN never mandatory
* ``config``       the TOML configuration (conf/ssid.example.toml)
* ``records``      catalogue values → stored columns, matcher record, identity and blocking keys
* ``db``           engines, tables, migrations and database-side guards, the matcher's candidate source
* ``store``        reading students, issuing IDs, aliases, users and their limits
* ``audit``        the append-only audit trail
* ``maintenance``  modify, deactivate, reactivation request and approval
* ``csvlayout``    the batch-file layout (Supplement Two D)
* ``legacy``       ``slf ssid import-legacy``: the prior system's IDs, unaltered
* ``matching``     the pure matching engine; ``population`` the synthetic population generator
"""
