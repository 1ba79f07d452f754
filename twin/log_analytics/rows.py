"""Checking seeded ApiManagementGatewayLogs rows and converting each value to what its column stores.

A row is `{column: value}`; absent columns are null, as Log Analytics leaves them. `Type` defaults to the
table's name, which Log Analytics always fills in. Every problem raises ValueError naming the row index, the
column, its Kusto type and what to send instead.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from twin.log_analytics.schema import COLUMN_TYPES, COLUMNS, TABLE

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_TIMESPAN = re.compile(
    r"^(?P<sign>-)?(?:(?P<days>\d+)\.)?(?P<h>\d{1,2}):(?P<m>\d{2}):(?P<s>\d{2})(?:\.(?P<f>\d{1,7}))?$"
)


class _Reject(ValueError):
    """A value that does not fit its column; `fix` says what to send instead."""

    def __init__(self, fix: str) -> None:
        super().__init__(fix)
        self.fix = fix


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise _Reject("send a JSON string")
    return value


def _whole(bounds: tuple[int, int], label: str) -> Callable[[Any], int]:
    def convert(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Reject(f"send a whole number ({label})")
        if not bounds[0] <= value <= bounds[1]:
            raise _Reject(f"the value is outside the {label} range {bounds[0]}..{bounds[1]}")
        return value

    return convert


def _real(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Reject("send a JSON number")
    number = float(value)
    if math.isinf(number) and isinstance(value, int):
        raise _Reject("the number is too large for a real")
    return number


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Reject("send true or false")
    return value


def to_utc_naive(value: Any) -> datetime:
    """A datetime or ISO-8601 string as naive UTC, which is how the store keeps datetimes."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        raw = value.strip()
        if raw[-1:] in ("Z", "z"):
            raw = raw[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(raw)
        except ValueError:
            raise _Reject("send an ISO-8601 date-time such as '2024-05-01T10:00:00Z'") from None
    else:
        raise _Reject("send an ISO-8601 date-time string such as '2024-05-01T10:00:00Z'")
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _dynamic(value: Any) -> str:
    # The value itself is the dynamic value (a string stays a string), stored as JSON text.
    try:
        return json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        raise _Reject("send a JSON value (object, array, string, number, true/false)") from None


def _guid(value: Any) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    raise _Reject("send a GUID string such as '00000000-0000-0000-0000-000000000000'")


def _timespan(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    found = _TIMESPAN.match(value.strip()) if isinstance(value, str) else None
    if found is None:
        raise _Reject("send a timespan as '[-][d.]hh:mm:ss[.fffffff]', e.g. '00:01:30'")
    fraction = (found["f"] or "0").ljust(7, "0")
    span = timedelta(
        days=int(found["days"] or 0),
        hours=int(found["h"]),
        minutes=int(found["m"]),
        seconds=int(found["s"]),
        microseconds=int(fraction) // 10,
    )
    return -span if found["sign"] else span


def _datetime(value: Any) -> datetime:
    return to_utc_naive(value)


CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "string": _string,
    "int": _whole(_INT32, "int, 32-bit"),
    "long": _whole(_INT64, "long, 64-bit"),
    "real": _real,
    "bool": _bool,
    "datetime": _datetime,
    "dynamic": _dynamic,
    "guid": _guid,
    "timespan": _timespan,
}


def prepare_rows(rows: list[Any]) -> list[tuple[Any, ...]]:
    """The rows as tuples in COLUMNS order, ready to insert; nothing is returned unless every row is valid."""
    if not isinstance(rows, list):
        raise ValueError("rows must be a list of objects, one per ApiManagementGatewayLogs record")
    prepared: list[tuple[Any, ...]] = []
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ValueError(f"row {index}: must be an object of column -> value, got {type(row).__name__}")
        unknown = sorted(str(name) for name in row if name not in COLUMN_TYPES)
        if unknown:
            raise ValueError(
                f"row {index}: unknown column(s) {unknown} — {TABLE} has no such column "
                "(names are case-sensitive; see twin/log_analytics/schema.py)"
            )
        if row.get("TimeGenerated") is None:
            raise ValueError(f"row {index}: column 'TimeGenerated' (datetime) is required")
        values: list[Any] = []
        for name, kusto_type in COLUMNS:
            value = row.get(name, TABLE if name == "Type" else None)
            if value is None:
                values.append(None)
                continue
            try:
                values.append(CONVERTERS[kusto_type](value))
            except _Reject as exc:
                raise ValueError(
                    f"row {index}: column {name!r} ({kusto_type}) cannot hold {value!r}: {exc.fix}"
                ) from None
        prepared.append(tuple(values))
    return prepared
