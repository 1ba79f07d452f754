"""ARM deployments in the twin, driven by the real azure-mgmt-resource-deployments client over HTTPS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.core.rest import HttpRequest
from azure.mgmt.resource.deployments.models import (
    Deployment,
    DeploymentProperties,
    DeploymentWhatIf,
    DeploymentWhatIfProperties,
    OnErrorDeployment,
)

from breakerpanel.azure.clients import deployments_client
from breakerpanel.settings import load_settings
from tests.twin_instance import APIM, APIM_ID, GROUP_ID, RESOURCE_GROUP, SUBSCRIPTION
from twin.app import TwinConfig
from twin.server import TwinServer

pytestmark = pytest.mark.twin

BACKEND_TYPE = "Microsoft.ApiManagement/service/backends"


# -- templates ------------------------------------------------------------------------------------------------------


def backend(name: str, url: str) -> dict[str, Any]:
    return {
        "type": BACKEND_TYPE,
        "apiVersion": "2024-05-01",
        "name": f"[format('{{0}}/{name}', parameters('apimServiceName'))]",
        "properties": {"url": url, "protocol": "http"},
    }


def pool(name: str, members: list[str], *, url: str | None = None) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "type": "Pool",
        "pool": {"services": [{"id": f"/backends/{member}", "priority": 1, "weight": 1} for member in members]},
    }
    if url is not None:
        properties["url"] = url  # APIM refuses this: "Url is not supported for backend pool."
    return {
        "type": BACKEND_TYPE,
        "apiVersion": "2024-05-01",
        "name": f"[format('{{0}}/{name}', parameters('apimServiceName'))]",
        "dependsOn": [
            f"[resourceId('{BACKEND_TYPE}', parameters('apimServiceName'), '{member}')]" for member in members
        ],
        "properties": properties,
    }


def system_topic(name: str) -> dict[str, Any]:
    """A type no twin service owns: ARM's own store keeps it."""
    return {
        "type": "Microsoft.EventGrid/systemTopics",
        "apiVersion": "2022-06-15",
        "name": name,
        "location": "eastus",
        "properties": {"source": APIM_ID, "topicType": "Microsoft.ApiManagement.Service"},
    }


def template(*resources: dict[str, Any], outputs: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {"apimServiceName": {"type": "string"}},
        "resources": list(resources),
    }
    if outputs is not None:
        body["outputs"] = outputs
    return body


def request(tpl: dict[str, Any], mode: str = "Incremental") -> Deployment:
    return Deployment(
        properties=DeploymentProperties(
            mode=mode,
            template=tpl,
            parameters={"apimServiceName": {"value": APIM}},
        )
    )


def what_if_request(tpl: dict[str, Any], mode: str = "Incremental") -> DeploymentWhatIf:
    return DeploymentWhatIf(
        properties=DeploymentWhatIfProperties(mode=mode, template=tpl, parameters={"apimServiceName": {"value": APIM}})
    )


def deploy(deployments: Any, name: str, tpl: dict[str, Any], **kwargs: Any) -> Any:
    return deployments.deployments.begin_create_or_update(RESOURCE_GROUP, name, request(tpl, **kwargs)).result()


def send(client: Any, method: str, path: str, body: Any = None) -> Any:
    version = client._config.api_version
    separator = "&" if "?" in path else "?"
    return client.send_request(HttpRequest(method, f"{path}{separator}api-version={version}", json=body))


@pytest.fixture
def service(twin: Any) -> Any:
    """The twin, reset, with the APIM instance the templates deploy into."""
    twin.apim.create_service(SUBSCRIPTION, RESOURCE_GROUP, APIM)
    return twin


def backend_url(twin: Any, name: str) -> str | None:
    stored = twin.apim.get_resource(f"{APIM_ID}/backends/{name}")
    return None if stored is None else stored["properties"]["url"]


# -- deploy ---------------------------------------------------------------------------------------------------------


