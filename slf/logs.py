"""Readable logs for every process: rich on a terminal, plain lines otherwise."""

from __future__ import annotations

import logging
import sys


def setup(level: str = "INFO") -> None:
    if sys.stderr.isatty():
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(show_path=False, rich_tracebacks=True)
        fmt = "%(message)s"
    else:
        handler = logging.StreamHandler()
        fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=level.upper(), format=fmt, handlers=[handler], force=True)
    if logging.getLogger().level > logging.DEBUG:
        # one line per HTTP exchange (every pull) drowns what matters; --log-level DEBUG shows them
        for noisy in ("httpx", "httpcore"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
