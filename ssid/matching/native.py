"""Which build of the matcher runs: the compiled one when it is present and current, else Python.

Why: ranking candidates is pure Python work that runs for every version of every candidate of
every lookup (about a hundred in a slow lookup at ten million students). ``setup.py`` compiles
the modules named in ``COMPILED``, unchanged, to C with mypyc when the project is installed:
the same source, the same arithmetic in the same order, about three times as fast. Nothing else
changes, so a machine without a C compiler runs the same modules as Python, only slower.

A compiled module sits beside its source and Python would import it first even after the
source was edited, so before the engine is imported ``choose`` checks the build against the
digests of the sources it was compiled from (``MANIFEST``; not file times, which an unpacked
wheel or a checkout sets as it pleases): when any source differs, when only some modules are
compiled, or when ``SLF_PURE_PYTHON`` is set, every one of them is imported from its source
(all or none: the compiled modules call each other directly, not through Python's imports).

Hot constructors: mypyc leaves a dataclass's generated ``__init__`` interpreted, and a frozen
one sets every field through ``object.__setattr__``: building a candidate's 21-field
``Standardized`` cost 2.5 µs, most of decoding it. The classes built once per candidate write
their ``__init__`` out (``object.__setattr__`` per field, which mypyc compiles to a plain store,
and which Python runs as the generated one does): about ten times as fast compiled, the same
object either way. ``tests/ssid_matching/test_native.py`` checks each against its fields.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import logging
import os
import sys
from pathlib import Path
from types import ModuleType

log = logging.getLogger(__name__)

#: the modules ``setup.py`` compiles (pure and typed; their classes have no instance ``__dict__`` compiled)
COMPILED = ("blocking", "compare", "decide", "engine", "explain", "nicknames", "phonetic", "romanized", "standardize",
            "weights")
#: set (to anything but "" or 0) to run the matcher as Python even where it is compiled
ENV = "SLF_PURE_PYTHON"
#: written beside the compiled modules by ``setup.py``: the SHA-256 of each source it compiled
MANIFEST = "compiled.json"

_HERE = Path(__file__).resolve().parent
_PACKAGE = __name__.rpartition(".")[0]


class _FromSource(importlib.abc.MetaPathFinder):
    """Imports the ``COMPILED`` modules from their ``.py`` files, ahead of any compiled build."""

    def find_spec(self, fullname: str, path: object = None, target: ModuleType | None = None
                  ) -> importlib.machinery.ModuleSpec | None:
        package, _, name = fullname.rpartition(".")
        if package != _PACKAGE or name not in COMPILED:
            return None
        return importlib.util.spec_from_file_location(fullname, _HERE / f"{name}.py")


#: ("compiled" or "python", why): what ``choose`` decided
STATE: tuple[str, str] = ("python", "not chosen yet")


def compiled_module(name: str, directory: Path = _HERE) -> Path | None:
    """The compiled build of one module beside its source, if there is one."""
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = directory / f"{name}{suffix}"
        if candidate.exists():
            return candidate
    return None


def source_digests(directory: Path = _HERE) -> dict[str, str]:
    """SHA-256 of each compiled module's source, as ``setup.py`` records them in ``MANIFEST``."""
    return {name: hashlib.sha256((directory / f"{name}.py").read_bytes()).hexdigest() for name in COMPILED}


def decide_build(directory: Path = _HERE, environ: os._Environ[str] | dict[str, str] = os.environ
                 ) -> tuple[str, str]:
    """("compiled" or "python", why) for the modules in ``directory``."""
    builds = {name: compiled_module(name, directory) for name in COMPILED}
    if not any(builds.values()):
        return "python", "not compiled (no C compiler or mypy when it was installed)"
    if environ.get(ENV, "") not in ("", "0"):
        return "python", f"{ENV} is set"
    again = "run `make venv` (or `pip install -e .`) to compile it again"
    missing = [name for name, so in builds.items() if so is None]
    if missing:
        return "python", f"only part of it is compiled ({', '.join(missing)} not): {again}"
    try:
        built = json.loads((directory / MANIFEST).read_text())["sources"]
    except (OSError, ValueError, KeyError, TypeError):
        return "python", f"the compiled build has no readable {MANIFEST}: {again}"
    now = source_digests(directory)
    stale = [name for name in COMPILED if built.get(name) != now[name]]
    if stale:
        return "python", f"{', '.join(f'{n}.py' for n in stale)} changed after it was compiled: {again}"
    return "compiled", "compiled with mypyc"


def choose() -> tuple[str, str]:
    """Decide once per process, before the engine is imported; import from source unless compiled."""
    global STATE
    if STATE[1] != "not chosen yet":
        return STATE
    STATE = decide_build()
    if STATE[0] == "python" and any(compiled_module(name) for name in COMPILED):
        if not any(isinstance(f, _FromSource) for f in sys.meta_path):
            sys.meta_path.insert(0, _FromSource())
        if ENV not in STATE[1]:
            log.warning("matcher: running as Python (slower): %s", STATE[1])
    return STATE


__all__ = ["COMPILED", "ENV", "MANIFEST", "STATE", "choose", "compiled_module", "decide_build", "source_digests"]
