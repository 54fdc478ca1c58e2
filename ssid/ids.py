"""Student identifiers: the format of each profile, drawing new ones, and issuing them safely.

Why this shape (RFP 1.1, 1.21.4.1–1.21.4.5, 1.21.7.3):

* An identifier must say nothing about the child and must not be guessable from its
  neighbours, so new IDs are drawn uniformly at random from the whole profile space with the
  operating system's cryptographic source (``secrets``); never a counter, never a hash of
  attributes.
* An identifier may never repeat one that this system or any prior system ever used (legacy,
  retired, deactivated, reserved). Checking "is it free?" and then inserting is a race, so the
  issuer instead *claims* a drawn value through a callable the database supplies (an
  ``INSERT ... ON CONFLICT DO NOTHING`` into the registry of every ID ever seen, backed by its
  primary key): a claim either wins or the issuer draws again. This module stays free of any
  database code; tests inject both the random source and the claim.
* Formats are profiles chosen in configuration: Ohio (exactly 9 characters, 2 letters then 7
  digits, RFP 1.1) and a CALPADS-style 10-digit profile. No check digit: none is documented
  for either format, so none is invented. Legacy IDs keep working even when they do not fit
  the current profile (RFP 1.2–1.3): format checks apply to IDs this system *issues* and to
  IDs typed by users only where a caller asks for them.
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass

LETTERS = string.ascii_uppercase
DIGITS = string.digits

#: characters any identifier (legacy ones included) may contain: letters, digits, '-' and '_'
_ANY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
#: longest identifier accepted from outside (legacy systems included); a sanity cap, not a format
MAX_ID_LENGTH = 32


@dataclass(frozen=True)
class IdProfile:
    """A fixed-length identifier format: segments of (alphabet, count), read left to right."""

    name: str
    segments: tuple[tuple[str, int], ...]
    description: str

    def __post_init__(self) -> None:
        if not self.segments or any(n < 1 or len(set(a)) != len(a) or not a for a, n in self.segments):
            raise ValueError(f"id profile {self.name!r}: every segment needs a non-empty alphabet "
                             "without repeats and a count of at least 1")

    @property
    def length(self) -> int:
        return sum(n for _, n in self.segments)

    @property
    def space(self) -> int:
        """How many different identifiers the profile can produce."""
        size = 1
        for alphabet, n in self.segments:
            size *= len(alphabet) ** n
        return size

    @property
    def pattern(self) -> re.Pattern[str]:
        return re.compile("".join(f"[{re.escape(a)}]{{{n}}}" for a, n in self.segments))

    def example(self) -> str:
        return "".join(a[min(i, len(a) - 1)] for a, n in self.segments for i in range(n))

    def draw(self, randbelow: Callable[[int], int] = secrets.randbelow) -> str:
        """One identifier, each character drawn independently and uniformly."""
        return "".join(alphabet[randbelow(len(alphabet))] for alphabet, n in self.segments for _ in range(n))

    def problems(self, value: str) -> list[str]:
        """Why ``value`` is not an identifier of this profile (empty when it is)."""
        if value is None or value == "":
            return [f"the identifier is empty: give the {self.length}-character ID ({self.description})"]
        if len(value) != self.length:
            return [f"the identifier has {len(value)} characters; a {self.name} ID has exactly {self.length} "
                    f"({self.description}, e.g. {self.example()})"]
        out = []
        pos = 0
        for alphabet, n in self.segments:
            part = value[pos:pos + n]
            if any(ch not in alphabet for ch in part):
                kind = ("capital letters" if set(alphabet) <= set(LETTERS)
                        else "digits" if set(alphabet) <= set(DIGITS) else f"characters from {alphabet!r}")
                out.append(f"characters {pos + 1}–{pos + n} must be {kind} ({self.description}, "
                           f"e.g. {self.example()})")
            pos += n
        return out

    def is_valid(self, value: str) -> bool:
        return not self.problems(value)


OHIO = IdProfile("ohio", ((LETTERS, 2), (DIGITS, 7)), "2 capital letters then 7 digits")
# 10 digits, the first never 0: spreadsheets silently drop a leading zero and the ID would change.
CALPADS = IdProfile("calpads", (("123456789", 1), (DIGITS, 9)), "10 digits, the first not 0")

PROFILES: Mapping[str, IdProfile] = {p.name: p for p in (OHIO, CALPADS)}


def profile_from_config(value: str | Mapping | None) -> IdProfile:
    """A built-in profile by name, or a custom one: ``{name, description, segments=[[alphabet, n], ...]}``."""
    if value is None:
        return OHIO
    if isinstance(value, str):
        try:
            return PROFILES[value]
        except KeyError:
            raise ValueError(f"unknown id_profile {value!r}: use one of {', '.join(sorted(PROFILES))} "
                             "or a table with name, description and segments") from None
    try:
        segments = tuple((str(a), int(n)) for a, n in value["segments"])
        return IdProfile(str(value["name"]), segments, str(value.get("description") or value["name"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"id_profile: {exc}; write e.g. segments = [[\"ABCDEFGHJKLMNPQRSTUVWXYZ\", 2], "
                         "[\"0123456789\", 7]]") from None


def clean_id(value: str | None) -> str:
    """An identifier as typed, without surrounding spaces; letters upper-cased."""
    return (value or "").strip().upper()


def id_problems(value: str | None) -> list[str]:
    """Problems of an identifier given from outside (any system's, legacy ones included)."""
    v = (value or "").strip()
    if not v:
        return ["the StudentID is empty: give the student's existing identifier"]
    if len(v) > MAX_ID_LENGTH:
        return [f"the StudentID has {len(v)} characters; at most {MAX_ID_LENGTH} are accepted"]
    if not _ANY_ID.fullmatch(v):
        return ["the StudentID may contain only letters, digits, '-' and '_' (no spaces or punctuation)"]
    if v != v.upper():
        # IDs are kept exactly as given and compared in capitals: "ab1234567" and "AB1234567" must
        # not become two IDs, and silently upper-casing would alter the prior system's ID
        return ["the StudentID has lower-case letters: IDs are kept exactly as given and compared in capitals; "
                "write it in capitals if that is the ID"]
    return []


class IdSpaceExhausted(RuntimeError):
    """Every draw collided: the profile is (nearly) full or the random source is broken."""


Claim = Callable[[str], Awaitable[bool]]


class IdIssuer:
    """Draws identifiers and claims them until one claim wins.

    ``claim(candidate)`` must atomically record the candidate as used and return True, or
    return False when it was already used (by anyone, at any time). With the Ohio space
    (6.76 billion) and a few million used IDs a collision is rare (about 1 in 1,700 draws at 4
    million); ``max_attempts`` only guards against a broken source or a full space.
    """

    def __init__(self, profile: IdProfile = OHIO, randbelow: Callable[[int], int] = secrets.randbelow,
                 max_attempts: int = 100) -> None:
        self.profile = profile
        self.randbelow = randbelow
        self.max_attempts = max_attempts
        self.collisions = 0  # draws lost to an already used ID (a metric)

    async def issue(self, claim: Claim) -> str:
        for _ in range(self.max_attempts):
            candidate = self.profile.draw(self.randbelow)
            if await claim(candidate):
                return candidate
            self.collisions += 1
        raise IdSpaceExhausted(f"no free {self.profile.name} identifier after {self.max_attempts} draws: "
                               "the random source repeats itself or the identifier space is full")


def draw_many(profile: IdProfile, n: int, randbelow: Callable[[int], int] = secrets.randbelow,
              exclude: Iterable[str] = ()) -> list[str]:
    """``n`` distinct identifiers not in ``exclude`` (synthetic data and tests; no database)."""
    taken = set(exclude)
    out: list[str] = []
    while len(out) < n:
        c = profile.draw(randbelow)
        if c not in taken:
            taken.add(c)
            out.append(c)
    return out
