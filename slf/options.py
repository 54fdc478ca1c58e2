"""Option types shared by the commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from dburl import DatabaseUrlError, async_url


class DatabaseParam(click.ParamType):
    """``--db``: a SQLAlchemy URL as users write it (``postgresql://…``, ``sqlite:///…``) or a
    SQLite file path (from the working directory); the async URL the processes run on."""

    name = "URL|FILE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            return async_url(str(value), Path.cwd())
        except DatabaseUrlError as exc:
            self.fail(str(exc), param, ctx)


DATABASE = DatabaseParam()
