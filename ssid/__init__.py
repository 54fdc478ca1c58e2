"""State SSID database: ID issuance, matching, maintenance, audit, batch files, extracts."""