def test_deploy_succeeds_writes_the_backend_and_sends_exactly_one_put(service: Any, deployments: Any) -> None:
    tpl = template(
        backend("aoai-east", "https://east.example/openai"),
        outputs={"backendId": {"type": "string", "value": "[format('{0}/aoai-east', parameters('apimServiceName'))]"}},
    )

    result = deploy(deployments, "gw-1", tpl)

    assert result.properties.provisioning_state == "Succeeded"
    assert result.properties.outputs == {"backendId": {"type": "String", "value": f"{APIM}/aoai-east"}}
    assert [ref.id for ref in result.properties.output_resources] == [f"{APIM_ID}/backends/aoai-east"]
    assert backend_url(service, "aoai-east") == "https://east.example/openai"
    assert [entry["status"] for entry in service.captured("arm.deployments.put")] == [201]
    # The SDK polled the Azure-AsyncOperation URL until it was terminal, then read the deployment.
    polls = service.captured("arm.asyncoperation.get")
    assert len(polls) == 2 and service.captured("arm.deployments.get")


def test_put_answers_201_accepted_and_the_async_operation_advances_on_polls(service: Any, deployments: Any) -> None:
    put = send(
        deployments,
        "PUT",
        f"{GROUP_ID}/providers/Microsoft.Resources/deployments/gw-raw",
        request(template(backend("b1", "https://b1.example"))).as_dict(),
    )
    assert put.status_code == 201
    assert put.json()["properties"]["provisioningState"] == "Accepted"
    status_url = put.headers["Azure-AsyncOperation"]
    assert "/operationStatuses/" in status_url and put.headers["Location"]

    statuses = [deployments.send_request(HttpRequest("GET", status_url)).json()["status"] for _ in range(3)]

    assert statuses == ["Running", "Succeeded", "Succeeded"]
    assert backend_url(service, "b1") == "https://b1.example"


def test_states_follow_deployment_poll_steps(tmp_path: Path) -> None:
    with TwinServer(tmp_path, config=TwinConfig(deployment_poll_steps=2)) as server:
        server.twin.apim.create_service(SUBSCRIPTION, RESOURCE_GROUP, APIM)
        client = deployments_client(load_settings(server.environment()), SUBSCRIPTION)
        client.deployments.begin_create_or_update(
            RESOURCE_GROUP, "slow", request(template(backend("b1", "https://b1.example"))), polling=False
        )
        seen = []
        for _ in range(5):
            state = client.deployments.get(RESOURCE_GROUP, "slow").properties.provisioning_state
            written = server.twin.apim.get_resource(f"{APIM_ID}/backends/b1") is not None
            seen.append((state, written))
        # Resources are written at the moment the deployment runs, not before.
        assert seen == [
            ("Accepted", False),
            ("Running", False),
            ("Running", False),
            ("Succeeded", True),
            ("Succeeded", True),
        ]


def test_rejected_resource_fails_the_deployment_with_the_apim_error_in_its_operation(
    service: Any, deployments: Any
) -> None:
    tpl = template(backend("b1", "https://b1.example"), pool("aoai-pool", ["b1"], url="https://pool.example"))

    with pytest.raises(HttpResponseError) as raised:
        deploy(deployments, "gw-bad", tpl)

    assert raised.value.error is not None and raised.value.error.code == "DeploymentFailed"
    assert "At least one resource deployment operation failed" in raised.value.error.message
    operations = list(deployments.deployment_operations.list(RESOURCE_GROUP, "gw-bad"))
    failed = [op for op in operations if op.properties.provisioning_state == "Failed"]
    assert len(failed) == 1
    failed_op = failed[0].properties
    assert failed_op.target_resource.resource_name == f"{APIM}/aoai-pool"
    assert failed_op.status_code == "BadRequest"
    assert failed_op.status_message.status == "Failed"
    assert failed_op.status_message.error.code == "ValidationError"
    assert failed_op["trackingId"]  # not in the SDK model; real operations carry it (fixtures README)
    deployment = deployments.deployments.get(RESOURCE_GROUP, "gw-bad").properties
    assert deployment.provisioning_state == "Failed"
    assert deployment.error.code == "DeploymentFailed"
    assert [detail.code for detail in deployment.error.details] == ["ValidationError"]
    assert backend_url(service, "b1") == "https://b1.example"  # the member before the pool was written


