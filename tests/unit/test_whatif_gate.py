"""What-if summary and the approval gate built on it."""

from __future__ import annotations

import pytest
from unit_helpers import APIM_ID, load

from breakerpanel.core.gate import approval_needed, gate_outcome
from breakerpanel.core.whatif import WhatIfSummary, summarize_what_if


def published() -> dict[str, object]:
    return load("resources_2025-04-01_PostDeploymentWhatIfOnResourceGroup.json")["responses"]["200"]["body"]


def change(change_type: str, name: str, delta: list[dict[str, object]] | None = None) -> dict[str, object]:
    return {
        "resourceId": f"{APIM_ID}/backends/{name}",
        "changeType": change_type,
        **({"delta": delta} if delta else {}),
    }


def test_published_what_if_summary():
    summary = summarize_what_if(published())
    assert summary.counts == {"Modify": 1, "Create": 1}
    assert not summary.has_deletes and not summary.is_destructive
    assert summary.lines() == [
        "what-if: 1 to create, 1 to modify",
        "  Modify   Microsoft.ManagedIdentity/userAssignedIdentities myExistingIdentity: tags.myNewTag (Create)",
        "  Create   Microsoft.ManagedIdentity/userAssignedIdentities myNewIdentity",
    ]


def test_sdk_flattened_shape_is_accepted():
    flattened = {"status": "Succeeded", "changes": published()["properties"]["changes"]}  # type: ignore[index]
    assert summarize_what_if(flattened).counts == {"Modify": 1, "Create": 1}


def test_deletes_and_removed_pool_members_are_destructive():
    deleted = summarize_what_if({"properties": {"changes": [change("Delete", "aoai-old"), change("NoChange", "a")]}})
    assert deleted.has_deletes and deleted.is_destructive
    assert deleted.lines() == [
        "what-if: 1 to delete, 1 unchanged",
        "  Delete   Microsoft.ApiManagement/service/backends apim-gw/aoai-old",
    ]
    pool_shrinks = summarize_what_if(
        {
            "properties": {
                "changes": [
                    change(
                        "Modify",
                        "aoai-pool",
                        [
                            {
                                "path": "properties.pool.services",
                                "propertyChangeType": "Array",
                                "children": [
                                    {
                                        "path": "[2]",
                                        "propertyChangeType": "Delete",
                                        "before": {"id": "/backends/aoai-old"},
                                    }
                                ],
                            }
                        ],
                    )
                ]
            }
        }
    )
    assert not pool_shrinks.has_deletes and pool_shrinks.is_destructive
    assert pool_shrinks.changes[0].property_changes == (("properties.pool.services[2]", "Delete"),)


def test_failed_what_if():
    summary = summarize_what_if({"status": "Failed", "error": {"code": "InvalidTemplate", "message": "bad"}})
    assert summary.failed and summary.counts == {}


@pytest.mark.parametrize(
    ("mode", "changes", "required"),
    [
        ("none", [change("Delete", "x")], False),
        ("required", [change("NoChange", "x")], True),
        ("onDestructive", [change("Create", "x"), change("Modify", "y")], False),
        ("onDestructive", [change("Delete", "x")], True),
    ],
)
def test_approval_needed(mode, changes, required):
    decision = approval_needed(mode, summarize_what_if({"properties": {"changes": changes}}))
    assert decision.required is required and decision.reason


def test_on_destructive_without_what_if_asks_a_person():
    assert approval_needed("onDestructive", None).required
    failed = summarize_what_if({"status": "Failed", "error": {"code": "X"}})
    assert "cannot be ruled out" in approval_needed("onDestructive", failed).reason


def test_reason_counts_deletes():
    summary = summarize_what_if({"properties": {"changes": [change("Delete", "a"), change("Delete", "b")]}})
    assert approval_needed("onDestructive", summary).reason == "what-if shows 2 resource(s) deleted"


@pytest.mark.parametrize(
    ("event", "proceed", "outcome", "by"),
    [
        ({"approved": True, "by": "alice", "comment": "go"}, True, "approved", "alice"),
        ({"approved": False, "by": "bob", "comment": "not today"}, False, "rejected", "bob"),
        ('{"approved": true, "by": "carol"}', True, "approved", "carol"),
        (True, True, "approved", ""),
        ({"approved": "yes"}, False, "rejected", ""),
        ("garbage", False, "rejected", ""),
        (None, False, "rejected", ""),
    ],
)
def test_gate_outcome_from_event(event, proceed, outcome, by):
    result = gate_outcome(event, timed_out=False)
    assert (result.proceed, result.outcome, result.by) == (proceed, outcome, by)


