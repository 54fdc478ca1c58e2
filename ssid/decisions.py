"""Every decision the SSID database makes, with its explanation and its timing.

Why a table of its own: the audit records what *changed*; a lookup that matched, a potential
match or a refusal changes nothing, yet the issue asks for "an explanation stored with every
decision", and Supplement Three's response-time measure ("elapsed time from when a request
enters the system until the request has been satisfied") needs both ends of every request.
So each decision writes one row of ``ssid_decisions``:

* ``kind``: the channel (``slf``, ``batch``, ``api``, ``web``);
* ``request_key``: the SLF TransactionId, the batch row's key, the API's Idempotency-Key...;
* ``outcome``: ``match``, ``new``, ``potential``, ``none``, ``error``, or ``user_match`` /
  ``user_new`` / ``user_error`` when a person decided (those are left out of response times:
  a person takes the time they need);
* ``explanation``: JSON text, the matcher's explanation (``Decision.to_json()``) or a small
  object for decisions the matcher did not make (the fields that were missing, who picked
  which candidate). SSNs are masked as in the audit (last four digits), since explanations are
  read by more people than the record;
* ``explanation_z``: instead of ``explanation``, the same JSON text compressed (zstd, with a
  dictionary of explanation text: ``packed``) when it is longer than ``COMPRESS_OVER`` bytes: a
  lookup's explanation is 6 to 9 KB, 600 to 900 bytes compressed, and a batch file stores one per
  row (a million-row file: up to 9 GB of text, which SQLite, unlike PostgreSQL's TOAST, would store as it
  is, and the writer would write twice, to the WAL and to the database). Read either with
  ``stored_explanation(row)``;
* ``received_at`` / ``decided_at``: epoch seconds; ``received_at`` is None when the channel
  cannot tell when the request entered the system (it is then not timed, never guessed);
* ``correlation_id``: the batch job id, the SLF batch, the API's Correlation-Id.

Append-only like the audit: migration 5 makes the database refuse UPDATE, DELETE (and, on
PostgreSQL, TRUNCATE). ``decision_row`` is pure; ``record`` writes rows in the caller's
transaction, so a decision is stored exactly when the change it explains is committed.
"""

from __future__ import annotations

import functools
import itertools
import json
import threading
import zlib
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

import orjson
import zstandard

from sqlalchemy import Column, Float, Index, Integer, LargeBinary, String, Table, Text, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from .db.schema import metadata

KINDS = ("slf", "batch", "api", "web")
MATCH, NEW, POTENTIAL, NONE, ERROR = "match", "new", "potential", "none", "error"
USER_MATCH, USER_NEW, USER_ERROR = "user_match", "user_new", "user_error"
#: outcomes of a person's decision (user_error: their resolution could not be applied): no response times
USER_OUTCOMES = frozenset({USER_MATCH, USER_NEW, USER_ERROR})
#: the matcher's outcomes (ssid.matching.Outcome values) by their decision names
MATCHER_OUTCOMES = {"MATCH": MATCH, "POTENTIAL": POTENTIAL, "NO_MATCH": NONE}
OUTCOME_LENGTH = 16

decisions_t = Table(
    "ssid_decisions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(8), nullable=False),
    Column("request_key", String(128), nullable=True),
    Column("outcome", String(OUTCOME_LENGTH), nullable=False),
    Column("student_id", String(32), nullable=True),
    Column("explanation", Text, nullable=True),  # JSON text
    Column("explanation_z", LargeBinary, nullable=True),  # or that text compressed (``COMPRESS_OVER``)
    Column("received_at", Float, nullable=True),
    Column("decided_at", Float, nullable=False),
    Column("correlation_id", String(64), nullable=True),
    Index("ix_ssid_decisions_kind_decided", "kind", "decided_at"),
    Index("ix_ssid_decisions_request", "request_key"),
)


def _mask_ssn(value: Any) -> str:
    v = "".join(ch for ch in str(value or "") if ch.isalnum())
    return f"*****{v[-4:]}" if len(v) >= 4 else ("*****" if v else "")