def test_resource_whose_dependency_failed_is_not_attempted(service: Any, deployments: Any) -> None:
    broken = backend("b1", "not-a-url")
    tpl = template(broken, pool("aoai-pool", ["b1"]), backend("b2", "https://b2.example"))

    with pytest.raises(HttpResponseError):
        deploy(deployments, "gw-dep", tpl)

    operations = list(deployments.deployment_operations.list(RESOURCE_GROUP, "gw-dep"))
    names = {op.properties.target_resource.resource_name: op.properties.provisioning_state for op in operations}
    assert names == {f"{APIM}/b1": "Failed", f"{APIM}/b2": "Succeeded"}
    assert service.apim.get_resource(f"{APIM_ID}/backends/aoai-pool") is None


def test_invalid_template_is_refused_at_put_and_records_no_deployment(service: Any, deployments: Any) -> None:
    tpl = template(backend("b1", "https://b1.example"))
    bad = Deployment(properties=DeploymentProperties(mode="Incremental", template=tpl, parameters={}))

    with pytest.raises(HttpResponseError) as raised:
        deployments.deployments.begin_create_or_update(RESOURCE_GROUP, "gw-invalid", bad)

    assert raised.value.status_code == 400
    assert raised.value.error.code == "InvalidTemplate"
    assert "apimServiceName" in raised.value.error.message
    with pytest.raises(ResourceNotFoundError) as missing:
        deployments.deployments.get(RESOURCE_GROUP, "gw-invalid")
    assert missing.value.error.code == "DeploymentNotFound"


def test_request_without_mode_names_the_field(service: Any, deployments: Any) -> None:
    answer = send(
        deployments,
        "PUT",
        f"{GROUP_ID}/providers/Microsoft.Resources/deployments/no-mode",
        {"properties": {"template": template()}},
    )
    assert answer.status_code == 400
    assert "properties.mode" in answer.json()["error"]["message"]


# -- read -----------------------------------------------------------------------------------------------------------


def test_get_and_list_by_resource_group_follow_next_links(tmp_path: Path) -> None:
    with TwinServer(tmp_path, config=TwinConfig(page_size=2)) as server:
        server.twin.apim.create_service(SUBSCRIPTION, RESOURCE_GROUP, APIM)
        client = deployments_client(load_settings(server.environment()), SUBSCRIPTION)
        for index in range(3):
            deploy(client, f"gw-{index}", template(backend(f"b{index}", f"https://b{index}.example")))

        listed = [dep.name for dep in client.deployments.list_by_resource_group(RESOURCE_GROUP)]

        assert sorted(listed) == ["gw-0", "gw-1", "gw-2"]
        assert len(server.twin.captured("arm.deployments.list")) == 2
        got = client.deployments.get(RESOURCE_GROUP, "gw-1")
        assert got.id == f"{GROUP_ID}/providers/Microsoft.Resources/deployments/gw-1"
        assert got.properties.mode == "Incremental"


def test_list_filters_on_provisioning_state(service: Any, deployments: Any) -> None:
    deploy(deployments, "good", template(backend("b1", "https://b1.example")))
    with pytest.raises(HttpResponseError):
        deploy(deployments, "bad", template(backend("b2", "not-a-url")))

    failed = deployments.deployments.list_by_resource_group(RESOURCE_GROUP, filter="provisioningState eq 'Failed'")

    assert [dep.name for dep in failed] == ["bad"]


def test_paths_are_case_insensitive(service: Any, deployments: Any) -> None:
    deploy(deployments, "gw-case", template(backend("b1", "https://b1.example")))
    lower = send(
        deployments,
        "GET",
        f"/subscriptions/{SUBSCRIPTION}/resourcegroups/{RESOURCE_GROUP}"
        "/providers/microsoft.resources/deployments/gw-case",
    )
    upper = send(deployments, "GET", f"{GROUP_ID}/providers/Microsoft.Resources/deployments/GW-CASE")
    assert lower.status_code == upper.status_code == 200
    assert lower.json()["name"] == upper.json()["name"] == "gw-case"


