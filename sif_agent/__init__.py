"""SIF agent runtime: registration, provisioning, pull loop, acknowledgement, handlers."""