def test_gate_times_out_without_deploying():
    result = gate_outcome(None, timed_out=True, timeout_seconds=3600)
    assert (result.proceed, result.outcome) == (False, "timed_out") and "3600 s" in result.reason




def test_a_potential_delete_is_summarised_and_needs_approval():
    # The SDK's 2026-06-01 WhatIfOperationProperties carries `potentialChanges` beside `changes`: changes ARM
    # predicts may or may not happen. Read through the SDK's own model, as the what-if activity reads it.
    from azure.mgmt.resource.deployments.models import WhatIfOperationResult

    body = published()
    body["properties"]["potentialChanges"] = [change("Delete", "aoai-old")]  # type: ignore[index]
    summary = summarize_what_if(WhatIfOperationResult(body).as_dict())
    assert summary.has_deletes and summary.is_destructive
    assert summary.lines()[-1] == (
        "  Delete   Microsoft.ApiManagement/service/backends apim-gw/aoai-old (potential: may or may not happen)")
    assert approval_needed("onDestructive", summary).required
    # What the orchestration carries (to_dict) still says so when read back for the gate.
    carried = WhatIfSummary.from_dict(summary.to_dict())
    assert carried.changes[-1].potential and approval_needed("onDestructive", carried).required


@pytest.mark.parametrize("result", [
    # The what-if's Location answered 200 with a failed operation result (WhatIfOperationResult status + error).
    {"status": "Failed", "error": {"code": "ResourceDeploymentFailure", "message": "The provider failed."}},
    # The what-if call itself failed: the orchestration summarises the activity's error this way.
    {"status": "Failed", "error": {"code": "ResourceDeploymentFailure", "message": "The provider failed.",
                                   "httpStatus": 500}},
])
def test_a_failed_what_if_is_never_shown_as_no_changes(result):
    from azure.mgmt.resource.deployments.models import WhatIfOperationResult

    summary = summarize_what_if(WhatIfOperationResult(result).as_dict())
    assert summary.failed
    assert summary.lines() == ["what-if FAILED (ResourceDeploymentFailure: The provider failed.): the changes, "
                               "deletions included, are unknown"]
    assert approval_needed("onDestructive", WhatIfSummary.from_dict(summary.to_dict())).required


def test_what_if_diagnostics_are_shown_beside_the_changes():
    # WhatIfOperationProperties.diagnostics (DeploymentDiagnosticsDefinition: level, code, message), through the
    # SDK's model; the wording is the published validate example's warning.
    from azure.mgmt.resource.deployments.models import WhatIfOperationResult

    body = published()
    body["properties"]["diagnostics"] = [{  # type: ignore[index]
        "level": "Warning", "code": "NestedDeploymentShortCircuited",
        "message": "A nested deployment got short-circuited and all its resources got skipped from validation."}]
    summary = summarize_what_if(WhatIfOperationResult(body).as_dict())
    line = ("  Warning NestedDeploymentShortCircuited: A nested deployment got short-circuited and all its "
            "resources got skipped from validation.")
    assert summary.lines()[-1] == line
    assert WhatIfSummary.from_dict(summary.to_dict()).lines()[-1] == line


def test_change_types_are_read_case_insensitively():
    # ChangeType / PropertyChangeType are CaseInsensitiveEnumMeta enums in the SDK: "delete" is a Delete.
    summary = summarize_what_if({"properties": {"changes": [
        change("delete", "aoai-old"),
        change("modify", "aoai-pool", [{"path": "properties.pool.services", "propertyChangeType": "array",
                                        "children": [{"path": "[1]", "propertyChangeType": "delete"}]}]),
    ]}})
    assert summary.counts == {"Delete": 1, "Modify": 1}
    assert summary.has_deletes and summary.changes[1].removes_properties
    assert approval_needed("onDestructive", summary).reason == ("what-if shows 1 resource(s) deleted and 1 "
                                                                "resource(s) lose properties")