def test_operations_are_listed_at_the_sdk_path_and_the_rest_reference_path(service: Any, deployments: Any) -> None:
    deploy(deployments, "gw-ops", template(backend("b1", "https://b1.example")))

    via_sdk = list(deployments.deployment_operations.list(RESOURCE_GROUP, "gw-ops"))
    sdk_path = service.captured("arm.operations.list")[0]["path"]
    via_rest = send(deployments, "GET", f"{GROUP_ID}/providers/Microsoft.Resources/deployments/gw-ops/operations")

    assert "/providers/Microsoft.Resources/" not in sdk_path and sdk_path.endswith("/deployments/gw-ops/operations")
    assert [op.operation_id for op in via_sdk] == [op["operationId"] for op in via_rest.json()["value"]]
    single = deployments.deployment_operations.get(RESOURCE_GROUP, "gw-ops", via_sdk[0].operation_id)
    assert single.properties.provisioning_operation == "Create"
    assert single.properties.status_code == "Created"
    assert single.properties.target_resource.resource_type == BACKEND_TYPE


def test_request_without_bearer_token_is_refused(service: Any, twin_server: Any) -> None:
    url = f"{twin_server.url}{GROUP_ID}/providers/Microsoft.Resources/deployments?api-version=2026-06-01"
    answer = requests.get(url, verify=str(twin_server.ca_path), timeout=10)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "AuthenticationFailed"


# -- validate and what-if -------------------------------------------------------------------------------------------


def test_validate_lists_validated_resources_and_refuses_a_bad_template(service: Any, deployments: Any) -> None:
    tpl = template(backend("b1", "https://b1.example"), pool("aoai-pool", ["b1"]))

    valid = deployments.deployments.begin_validate(RESOURCE_GROUP, "gw-check", request(tpl)).result()

    assert valid.properties.provisioning_state == "Succeeded"
    assert [ref.id for ref in valid.properties.validated_resources] == [
        f"{APIM_ID}/backends/b1",
        f"{APIM_ID}/backends/aoai-pool",
    ]
    assert service.apim.get_resource(f"{APIM_ID}/backends/b1") is None  # validate writes nothing

    broken = template({**backend("b1", "https://b1.example"), "apiVersion": "[parameters('missing')]"})
    with pytest.raises(HttpResponseError) as raised:
        deployments.deployments.begin_validate(RESOURCE_GROUP, "gw-check", request(broken)).result()
    assert raised.value.status_code == 400
    assert raised.value.error.code == "InvalidTemplate"


def test_what_if_reports_create_modify_and_no_change(service: Any, deployments: Any) -> None:
    deploy(deployments, "gw-base", template(backend("b1", "https://old.example"), backend("b3", "https://b3.example")))
    proposed = template(
        backend("b1", "https://new.example"), backend("b2", "https://b2.example"), backend("b3", "https://b3.example")
    )

    result = deployments.deployments.begin_what_if(RESOURCE_GROUP, "gw-next", what_if_request(proposed)).result()

    changes = {change.resource_id.rsplit("/", 1)[-1]: change for change in result.changes}
    assert {name: change.change_type for name, change in changes.items()} == {
        "b1": "Modify",
        "b2": "Create",
        "b3": "NoChange",
    }
    delta = changes["b1"].delta
    assert [(d.path, d.property_change_type, d.before, d.after) for d in delta] == [
        ("properties.url", "Modify", "https://old.example", "https://new.example")
    ]
    assert changes["b2"].after["properties"]["url"] == "https://b2.example"
    assert backend_url(service, "b1") == "https://old.example"  # what-if changes nothing
    assert [entry["status"] for entry in service.captured("arm.deployments.whatif")] == [202]


