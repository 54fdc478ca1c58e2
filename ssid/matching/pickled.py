"""Pickling the matcher's frozen dataclasses (a Matcher travels to the batch planner processes).

Why: compiled with mypyc (``native``), a frozen dataclass is restored from a pickle by setting
its fields one by one, which its frozen ``__setattr__`` refuses. Each such class therefore
pickles as a call of its own constructor with its fields (``__reduce__``), which works the same
compiled or not, and runs ``__post_init__`` (its checks, its derived fields) again.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any


def rebuild(cls: type, values: dict[str, Any]) -> Any:
    return cls(**values)


def reduce_frozen(obj: Any) -> tuple[Any, ...]:
    """``__reduce__`` for a frozen dataclass: its constructor and its init fields' values."""
    return rebuild, (type(obj), {f.name: getattr(obj, f.name) for f in fields(obj) if f.init})


__all__ = ["rebuild", "reduce_frozen"]