_SCALARS = (int, float, bool, type(None))
#: every spelling of the key "ssn" (the test is case-blind); a set, as each key of each
#: explanation is tested
_SSN_KEYS = frozenset("".join(c) for c in itertools.product("sS", "sS", "nN"))


def _is_ssn_key(key: Any) -> bool:
    return key in _SSN_KEYS if type(key) is str else str(key).lower() == "ssn"


def masked(data: Any) -> Any:
    """A copy with every SSN (a key named ssn/SSN, or an SSN blocking key ``SSN|...``) masked.

    Every stored explanation goes through here (a batch file: each row), so plain values are
    settled in the loop over a container, without a call each."""
    kind = type(data)
    if kind is str:
        return "SSN|" + _mask_ssn(data[4:]) if data.startswith("SSN|") else data
    if kind in _SCALARS:
        return data
    if kind is dict or isinstance(data, Mapping):
        out = {}
        for k, v in data.items():
            if _is_ssn_key(k) and v not in (None, ""):
                out[k] = _mask_ssn(v)
            elif type(v) is str:
                out[k] = "SSN|" + _mask_ssn(v[4:]) if v.startswith("SSN|") else v
            elif type(v) in _SCALARS:
                out[k] = v
            else:
                out[k] = masked(v)
        return out
    if kind is list or kind is tuple or isinstance(data, (list, tuple)):
        return [v if type(v) in _SCALARS or (type(v) is str and not v.startswith("SSN|")) else masked(v)
                for v in data]
    if isinstance(data, str) and data.startswith("SSN|"):
        return "SSN|" + _mask_ssn(data[4:])
    return data


#: what ``Explanation.to_dict()`` holds, and the parts of it that can carry an SSN (the query, its
#: standardised form and the candidates' records by field name; blocking keys, also in found_by)
_EXPLANATION_KEYS = frozenset({"outcome", "student_id", "reason", "returned", "query", "standardized", "keys",
                               "candidates", "candidate_records", "candidates_scored", "incomplete", "thresholds",
                               "parameters_version"})


def _masked_record(record: Mapping[str, Any]) -> Any:
    """``masked(record)`` for a record of an explanation, which is itself when it holds no SSN:
    the common case, told without building a copy (a lookup's explanation holds seven records).
    A record with an SSN or of any other shape than field values and lists of them is masked."""
    if type(record) is not dict:
        return masked(record)
    for k, v in record.items():
        if type(k) is not str or (k in _SSN_KEYS and v not in (None, "")):
            return masked(record)
        kind = type(v)
        if kind is str:
            if v.startswith("SSN|"):
                return masked(record)
        elif kind is list:
            for x in v:
                if type(x) is not str or x.startswith("SSN|"):
                    return masked(record)
        elif kind not in _SCALARS:
            return masked(record)
    return record


def _masked_explanation(d: Mapping[str, Any]) -> dict[str, Any]:
    """``masked(d)`` for a matcher explanation, walking only the parts that can hold an SSN (a
    batch file stores one explanation per row; the rest is field scores and thresholds)."""
    out = dict(d)
    out["query"] = _masked_record(d["query"])
    out["standardized"] = _masked_record(d["standardized"])
    out["candidate_records"] = {sid: _masked_record(r) for sid, r in d["candidate_records"].items()}
    out["keys"] = [masked(k) if k["key"].startswith("SSN|") else k for k in d["keys"]]
    out["candidates"] = [masked(c) if any(k.startswith("SSN|") for k in c["found_by"]) else c
                         for c in d["candidates"]]
    return out


class EncodedJson(str):
    """Explanation text already made by ``explanation_json`` (e.g. in a batch planning process): kept as it is."""


class PackedJson(bytes):
    """Explanation text made by ``explanation_json`` and compressed (``packed``): stored as it is."""