def test_what_if_in_complete_mode_reports_deletes_of_resources_the_template_drops(
    service: Any, deployments: Any
) -> None:
    deploy(deployments, "gw-base", template(system_topic("apim-events"), backend("b1", "https://b1.example")))
    topic_id = f"{GROUP_ID}/providers/Microsoft.EventGrid/systemTopics/apim-events"
    proposed = template(backend("b1", "https://b1.example"))

    complete = deployments.deployments.begin_what_if(
        RESOURCE_GROUP, "gw-next", what_if_request(proposed, mode="Complete")
    ).result()
    incremental = deployments.deployments.begin_what_if(RESOURCE_GROUP, "gw-next", what_if_request(proposed)).result()

    assert {c.resource_id: c.change_type for c in complete.changes} == {
        f"{APIM_ID}/backends/b1": "NoChange",
        topic_id: "Delete",
    }
    assert {c.resource_id: c.change_type for c in incremental.changes} == {
        f"{APIM_ID}/backends/b1": "NoChange",
        topic_id: "Ignore",
    }


def test_complete_mode_deletes_dropped_top_level_resources_but_not_apim_children(
    service: Any, deployments: Any
) -> None:
    deploy(deployments, "gw-base", template(system_topic("apim-events"), backend("b1", "https://b1.example")))

    result = deploy(deployments, "gw-complete", template(backend("b2", "https://b2.example")), mode="Complete")

    assert result.properties.provisioning_state == "Succeeded"
    assert [item["name"] for item in service.arm.resources.all()] == []
    # A child resource absent from the template stays: ARM deletes children only with their parent.
    assert backend_url(service, "b1") == "https://b1.example"
    operations = list(deployments.deployment_operations.list(RESOURCE_GROUP, "gw-complete"))
    cleanup = [op for op in operations if op.properties.provisioning_operation == "DeploymentCleanup"]
    assert [op.properties.target_resource.resource_name for op in cleanup] == ["apim-events"]


# -- cancel, conflicts, delete --------------------------------------------------------------------------------------


def test_cancel_while_running_stops_the_deployment_before_it_writes(service: Any, deployments: Any) -> None:
    deployments.deployments.begin_create_or_update(
        RESOURCE_GROUP, "gw-stop", request(template(backend("b1", "https://b1.example"))), polling=False
    )
    assert deployments.deployments.get(RESOURCE_GROUP, "gw-stop").properties.provisioning_state == "Running"

    deployments.deployments.cancel(RESOURCE_GROUP, "gw-stop")

    assert deployments.deployments.get(RESOURCE_GROUP, "gw-stop").properties.provisioning_state == "Canceled"
    assert service.apim.get_resource(f"{APIM_ID}/backends/b1") is None
    assert [entry["status"] for entry in service.captured("arm.deployments.cancel")] == [204]


def test_cancel_of_a_finished_deployment_is_a_conflict(service: Any, deployments: Any) -> None:
    deploy(deployments, "gw-done", template(backend("b1", "https://b1.example")))

    with pytest.raises(ResourceExistsError) as raised:
        deployments.deployments.cancel(RESOURCE_GROUP, "gw-done")

    assert raised.value.status_code == 409
    assert raised.value.error.code == "DeploymentCannotBeCancelled"


def test_put_while_the_same_name_runs_is_refused_and_a_finished_name_is_replaced(
    service: Any, deployments: Any
) -> None:
    first = request(template(backend("b1", "https://one.example")))
    deployments.deployments.begin_create_or_update(RESOURCE_GROUP, "gw-same", first, polling=False)

    with pytest.raises(ResourceExistsError) as raised:
        deployments.deployments.begin_create_or_update(RESOURCE_GROUP, "gw-same", first)
    assert raised.value.error.code == "DeploymentActive"
    assert "Unable to edit or replace deployment 'gw-same'" in raised.value.error.message

    service.arm.settle(service.arm.get(SUBSCRIPTION, RESOURCE_GROUP, "gw-same"))
    again = deploy(deployments, "gw-same", template(backend("b1", "https://two.example")))

    assert again.properties.provisioning_state == "Succeeded"
    assert backend_url(service, "b1") == "https://two.example"
    assert [entry["status"] for entry in service.captured("arm.deployments.put")] == [201, 409, 200]


def test_delete_removes_the_deployment_from_history_but_not_its_resources(service: Any, deployments: Any) -> None:
    deploy(deployments, "gw-old", template(backend("b1", "https://b1.example")))

    deployments.deployments.begin_delete(RESOURCE_GROUP, "gw-old").result()

    assert deployments.deployments.check_existence(RESOURCE_GROUP, "gw-old") is False
    assert backend_url(service, "b1") == "https://b1.example"


