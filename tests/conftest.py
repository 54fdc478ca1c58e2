"""Suite-wide: what a hanging test was waiting for.

pytest-timeout (``timeout`` in pyproject.toml) fails a test that runs too long, with every
thread's stack. For an asyncio test that stack ends in the event loop's ``select``, which
says nothing; so shortly before the timeout this prints the stack of every task of every
running event loop. Both land in the test's captured output, in the failure report.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import threading

import pytest

#: seconds before the timeout at which the tasks are printed
AHEAD = 30.0


def _print_tasks(name: str) -> None:
    loops = [o for o in gc.get_objects() if isinstance(o, asyncio.AbstractEventLoop) and o.is_running()]
    print(f"\n~~~ {name} is about to time out; asyncio tasks of {len(loops)} running loop(s):", file=sys.stdout)
    for loop in loops:
        for task in list(asyncio.all_tasks(loop)):
            print(f"--- {task!r}", file=sys.stdout)
            task.print_stack(file=sys.stdout)
    sys.stdout.flush()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    limit = float(item.config.getini("timeout") or 0)
    marker = item.get_closest_marker("timeout")
    if marker is not None and marker.args:
        limit = float(marker.args[0])
    timer = None
    if limit > AHEAD:
        timer = threading.Timer(limit - AHEAD, _print_tasks, args=(item.nodeid,))
        timer.daemon = True
        timer.start()
    try:
        yield
    finally:
        if timer is not None:
            timer.cancel()