#: UTF-8 bytes of explanation text above which it is stored compressed (``explanation_z``)
COMPRESS_OVER = 1024
#: the zstd dictionary new explanations are compressed with (``ssid/dictionaries/explanations-N.jsonl``)
DICTIONARY = 1
#: zstd level: with the dictionary, a lookup's explanation at ten million students (9.3 KB of JSON)
#: becomes 895 bytes in 18 microseconds, where zlib at level 1 made 1,775 in 50 (``benchmarks/RESULTS.md``)
COMPRESS_LEVEL = 3
_ZLIB = 0x78  # the first byte of a zlib stream (how explanations were compressed before the dictionary)


@functools.cache
def _dictionary(number: int) -> zstandard.ZstdCompressionDict:
    """Dictionary ``number``: explanation text zstd starts from, so the field names, levels and
    keys every explanation repeats cost a few bytes each rather than being spelt out in every row.
    It is three explanations of the synthetic population (``ssid.population``), taken as they are
    ("raw content"). A dictionary is never edited once released: what was compressed with it
    needs the same bytes to be read; a better one is added under the next number."""
    try:
        raw = resources.files("ssid").joinpath("dictionaries", f"explanations-{number}.jsonl").read_bytes()
    except FileNotFoundError:
        raise ValueError(f"explanation compressed with dictionary {number}, which this version does not have: "
                         "read it with the version of slf that wrote it, or a newer one") from None
    return zstandard.ZstdCompressionDict(raw, dict_type=zstandard.DICT_TYPE_RAWCONTENT)


_local = threading.local()  # zstd (de)compressors are not to be shared between threads


def _compressor() -> zstandard.ZstdCompressor:
    c = getattr(_local, "compressor", None)
    if c is None:
        c = _local.compressor = zstandard.ZstdCompressor(level=COMPRESS_LEVEL, dict_data=_dictionary(DICTIONARY))
    return c


def _decompressor(number: int) -> zstandard.ZstdDecompressor:
    found = getattr(_local, "decompressors", None)
    if found is None:
        found = _local.decompressors = {}
    if number not in found:
        found[number] = zstandard.ZstdDecompressor(dict_data=_dictionary(number))
    return found[number]


def packed(text: str | None) -> str | PackedJson | None:
    """Explanation text as it is stored: as it is (``EncodedJson``), or compressed when longer
    than ``COMPRESS_OVER`` bytes: the dictionary's number (one byte), then a zstd frame. A batch
    planner calls it, so the writer only stores the bytes."""
    if text is None or isinstance(text, PackedJson):
        return text
    data = text.encode()
    if len(data) <= COMPRESS_OVER:
        return EncodedJson(text)
    return PackedJson(bytes((DICTIONARY,)) + _compressor().compress(data))


def explanation_text(text: str | None, compressed: bytes | None) -> str | None:
    """The JSON text of a stored explanation, from its two columns (``explanation``, ``explanation_z``).
    ValueError: compressed bytes that are not an explanation."""
    if compressed is None:
        return text
    if not compressed:
        raise ValueError("a stored explanation cannot be read (no bytes)")
    try:
        if compressed[0] == _ZLIB:
            return zlib.decompress(compressed).decode()
        return _decompressor(compressed[0]).decompress(compressed[1:]).decode()
    except (zlib.error, zstandard.ZstdError, UnicodeDecodeError) as exc:
        raise ValueError(f"a stored explanation cannot be read ({exc})") from None


def stored_explanation(row: Mapping[str, Any]) -> Any:
    """The explanation of an ``ssid_decisions`` row (a mapping with both columns), decoded; None if it has none."""
    text = explanation_text(row.get("explanation"), row.get("explanation_z"))
    return None if text is None else json.loads(text)


