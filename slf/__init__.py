"""The `slf` command line: one entry point, one sub-group per process."""
