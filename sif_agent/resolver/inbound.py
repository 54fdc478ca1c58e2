"""Reading a StudentLocator SIF_Request into the values of the SLF columns.

Why one reader for both query forms: a locator sends either ``SIF_Query/SIF_Example`` (a
StudentLocator) or ``SIF_ConditionGroup`` with one EQ condition per populated path
(``@IdStatus``, ``@TransactionId``, ``Name[@Type="04"]/LastName`` ...; OpenADK agents can
only send this form). The conditions are folded into a StudentLocator element with the
same paths, so every column is then read from one element by its path, whichever form came.

What goes back to the requester at once (never into the tables):

* a request the resolver cannot read → ``SIFError`` 8/9 (unsupported query) or 8/15
  (SIF_ExtendedQuery), answered by the runtime as SIF_Response/SIF_Error;
* values the tables cannot hold (longer than the column, a birth date that is not a date,
  a code a state-side table rejects) → ``Incoming.problems``; the agent answers a
  StudentLocator IdStatus Error naming them, so the district can correct its data.

Whether the data are *sufficient* is the SSID database's decision (status 10), not ours.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from lxml import etree

from messages import NS, Request, SIFError
from messages.codes import ErrorCategory, RequestResponseCode
from messages.objects import IdStatus, is_transaction_id

from ..codetables import CodeTable, UnknownCode, translate
from ..sifpath import PathError, first, parse_path, put
from .tables import AttributeColumn

#: IdStatus values a district sends (the others are the state's answers)
DISTRICT_SIDE = (IdStatus.REQUEST, IdStatus.RELEASE, IdStatus.RESOLVE, IdStatus.NEW, IdStatus.CANCEL)


@dataclass(frozen=True)
class Incoming:
    """One StudentLocator request as the store needs it."""

    id_status: IdStatus
    transaction_id: str
    #: StateProvinceId: pre-filled for validation (Request), the picked candidate (Resolve)
    state_province_id: str | None
    #: SLF_TRANSACTION_PARMS attribute columns (configured ones included) → stored value
    parms: Mapping[str, str | None] = field(default_factory=dict)
    #: SLF_BATCH per-batch values (SCHOOL_YR, DISTRICT_CODE, SCHOOL_CODE) → stored value
    batch: Mapping[str, str | None] = field(default_factory=dict)
    batch_num: str | None = None
    #: values that cannot be stored, worded for the district
    problems: tuple[str, ...] = ()

    @property
    def request_type(self) -> str:
        return "Release" if self.id_status is IdStatus.RELEASE else "Request"


def _unsupported(text: str) -> SIFError:
    return SIFError(ErrorCategory.REQUEST_RESPONSE, RequestResponseCode.UNSUPPORTED_QUERY, text)


def _element(request: Request) -> etree._Element:
    """The request as one StudentLocator element, from SIF_Example or from the conditions."""
    query = request.simple_query()  # 8/15 for SIF_ExtendedQuery
    if query.object_name != "StudentLocator":
        raise SIFError(ErrorCategory.REQUEST_RESPONSE, RequestResponseCode.INVALID_OBJECT,
                       f"This responder answers StudentLocator requests, not {query.object_name}")
    if query.example is not None:
        el = query.example.view()
        if etree.QName(el).localname != "StudentLocator":
            raise _unsupported("SIF_Example must hold a StudentLocator")
        return el
    if query.condition_group is None:
        raise _unsupported("A StudentLocator request needs SIF_Example or SIF_ConditionGroup conditions "
                           "with @IdStatus and @TransactionId")
    cg = query.condition_group
    if (cg.type == "Or" and len(cg.conditions) > 1) or any(c.type == "Or" and len(c.conditions) > 1
                                                           for c in cg.conditions):
        raise _unsupported("StudentLocator conditions must be joined by And (one lookup per request)")
    root = etree.Element(f"{{{NS}}}StudentLocator", nsmap={None: NS})
    for cond in query.condition_group.flat():
        if cond.operator != "EQ":
            raise _unsupported(f"StudentLocator conditions use EQ only, not {cond.operator} ({cond.element})")
        try:
            put(root, parse_path(cond.element), cond.value)
        except PathError as exc:
            raise _unsupported(f"StudentLocator condition: {exc}") from None
    return root


def _yyyymmdd(value: str) -> str:
    return dt.date.fromisoformat(value[:10]).strftime("%Y%m%d")


def _school_year(value: str, start_month: int) -> str:
    d = dt.date.fromisoformat(value[:10])
    return str(d.year + 1 if d.month >= start_month else d.year)


def _value(el: etree._Element, col: AttributeColumn, tables: Mapping[str, CodeTable], start_month: int,
           problems: list[str]) -> str | None:
    raw = first(el, col.path)
    if raw is None:
        return None
    try:
        value = translate("state", (tables[n] for n in col.codes), raw)
        if col.format == "yyyymmdd":
            value = _yyyymmdd(value)
        elif col.format == "school_year":
            value = _school_year(value, start_month)
    except UnknownCode as exc:
        problems.append(f"{col.path}: {exc}")
        return None
    except ValueError:
        problems.append(f"{col.path}: {raw!r} is not a date (YYYY-MM-DD)")
        return None
    if len(value) > col.length:
        problems.append(f"{col.path}: {len(value)} characters, the state stores at most {col.length} ({col.name})")
        return None
    return value


def read(request: Request, columns: Sequence[AttributeColumn], *, tables: Mapping[str, CodeTable] | None = None,
         batch_num_path: str | None = None, school_year_start_month: int = 7) -> Incoming:
    """The request's IdStatus, TransactionId and column values; SIFError if it cannot be read."""
    el = _element(request)
    status_text = (el.get("IdStatus") or "").strip()
    try:
        id_status = IdStatus(status_text)
    except ValueError:
        raise _unsupported(f"StudentLocator IdStatus {status_text!r} is not a SIF 2.x value") from None
    if id_status not in DISTRICT_SIDE:
        raise _unsupported(f"StudentLocator IdStatus {id_status.value} is an answer, not a request "
                           f"(send one of {', '.join(s.value for s in DISTRICT_SIDE)})")
    txn = (el.get("TransactionId") or "").strip()
    if not is_transaction_id(txn):
        raise _unsupported(f"StudentLocator TransactionId {txn!r} is not 32 uppercase hexadecimal digits")
    tables = tables or {}
    problems: list[str] = []
    parms: dict[str, str | None] = {}
    batch: dict[str, str | None] = {}
    for col in columns:
        (batch if col.table == "batch" else parms)[col.name] = _value(el, col, tables, school_year_start_month,
                                                                       problems)
    batch_num = first(el, batch_num_path) if batch_num_path else None
    if batch_num is not None and len(batch_num) > 32:
        problems.append(f"{batch_num_path}: BATCH_NUM is at most 32 characters")
        batch_num = None
    return Incoming(id_status=id_status, transaction_id=txn, state_province_id=first(el, "StateProvinceId"),
                    parms=parms, batch=batch, batch_num=batch_num, problems=tuple(problems))
