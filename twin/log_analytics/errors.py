"""Log Analytics' errors, in its own envelope rather than ARM's.

A query Log Analytics refuses answers 400 with (recorded from the service in the azure-sdk-for-js
monitor-query test recordings and azure-sdk-for-net's Azure.Monitor.Query README):

    {"error": {"message": "The request had some invalid properties", "code": "BadArgumentError",
               "correlationId": "<guid>",
               "innererror": {"code": "SyntaxError", "message": "A recognition error occurred in the query.",
                              "innererror": {"code": "SYN0002", "message": "Query could not be parsed at
                                             'invalid' on line [1,11]", "line": 1, "pos": 11, "token": "invalid"}}}}

and for an unknown column (Azure/azure-cli-extensions#3002) innererror {"code": "SemanticError", "message":
"A semantic error occurred.", "innererror": {"code": "SEM0100", "message": "'where' operator: Failed to
resolve column or scalar expression named 'Error'"}}. azure-monitor-query walks the innererror chain and
reports the deepest message, so the twin puts the engine's own message there.
"""

from __future__ import annotations

import uuid
from typing import Any

from twin.errors import CATALOGUE, CatalogueEntry, TwinError, register
from twin.log_analytics.engine import QueryRejected

register(
    {
        "BadArgumentError": CatalogueEntry(400, "The request had some invalid properties"),
    }
)

# The twin's own innermost codes where Log Analytics' are unknown or the refusal is the twin's limit.
_INNER: dict[str, tuple[str, str, str]] = {
    # kind: (innererror code, innererror message, innermost code)
    "syntax": ("SyntaxError", "A recognition error occurred in the query.", "SYN0002"),
    "semantic": ("SemanticError", "A semantic error occurred.", "SEM0100"),
    "unsupported": ("SemanticError", "A semantic error occurred.", "TWIN_UNSUPPORTED_KQL"),
    "runtime": ("EngineError", "Something went wrong processing your query on the server.", "TWIN_ENGINE"),
}


class LogAnalyticsError(TwinError):
    """A 400 BadArgumentError carrying Log Analytics' innererror chain and a correlationId."""

    def __init__(self, innererror: dict[str, Any]) -> None:
        entry = CATALOGUE["BadArgumentError"]
        super().__init__(entry.status, "BadArgumentError", entry.message)
        self.innererror = innererror
        self.correlation_id = str(uuid.uuid4())

    def envelope(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "code": self.code,
                "correlationId": self.correlation_id,
                "innererror": self.innererror,
            }
        }

    @classmethod
    def rejected(cls, rejection: QueryRejected) -> LogAnalyticsError:
        code, message, inner_code = _INNER[rejection.kind]
        innermost: dict[str, Any] = {"code": inner_code, "message": rejection.message}
        if rejection.line is not None:
            innermost["line"] = rejection.line
        if rejection.pos is not None:
            innermost["pos"] = rejection.pos
        return cls({"code": code, "message": message, "innererror": innermost})

    @classmethod
    def invalid_request(cls, detail: str) -> LogAnalyticsError:
        """A request body the twin cannot run (missing query, bad timespan); the code is the twin's own."""
        return cls({"code": "InvalidRequestBody", "message": detail})
