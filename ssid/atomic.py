"""Files written whole or not at all: a reader (or a crash) never sees half of a result file."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def atomic_write(out: Path, **open_kw: Any) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``out`` for writing (text, ``open_kw`` as for ``open``); when
    the block ends without an error it is fsynced and renamed over ``out``, otherwise removed."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "w", **open_kw) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
