"""Compiles the matcher's hot modules with mypyc when the project is installed (pyproject.toml has the rest).

The modules are compiled from their own sources, unchanged (``ssid/matching/native.py`` names
them and chooses which build runs). Where the compiler or mypy is missing or the build fails,
the install goes on and the matcher runs as Python, slower and otherwise the same; set
``SLF_PURE_PYTHON=1`` to skip compiling.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "ssid" / "matching"))
from native import COMPILED, ENV, MANIFEST, source_digests  # noqa: E402  (beside the modules it names)

sys.path.pop(0)


def _say(text: str) -> None:
    print(f"student-locator: {text}", file=sys.stderr, flush=True)


class OptionalBuildExt(build_ext):
    """A failed compilation leaves the matcher as Python instead of failing the install; a
    complete one writes ``MANIFEST`` beside the compiled modules (the digests of their sources)."""

    failed = False

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001 - any compiler failure: Python stays
            _say(f"the matcher could not be compiled ({exc}); it runs as Python (slower)")
            return
        if self.extensions and not self.failed:
            target = Path(self.get_ext_fullpath(f"ssid.matching.{COMPILED[0]}")).parent
            target.mkdir(parents=True, exist_ok=True)
            digests = source_digests(HERE / "ssid" / "matching")
            (target / MANIFEST).write_text(json.dumps({"sources": digests}, indent=1) + "\n")

    def build_extension(self, ext) -> None:  # type: ignore[no-untyped-def]
        try:
            super().build_extension(ext)
        except Exception as exc:  # noqa: BLE001
            self.failed = True
            _say(f"{ext.name} could not be compiled ({exc}); the matcher runs as Python (slower)")


def ext_modules() -> list:
    if os.environ.get(ENV, "") not in ("", "0"):
        _say(f"{ENV} is set: the matcher is not compiled")
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        _say("mypy is not installed: the matcher is not compiled (it runs as Python, slower)")
        return []
    paths = ["--ignore-missing-imports", *(f"ssid/matching/{name}.py" for name in COMPILED)]
    try:
        return mypycify(paths, opt_level="3", group_name="ssid_matching")
    except BaseException as exc:  # noqa: BLE001 - mypy's type check refuses: Python stays (SystemExit too)
        _say(f"mypyc refused the matcher ({exc}); it runs as Python (slower)")
        return []


setup(ext_modules=ext_modules(), cmdclass={"build_ext": OptionalBuildExt})
