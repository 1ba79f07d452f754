"""The API policy the gateway template deploys: routing, retries, trace context, identity, no keys."""

from __future__ import annotations

import json
import re
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

GATEWAY = Path(__file__).resolve().parents[2] / "infra" / "gateway"
POLICY = GATEWAY / "policy.xml"
TRACEPARENT = re.compile(r"^00-(?P<trace>[0-9a-f]{32})-(?P<parent>[0-9a-f]{16})-(?P<flags>[0-9a-f]{2})$")


def _policy() -> ET.Element:
    return ET.parse(POLICY).getroot()


def _csharp_string_expression(expression: str) -> str:
    """Evaluate the small C# subset a traceparent expression uses: string literals, `+`,
    Guid.NewGuid().ToString(format?) and .Substring(start, length). Anything else is refused, so the
    test cannot pass on an expression it does not understand."""
    body = expression.strip()
    if not (body.startswith("@(") and body.endswith(")")):
        raise ValueError(f"not a policy expression: {expression!r}")
    body = body[2:-1]
    token = re.compile(
        r'\s*(?:"(?P<lit>[^"\\]*)"'
        r'|Guid\.NewGuid\(\)\.ToString\((?:"(?P<fmt>[A-Za-z])")?\)(?P<sub>\.Substring\((?P<start>\d+),\s*(?P<len>\d+)\))?'
        r")\s*(?P<plus>\+)?"
    )
    out: list[str] = []
    pos = 0
    while pos < len(body):
        match = token.match(body, pos)
        if not match or match.end() == pos:
            raise ValueError(f"unsupported C# at {body[pos:]!r}")
        if match.group("lit") is not None:
            out.append(match.group("lit"))
        else:
            guid = uuid.uuid4()
            fmt = match.group("fmt") or "D"
            # .NET: "N" = 32 digits; "D" (the default) = 8-4-4-4-12 with hyphens; both lowercase.
            text = {"N": guid.hex, "D": str(guid)}.get(fmt)
            if text is None:
                raise ValueError(f"Guid format {fmt!r} not modelled")
            if match.group("sub"):
                start, length = int(match.group("start")), int(match.group("len"))
                text = text[start : start + length]
            out.append(text)
        pos = match.end()
    return "".join(out)


def _is_valid_traceparent(value: str) -> bool:
    match = TRACEPARENT.match(value)
    return bool(
        match
        and match.group("trace") != "0" * 32
        and match.group("parent") != "0" * 16
        and match.group("flags") in ("00", "01")
    )


def test_policy_is_well_formed_xml_with_the_four_sections() -> None:
    root = _policy()
    assert root.tag == "policies"
    assert [child.tag for child in root if isinstance(child.tag, str)] == ["inbound", "backend", "outbound", "on-error"]


def test_requests_go_to_the_pool_named_by_the_template_parameter() -> None:
    backend = _policy().find("inbound/set-backend-service")
    assert backend is not None
    assert backend.get("backend-id") == "__POOL_NAME__"
    template = json.loads((GATEWAY / "main.json").read_text(encoding="utf-8"))
    assert "'__POOL_NAME__', parameters('poolName')" in template["variables"]["policyXml"]


def test_retry_covers_429_and_503_and_buffers_the_body() -> None:
    retry = _policy().find("backend/retry")
    assert retry is not None
    condition = retry.get("condition", "")
    codes = {int(code) for code in re.findall(r"context\.Response\.StatusCode\s*==\s*(\d+)", condition)}
    assert {429, 503} <= codes
    # Alternatives only: an `&&` would narrow the condition below "429 or 503".
    assert "&&" not in condition and "||" in condition
    forward = retry.find("forward-request")
    assert forward is not None and forward.get("buffer-request-body") == "true"
    assert retry.get("count") == "__RETRY_COUNT__"


def test_streamed_responses_are_relayed_unbuffered() -> None:
    # Azure OpenAI streams a completion ("stream": true) as server-sent events. learn.microsoft.com, 'Configure
    # API for server-sent events': "Turn off response buffering on the forward-request policy so that events are
    # immediately relayed to the clients" (buffer-response="false"; forward-request's default is true).
    forward = _policy().find("backend/retry/forward-request")
    assert forward is not None
    assert forward.get("buffer-response") == "false"
    assert not _policy().findall(".//validate-content"), "validate-content buffers responses too"


def test_retry_count_is_derived_from_the_pool_size() -> None:
    variables = json.loads((GATEWAY / "main.json").read_text(encoding="utf-8"))["variables"]
    assert variables["retryCount"] == "[max(sub(length(parameters('backends')), 1), 1)]"
    assert "'__RETRY_COUNT__', string(variables('retryCount'))" in variables["policyXml"]


def test_traceparent_generated_by_the_policy_is_valid_w3c() -> None:
    header = _policy().find("inbound/set-header[@name='traceparent']")
    assert header is not None
    assert header.get("exists-action") == "skip", "a caller's traceparent must be kept"
    expression = header.findtext("value", default="")
    values = {_csharp_string_expression(expression) for _ in range(200)}
    assert len(values) == 200, "every request must get its own trace-id"
    assert all(_is_valid_traceparent(value) for value in values), sorted(values)[:3]


@pytest.mark.parametrize(
    "expression",
    [
        # The common sample: a GUID with hyphens is 36 characters, not 32 hex digits.
        '@("00-" + Guid.NewGuid().ToString() + "-" + Guid.NewGuid().ToString("N").Substring(0, 16) + "-01")',
        '@("00-" + Guid.NewGuid().ToString("N") + "-" + Guid.NewGuid().ToString("N") + "-01")',
        '@("00-" + Guid.NewGuid().ToString("N").Substring(0, 16) + "-"'
        ' + Guid.NewGuid().ToString("N").Substring(0, 16) + "-01")',
    ],
)
def test_the_traceparent_check_rejects_invalid_forms(expression: str) -> None:
    assert not _is_valid_traceparent(_csharp_string_expression(expression))


def test_backend_calls_use_the_managed_identity() -> None:
    auth = _policy().find("inbound/authentication-managed-identity")
    assert auth is not None
    assert auth.get("resource") == "https://cognitiveservices.azure.com"


@pytest.mark.parametrize("name", ["policy.xml", "main.bicep", "main.json"])
def test_no_keys_anywhere_in_the_gateway(name: str) -> None:
    text = (GATEWAY / name).read_text(encoding="utf-8").lower()
    for needle in ("api-key", "listkeys(", "named-value", "{{"):
        assert needle not in text, f"{name} contains {needle!r}"


def test_the_callers_subscription_key_never_reaches_a_backend() -> None:
    # APIM validates the subscription key and then forwards the request with it: the header "is not stripped
    # from the request prior to being sent to the configured backend service" (andrewilson.co.uk, 'Unintentional
    # Pass through of Subscription Key Header'; Azure-Samples/Apim-Samples#70: subscription keys "should be
    # scrubbed" before requests go on to backends). The API keeps the default key names, so those are removed.
    template = json.loads((GATEWAY / "main.json").read_text(encoding="utf-8"))
    api = template["resources"]["api"]["properties"]
    assert api["subscriptionRequired"] is True
    assert "subscriptionKeyParameterNames" not in api, "the policy below deletes the default names only"
    inbound = _policy().find("inbound")
    assert inbound is not None
    header = inbound.find("set-header[@name='Ocp-Apim-Subscription-Key']")
    query = inbound.find("set-query-parameter[@name='subscription-key']")
    assert header is not None and header.get("exists-action") == "delete"
    assert query is not None and query.get("exists-action") == "delete"
