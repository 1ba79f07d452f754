"""A Durable status (or any result) made fit for `--json`: no JSON inside strings, no secrets.

The Durable status API returns an instance's `input` as the JSON string it was given; a script would have to
parse it twice. And the input holds the request, whose backend URLs may carry a key in their query string
(the validator refuses those, but a refused request's input is still an input): every string is redacted the
way the readable summary is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from breakerpanel.core.summary import redact

# The Durable status fields that arrive as serialized JSON.
_SERIALIZED = ("input", "output", "customStatus")
# Keys whose value is a credential whatever it looks like ("code" is not one: ARM errors have a code).
_SECRET_KEY = re.compile(r"(?i)^(api[-_]?key|subscription[-_]?key|ocp-apim-subscription-key|x-api-key|sig|"
                         r"signature|(access_|static_)?token|secret|client_?secret|password|pwd|authorization)$")


def public_json(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(key): "***" if _SECRET_KEY.match(str(key)) and item not in (None, "")
                else public_json(_decoded(item) if key in _SERIALIZED else item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [public_json(item) for item in value]
    if isinstance(value, str):
        return redact(value)
    return value


def _decoded(value: Any) -> Any:
    if not isinstance(value, str) or not value.lstrip().startswith(("{", "[")):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value
