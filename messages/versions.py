"""SIF 2.x versions: which ones we speak, ordering, wildcards and negotiation."""

from __future__ import annotations

import re

from .errors import quote, unsupported_version

#: Every version this implementation reads and writes, oldest first. "2.0" is the
#: unofficial pre-release label some SIFWorks-era agents still send.
SUPPORTED: tuple[str, ...] = ("2.0", "2.0r1", "2.1", "2.2", "2.3", "2.4", "2.5", "2.6")
LATEST = "2.6"
DEFAULT = "2.0r1"  # the version the Student Locator Framework was written for

_VERSION_RE = re.compile(r"^(\d+)\.(\d+)(?:r(\d+))?$")
_PATTERN_RE = re.compile(r"^(\*|\d+\.\*|\d+\.\d+(?:r(?:\d+|\*))?|\d+\.\d+\*)$")


def key(version: str) -> tuple[int, int, int]:
    """Sort key: '2.0r1' -> (2, 0, 1)."""
    m = _VERSION_RE.match(version)
    if not m:
        raise ValueError(f"not a SIF version: {version!r}")
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


def is_version(text: str) -> bool:
    return bool(_VERSION_RE.match(text))


def is_pattern(text: str) -> bool:
    """A concrete version or a wildcard ('*', '2.*', '2.0r*')."""
    return bool(_PATTERN_RE.match(text))


def matches(pattern: str, version: str) -> bool:
    """Does a SIF_Version value (possibly a wildcard) admit this concrete version?"""
    if pattern == version:
        return True
    if "*" not in pattern:
        return False
    prefix = pattern[: pattern.index("*")]
    return version.startswith(prefix)


def check_supported(version: str) -> str:
    """Return the version, or raise 12/3 naming the versions we accept."""
    if version not in SUPPORTED:
        raise unsupported_version(
            f"SIF version {quote(version)} is not supported; use one of {', '.join(SUPPORTED[1:])}",
            element="SIF_Message/@Version",
        )
    return version


def negotiate(offered: tuple[str, ...] | list[str], supported: tuple[str, ...] = SUPPORTED) -> str | None:
    """Pick the version to speak with a peer that lists ``offered`` (most preferred first).

    The first offered entry that admits any version we support wins; a wildcard
    takes the newest version it admits. None when nothing matches.
    """
    ordered = sorted(supported, key=key, reverse=True)
    for pattern in offered:
        pattern = pattern.strip()
        for version in ordered:
            if matches(pattern, version):
                return version
    return None


def admitted(offered: tuple[str, ...] | list[str], version: str) -> bool:
    """True when ``version`` is admitted by any entry of a SIF_Version list."""
    return any(matches(p.strip(), version) for p in offered)
