"""A Log Analytics query result as plain typed rows: one `{column: value}` dict per row.

azure-monitor-query converts only datetime cells (and turns guid/timespan cells into `str(value)`, so a null
arrives as the text "None"); every other cell comes as the service wrote it. The service is not consistent
about that: its published example writes long, real and bool cells as strings ("1", "1.286", "true") while
live answers use JSON numbers and booleans. This module accepts both and gives each column its Python type:

    string → str        int, long → int       real → float       bool → bool      decimal → Decimal
    datetime → aware UTC datetime             timespan → timedelta                guid → str
    dynamic → the parsed JSON value (Log Analytics sends objects and arrays as JSON text)

null stays None. A cell that cannot be read as its column's type raises LogsRowError naming the row, the
column and the value.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from azure.monitor.query import LogsQueryPartialResult, LogsQueryResult, LogsQueryStatus

from breakerpanel.core.instants import parse_instant
from breakerpanel.core.integers import whole_number

Row = dict[str, Any]

_TIMESPAN = re.compile(
    r"^(?P<sign>-)?(?:(?P<days>\d+)\.)?(?P<h>\d{1,2}):(?P<m>\d{2}):(?P<s>\d{2})(?:\.(?P<f>\d{1,7}))?$"
)
_REAL_WORDS = {"nan": math.nan, "infinity": math.inf, "-infinity": -math.inf, "+infinity": math.inf}


class LogsRowError(ValueError):
    """A cell that does not read as its column's type."""


class PartialLogsResultError(RuntimeError):
    """Log Analytics answered only part of the query (LogsQueryPartialResult); its error is attached.

    `causes` are the innermost messages of the error's details: the service's top message is only "There were
    some errors when processing your query.", what went wrong (a result over the record limit, a query that ran
    out of resources) is in `details[].innererror`, which azure-monitor-query leaves unread.
    """

    def __init__(self, code: str, message: str, causes: Sequence[str] = ()) -> None:
        said = "; ".join(text.rstrip(". ") for text in [message, *causes])
        super().__init__(f"Log Analytics returned a partial result ({code}): {said}. The rows it did return are "
                         "incomplete: narrow the timespan or simplify the query")
        self.code = code
        self.message = message
        self.causes = tuple(causes)


def _innermost(detail: object) -> str | None:
    found: str | None = None
    for _ in range(10):  # the chain is short; a cycle in a malformed body must not hang the reader
        if not isinstance(detail, Mapping):  # the SDK hands its own Mapping models, not dicts
            break
        text = detail.get("message")
        if isinstance(text, str) and text.strip():
            found = text.strip()
        detail = detail.get("innererror")
    return found


class LogsTableLike(Protocol):
    """What azure-monitor-query's LogsTable offers: column names, their Kusto types, and rows."""

    columns: list[str]
    columns_types: list[str]
    rows: Sequence[Any]


class _Unreadable(ValueError):
    pass


def _int(value: Any) -> int:
    number = whole_number(value)
    if number is None:
        raise _Unreadable("a boolean is not a whole number" if isinstance(value, bool) else "expected a whole number")
    return number


def _real(value: Any) -> float:
    if isinstance(value, bool):
        raise _Unreadable("a boolean is not a number")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _REAL_WORDS:
            return _REAL_WORDS[word]
        try:
            return float(value)
        except ValueError:
            pass
    raise _Unreadable("expected a number")


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise _Unreadable("expected true or false")


def _datetime(value: Any) -> datetime:
    moment = parse_instant(value)
    if moment is None:
        raise _Unreadable("expected an ISO-8601 date-time")
    return moment


def _timespan(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    found = _TIMESPAN.match(value.strip()) if isinstance(value, str) else None
    if found is None:
        raise _Unreadable("expected a timespan '[-][d.]hh:mm:ss[.fffffff]'")
    span = timedelta(
        days=int(found["days"] or 0),
        hours=int(found["h"]),
        minutes=int(found["m"]),
        seconds=int(found["s"]),
        microseconds=int((found["f"] or "0").ljust(7, "0")) // 10,
    )
    return -span if found["sign"] else span


def _dynamic(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        # A dynamic cell holding a plain string arrives as that string, not as JSON text.
        return value


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value).strip())
    except InvalidOperation:
        raise _Unreadable("expected a decimal number") from None


def _string(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise _Unreadable("expected a string")


def _guid(value: Any) -> str:
    return str(value)


_READERS: dict[str, Callable[[Any], Any]] = {
    "string": _string,
    "int": _int,
    "long": _int,
    "real": _real,
    "bool": _bool,
    "datetime": _datetime,
    "timespan": _timespan,
    "guid": _guid,
    "dynamic": _dynamic,
    "decimal": _decimal,
}


def _is_null(kusto_type: str, value: Any) -> bool:
    # The SDK stringifies guid and timespan cells, null included; "None" is not a valid value of either.
    return value is None or (kusto_type in ("guid", "timespan") and value == "None")


def rows_from_table(table: LogsTableLike) -> list[Row]:
    """Every row of one result table as `{column: typed value}`."""
    names = list(table.columns)
    types = [str(kind).lower() for kind in table.columns_types]
    if len(names) != len(types):
        raise LogsRowError(f"the table names {len(names)} columns but types {len(types)} of them")
    unknown = sorted({kind for kind in types if kind not in _READERS})
    if unknown:
        raise LogsRowError(f"column type(s) {unknown} are not Log Analytics types this adapter reads")
    out: list[Row] = []
    for index, row in enumerate(table.rows):
        cells = list(row)
        if len(cells) != len(names):
            raise LogsRowError(f"row {index} has {len(cells)} cells for {len(names)} columns")
        typed: Row = {}
        for name, kind, value in zip(names, types, cells, strict=True):
            if _is_null(kind, value):
                typed[name] = None
                continue
            try:
                typed[name] = _READERS[kind](value)
            except _Unreadable as exc:
                raise LogsRowError(f"row {index}, column {name!r} ({kind}): {value!r} — {exc}") from None
        out.append(typed)
    return out


def rows_from_result(result: LogsQueryResult | LogsQueryPartialResult, *, allow_partial: bool = False) -> list[Row]:
    """The rows of the primary (first) table of a query_workspace result.

    A partial result raises PartialLogsResultError unless `allow_partial`: an incomplete count of failures
    must not pass for a complete one.
    """
    if isinstance(result, LogsQueryPartialResult) or result.status == LogsQueryStatus.PARTIAL:
        if not allow_partial:
            error = getattr(result, "partial_error", None)
            details = getattr(error, "details", None)
            listed = details if isinstance(details, Sequence) and not isinstance(details, str) else []
            causes = [m for m in (_innermost(d) for d in listed) if m]
            raise PartialLogsResultError(
                getattr(error, "code", "") or "PartialError", getattr(error, "message", "") or "no message",
                list(dict.fromkeys(causes)),
            )
        tables = list(getattr(result, "partial_data", None) or [])
    else:
        tables = list(result.tables or [])
    if not tables:
        return []
    return rows_from_table(tables[0])
