"""The rollout summary a person reads; nothing secret is ever printed."""

from __future__ import annotations

from unit_helpers import ALLOWED, VALID_BODY

from breakerpanel.core.diagnosis import diagnose_error
from breakerpanel.core.gate import gate_outcome
from breakerpanel.core.model import RolloutRequest
from breakerpanel.core.request import check_rollout_request
from breakerpanel.core.summary import redact, render_summary, render_target
from breakerpanel.core.verify import Difference
from breakerpanel.core.whatif import summarize_what_if

TARGET = ALLOWED[0].to_dict()


def failed_result() -> dict[str, object]:
    [diagnosis] = diagnose_error(
        {
            "code": "DeploymentFailed",
            "message": "At least one resource deployment operation failed.",
            "details": [{"code": "ValidationError", "message": "Backend Entity 'aoai-westus' not found."}],
        },
        resource_name="apim-gw/aoai-pool",
        resource_type="Microsoft.ApiManagement/service/backends",
        tracking_id="t-123",
    )
    return {
        "rolloutId": "r1",
        "target": TARGET,
        "phase": "done",
        "outcome": "failed",
        "deploymentName": "bp-r1-apim-gw-abcd1234",
        "deploymentState": "Failed",
        "whatIf": summarize_what_if(
            {"properties": {"changes": [{"resourceId": "/x/providers/A.B/c/d", "changeType": "Create"}]}}
        ).to_dict(),
        "approval": gate_outcome({"approved": True, "by": "alice"}, timed_out=False).to_dict(),
        "diagnoses": [diagnosis.to_dict()],
        "differences": [
            Difference(
                "aoai-eastus",
                "url",
                "value",
                "https://a.openai.azure.com/openai?api-key=SECRET1",
                "https://b.openai.azure.com/openai",
                "url differs",
            ).to_dict()
        ],
        "rollback": {"deploymentName": "bp-r1-apim-gw-abcd1234-rollback", "state": "Succeeded"},
    }


def test_failed_rollout_reads_as_cause_fix_and_rollback():
    text = "\n".join(render_summary(failed_result()))
    assert "Target apim-gw (resource group rg-gw, subscription 00000000…, wave 1): FAILED (phase: done)" in text
    assert "deployment bp-r1-apim-gw-abcd1234 — Failed" in text
    assert "what-if: 1 to create" in text
    assert "approval: approved by alice" in text
    assert "failed: apim-gw/aoai-pool (Microsoft.ApiManagement/service/backends)" in text
    assert "cause: Pool member 'aoai-westus' did not exist" in text
    assert "fix: Make the pool depend on every member backend" in text
    assert "tracking id: t-123" in text
    assert "verify: 1 difference(s)" in text and "aoai-eastus url: url differs" in text
    assert "rollback: deployment bp-r1-apim-gw-abcd1234-rollback — Succeeded" in text


def test_no_query_strings_or_keys_in_the_summary():
    result = failed_result()
    result["error"] = (
        "call to https://x.example.com/p?sig=abc&se=2020 failed; Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.x.y"
    )
    text = "\n".join(render_summary(result))
    for secret in ("SECRET1", "sig=abc", "eyJhbGciOiJIUzI1NiJ9", "se=2020"):
        assert secret not in text
    assert "https://a.openai.azure.com/openai?…" in text


def test_raw_errors_are_never_printed():
    result = failed_result()
    result["diagnoses"][0]["raw"] = {"password": "hunter2"}  # type: ignore[index]
    assert "hunter2" not in "\n".join(render_summary(result))


def test_verified_rollout_with_warnings():
    check = check_rollout_request(
        dict(VALID_BODY, breakerRule=dict(VALID_BODY["breakerRule"], acceptRetryAfter=True)), ALLOWED
    )
    assert isinstance(check.request, RolloutRequest)
    lines = render_summary(
        {
            "target": TARGET,
            "outcome": "succeeded",
            "phase": "done",
            "warnings": [w.to_dict() for w in check.warnings],
            "differences": [],
        }
    )
    assert "  verify: APIM matches the request" in lines
    assert any(line.startswith("  warning breakerRule.acceptRetryAfter:") for line in lines)


def test_refused_request_lists_problems():
    lines = render_summary(
        {
            "outcome": "invalid",
            "phase": "validating",
            "problems": [
                {"field": "backends[0].url", "problem": "only https", "fix": "use https", "severity": "error"}
            ],
        }
    )
    assert "  error backends[0].url: only https" in lines and "    fix: use https" in lines


def test_multi_target_rollout_headline():
    ok = {"target": TARGET, "outcome": "succeeded", "phase": "done"}
    lines = render_summary({"rolloutId": "r9", "targets": [ok, failed_result()]})
    assert lines[0] == "Rollout r9: FAILED"
    assert sum(1 for line in lines if line.startswith("Target ")) == 2