def explanation_json(explanation: Any) -> str | None:
    """JSON text for the ``explanation`` column from a Decision/Explanation (``to_dict()``), a
    mapping, JSON text, or plain text; SSNs masked."""
    if explanation is None or isinstance(explanation, EncodedJson):
        return explanation
    if isinstance(explanation, PackedJson):
        return explanation_text(None, explanation)
    if hasattr(explanation, "to_dict"):
        data: Any = explanation.to_dict()
        if type(data) is dict and data.keys() == _EXPLANATION_KEYS:
            return _dumps(_masked_explanation(data))
    elif isinstance(explanation, Mapping):
        data = dict(explanation)
    elif isinstance(explanation, str):
        try:
            data = json.loads(explanation)
        except ValueError:
            data = {"text": explanation}
    else:
        raise TypeError(f"explanation must be a Decision, a mapping or text, not {type(explanation).__name__}")
    return _dumps(masked(data))


def _dumps(data: Any) -> str:
    """Compact JSON with sorted keys (orjson: UTF-8 text rather than ``\\u`` escapes)."""
    return orjson.dumps(data, default=str, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()


def outcome_of(decision: Any) -> str:
    """The decision name of a matcher Decision (or its Outcome): match, potential or none."""
    value = str(getattr(decision, "outcome", decision))
    try:
        return MATCHER_OUTCOMES[value]
    except KeyError:
        raise ValueError(f"{value!r} is not a matcher outcome ({', '.join(MATCHER_OUTCOMES)})") from None


def decision_row(kind: str, outcome: str, *, decided_at: float, request_key: str | None = None,
                 student_id: str | None = None, explanation: Any = None, received_at: float | None = None,
                 correlation_id: str | None = None) -> dict[str, Any]:
    """One ``ssid_decisions`` row (pure; checks what the database would only half check)."""
    if kind not in KINDS:
        raise ValueError(f"decision kind must be one of {', '.join(KINDS)}, not {kind!r}")
    outcome = str(outcome).strip().lower()
    if not outcome or len(outcome) > OUTCOME_LENGTH:
        raise ValueError(f"decision outcome must be 1 to {OUTCOME_LENGTH} characters (match, new, potential, none, "
                         f"error, user_match, user_new...), not {outcome!r}")
    if received_at is not None and received_at > decided_at:
        received_at = decided_at  # clocks of two machines: never a negative duration
    text = explanation if isinstance(explanation, PackedJson) else packed(explanation_json(explanation))
    return {"kind": kind, "request_key": request_key, "outcome": outcome, "student_id": student_id,
            "explanation": None if isinstance(text, PackedJson) else text,
            "explanation_z": text if isinstance(text, PackedJson) else None, "received_at": received_at,
            "decided_at": float(decided_at), "correlation_id": correlation_id}


async def record(conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (from ``decision_row``) in the caller's transaction, one executemany."""
    if rows:
        await conn.execute(insert(decisions_t), [dict(r) for r in rows])


async def find(conn: AsyncConnection, *, request_key: str | None = None, correlation_id: str | None = None,
               student_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The newest ``limit`` decisions matching every filter given, newest first, each a dict of
    its columns with ``explanation`` decoded (whichever column holds it) and no ``explanation_z``.
    An explanation that cannot be read (say, compressed by a newer version with a dictionary this
    one lacks) is ``{"unreadable": why}``: the other decisions are still listed."""
    d = decisions_t.c
    q = select(decisions_t).order_by(d.id.desc()).limit(limit)
    for column, value in ((d.request_key, request_key), (d.correlation_id, correlation_id),
                          (d.student_id, student_id)):
        if value is not None:
            q = q.where(column == value)
    out = []
    for row in (await conn.execute(q)).mappings().all():
        item = {k: v for k, v in row.items() if k != "explanation_z"}
        try:
            item["explanation"] = stored_explanation(row)
        except ValueError as exc:
            item["explanation"] = {"unreadable": str(exc)}
        out.append(item)
    return out


__all__ = ["COMPRESS_OVER", "EncodedJson", "ERROR", "PackedJson", "explanation_text", "packed", "stored_explanation", "KINDS", "MATCH", "NEW", "NONE", "POTENTIAL", "USER_ERROR", "USER_MATCH", "USER_NEW",
           "USER_OUTCOMES",
           "decision_row", "decisions_t", "explanation_json", "find", "masked", "outcome_of", "record"]
