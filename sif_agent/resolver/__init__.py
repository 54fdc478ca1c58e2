"""Student Resolver agent (state side): StudentLocator requests ⇄ the SLF integration tables.

Modules, one job each (Supplement Four chapter 2 is the seed):

* ``status``      N_SLF_STATUS codes 1–13 and the "Summary of States" transition table (pure)
* ``tables``      SLF_BATCH, SLF_TRANSACTION_PARMS, SLF_POTENTIAL_MATCH, SLF_ERROR_LOG (+ the request log)
* ``migrations``  versioned creation/changes of those tables on SQLite and PostgreSQL
* ``db``          engines (SQLite pragmas and BEGIN IMMEDIATE; PostgreSQL)
* ``inbound``     a StudentLocator request (SIF_Example or conditions) → column values
                  (paths read with ``sif_agent.sifpath``, shared with the locator's mappings)
* ``outbound``    rows → the StudentLocator answer (Valid, Ambiguous, Error, Cancelled) (pure)
* ``store``       recording requests, claiming rows to answer, completing them
* ``wakeup``      PostgreSQL LISTEN and prompt wake-ups
* ``agent``       ``ResolverAgent``: the runtime's request handler and the poller
* ``config``      the resolver's TOML settings
"""
