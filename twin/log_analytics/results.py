"""A query result in the shape Log Analytics answers: `{"tables": [{"name", "columns", "rows"}]}`.

Column types are Kusto's names; values are written as Log Analytics writes them (see the service response
in Azure/azure-sdk-for-js#16591: bool `true`, int/long/real JSON numbers, datetime "2000-01-02T03:04:05Z",
dynamic as JSON text). Datetimes carry Kusto's 7 fractional digits only when the fraction is non-zero;
timespans use .NET's "[-][d.]hh:mm:ss[.fffffff]"; a real NaN or infinity, which JSON cannot carry, becomes
"NaN" / "Infinity" / "-Infinity".
"""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from duckdb_kql.types import kusto_type

PRIMARY_RESULT = "PrimaryResult"


def format_datetime(moment: datetime) -> str:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}0"
    return text + "Z"


def format_timespan(span: timedelta) -> str:
    sign = "-" if span < timedelta(0) else ""
    span = abs(span)
    hours, rest = divmod(span.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{sign}{span.days}." if span.days else sign
    text += f"{hours:02d}:{minutes:02d}:{seconds:02d}"
    if span.microseconds:
        text += f".{span.microseconds:06d}0"
    return text


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, timedelta):
        return format_timespan(value)
    if isinstance(value, (uuid.UUID, Decimal, date)):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} into a dynamic value")


def _dynamic(value: Any) -> Any:
    # DuckDB hands JSON columns back as text and LIST/STRUCT/MAP as Python objects.
    parsed = json.loads(value) if isinstance(value, str) else value
    if isinstance(parsed, (dict, list)):
        return json.dumps(parsed, separators=(",", ":"), default=_json_default)
    return parsed


def _real(value: Any) -> Any:
    number = float(value)
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    return number


def cell(column_type: str, value: Any) -> Any:
    """One value as Log Analytics writes it for a column of `column_type`."""
    if value is None:
        return None
    if column_type == "datetime":
        if isinstance(value, datetime):
            return format_datetime(value)
        if isinstance(value, date):
            return format_datetime(datetime(value.year, value.month, value.day))
    if column_type == "timespan" and isinstance(value, timedelta):
        return format_timespan(value)
    if column_type == "dynamic":
        return _dynamic(value)
    if column_type == "real":
        return _real(value)
    if column_type in ("int", "long"):
        return int(value)
    if column_type == "bool":
        return bool(value)
    if column_type == "decimal":
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value) if not isinstance(value, str) else value


def table(names: list[str], duckdb_types: list[Any], rows: list[tuple[Any, ...]]) -> dict[str, Any]:
    types = [kusto_type(t) for t in duckdb_types]
    return {
        "name": PRIMARY_RESULT,
        "columns": [{"name": name, "type": kind} for name, kind in zip(names, types, strict=True)],
        "rows": [[cell(kind, value) for kind, value in zip(types, row, strict=True)] for row in rows],
    }