# -- onErrorDeployment ----------------------------------------------------------------------------------------------


def test_on_error_deployment_is_refused_naming_the_field(service: Any, deployments: Any) -> None:
    # ARM would re-run the last good deployment in Complete mode; a twin that took the field and did not would
    # answer differently, so it says it does not serve it (the product never sends it).
    body = request(template(backend("b1", "https://v1.example")))
    body.properties.on_error_deployment = OnErrorDeployment(type="LastSuccessful")

    with pytest.raises(HttpResponseError) as raised:
        deployments.deployments.begin_create_or_update(RESOURCE_GROUP, "gw-v1", body).result()

    assert raised.value.status_code == 400
    assert raised.value.error.code == "InvalidDeploymentRequest"
    assert "'properties.onErrorDeployment' is not served by the twin" in raised.value.error.message
    assert deployments.deployments.check_existence(RESOURCE_GROUP, "gw-v1") is False
    assert backend_url(service, "b1") is None


@pytest.mark.parametrize("failure_status", [400, 200])
def test_validate_in_the_long_running_form_answers_202_then_the_result_at_its_location(
    service: Any, deployments: Any, failure_status: int
) -> None:
    # 2025-04-01 Deployments_Validate: 202 + Location (relative in the published example), final state via it.
    from twin.arm_deployments.state import ValidateMode

    service.arm.validate_mode = ValidateMode(asynchronous=True, failure_status=failure_status)
    tpl = template(backend("b1", "https://b1.example"))

    valid = deployments.deployments.begin_validate(RESOURCE_GROUP, "gw-check", request(tpl)).result()
    assert [ref.id for ref in valid.properties.validated_resources] == [f"{APIM_ID}/backends/b1"]
    assert len(service.captured("arm.deployments.whatif.result")) >= 1

    broken = template({**backend("b1", "https://b1.example"), "apiVersion": "[parameters('missing')]"})
    if failure_status == 400:
        with pytest.raises(HttpResponseError) as raised:
            deployments.deployments.begin_validate(RESOURCE_GROUP, "gw-check", request(broken)).result()
        assert raised.value.status_code == 400 and raised.value.error.code == "InvalidTemplate"
    else:  # a result that holds `error` (the schema allows it on any answer): the SDK does not raise
        result = deployments.deployments.begin_validate(RESOURCE_GROUP, "gw-check", request(broken)).result()
        assert result.error.code == "InvalidTemplate"


def test_validate_with_a_200_failure_status_answers_the_error_in_a_200_result(service: Any, deployments: Any) -> None:
    from twin.arm_deployments.state import ValidateMode

    service.arm.validate_mode = ValidateMode(failure_status=200)
    broken = template({**backend("b1", "https://b1.example"), "apiVersion": "[parameters('missing')]"})
    result = deployments.deployments.begin_validate(RESOURCE_GROUP, "gw-check", request(broken)).result()
    assert result.error.code == "InvalidTemplate"
    service.reset()
    assert service.arm.validate_mode == ValidateMode()


def test_an_lro_that_ends_failed_is_classified_as_its_arm_error_not_as_an_unreadable_answer(
    service: Any, deployments: Any
) -> None:
    # azure-core raises OperationFailed as an HttpResponseError carrying the 200 status poll's response, whose body
    # is the Azure-AsyncOperation status {"status": "Failed", "error": {...}}: the activities' classification must
    # read that error (permanent), not call the answer unreadable and retry it.
    from activities.outcomes import failure

    tpl = template(backend("b1", "https://b1.example"), pool("aoai-pool", ["b1"], url="https://pool.example"))
    with pytest.raises(HttpResponseError) as raised:
        deploy(deployments, "gw-bad", tpl)
    assert raised.value.status_code == 200

    outcome = failure(raised.value)
    assert outcome["outcome"] == "permanent"
    assert outcome["error"]["code"] == "DeploymentFailed"
    assert [d["code"] for d in outcome["error"]["details"]] == ["ValidationError"]