def test_redact():
    assert redact("https://u:p@h.example.com:8443/a/b?code=1#f") == "https://h.example.com:8443/a/b?…"
    assert redact("api-key: abc123 and token=xyz") == "api-key: *** and token=***"
    assert redact("no secrets here") == "no secrets here"


def orchestrator_progress() -> dict[str, object]:
    """The rollout orchestrator's output: targets keyed by target, details under result/failure."""
    failed = failed_result()
    key = "00000000-0000-0000-0000-000000000000/rg-gw/apim-gw"
    return {
        "rolloutId": "r2",
        "phase": "done",
        "status": "failed",
        "approval": {"proceed": True, "outcome": "approved", "reason": "ok", "by": "alice"},
        "halted": {"wave": 1, "reason": f"wave 1 failed for {key}"},
        "targets": {
            key: {
                "target": TARGET,
                "wave": 1,
                "phase": "failed",
                "deploymentName": "bp-r2-apim-gw-abcd1234",
                "whatIf": failed["whatIf"],
                "result": {
                    "status": "failed",
                    "stage": "deploy",
                    "provisioningState": "Failed",
                    "error": {
                        "code": "DeploymentFailed",
                        "message": "At least one resource deployment operation failed.",
                    },
                    "diagnoses": failed["diagnoses"],
                    "rollback": {"ran": False, "reason": "rollbackOnFailure is false"},
                    "verify": {"read": True, "differences": failed["differences"]},
                },
            },
            "00000000-0000-0000-0000-000000000000/rg-gw2/apim-gw2": {
                "target": ALLOWED[1].to_dict(),
                "wave": 2,
                "phase": "skipped",
            },
        },
    }


def test_orchestrator_progress_shape_is_rendered():
    lines = render_summary(orchestrator_progress())
    text = "\n".join(lines)
    assert lines[0] == "Rollout r2: FAILED (phase: done)"
    assert "  halted at wave 1: wave 1 failed for" in text
    assert "  approval: approved by alice — ok" in text
    assert (
        "Target apim-gw (resource group rg-gw, subscription 00000000…, wave 1): FAILED (phase: failed, at deploy)"
        in text
    )
    assert "  deployment bp-r2-apim-gw-abcd1234 — Failed" in text
    assert "  error: DeploymentFailed: At least one resource deployment operation failed." in text
    assert "cause: Pool member 'aoai-westus' did not exist" in text
    assert "verify: APIM still holds its earlier state — 1 difference(s)" in text and "SECRET1" not in text
    assert "  rollback: not run — rollbackOnFailure is false" in text
    assert "Target apim-gw2 (resource group rg-gw2, subscription 00000000…, wave 2): SKIPPED (phase: skipped)" in text


def test_status_view_with_counts_only_is_rendered():
    view = orchestrator_progress()
    entry = view["targets"]["00000000-0000-0000-0000-000000000000/rg-gw/apim-gw"]  # type: ignore[index]
    del entry["result"]
    entry.update(whatIf={"Create": 1}, stage="deploy", problems=2)
    text = "\n".join(render_summary(view))
    assert "  what-if: Create 1" in text and "2 problem(s)" in text and "(phase: failed, at deploy)" in text


# ------------------------------------------------------------------ issue 9: what the summary says, plainly


def test_an_unrecognised_error_prints_its_raw_code_status_and_message() -> None:
    from breakerpanel.core.diagnosis import diagnose_error

    error = {"code": "SomethingNew", "message": "a message nobody catalogued", "httpStatus": 418}
    diagnoses = [d.to_dict() for d in diagnose_error(error)]
    text = "\n".join(render_target({"outcome": "failed", "error": error, "diagnoses": diagnoses}))

    assert "error: SomethingNew (HTTP 418): a message nobody catalogued" in text
    assert "fix: see the raw error below" in text
    assert "raw error: " in text and '"code":"SomethingNew"' in text


def test_a_failed_deployment_without_rollback_is_never_worded_as_a_match() -> None:
    same = {"outcome": "failed", "stage": "deploy", "differences": []}
    text = "\n".join(render_target(same))
    assert "verify: APIM matches the request" not in text
    assert "deployment FAILED" in text and "not a successful rollout" in text

    differs = {"outcome": "failed", "stage": "deploy", "differences": [
        {"backend": "aoai-eastus", "field": "url", "problem": "differs", "expected": "a", "actual": "b"}]}
    assert "APIM still holds its earlier state — 1 difference(s)" in "\n".join(render_target(differs))
    ok = {"outcome": "verified", "differences": []}
    assert "verify: APIM matches the request" in "\n".join(render_target(ok))
