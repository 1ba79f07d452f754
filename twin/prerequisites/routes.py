"""Routes of the prerequisite reads. Paths match case-insensitively, as ARM's do."""

from __future__ import annotations

from twin.http import route
from twin.prerequisites import handlers as h

_SUBSCRIPTION = "/subscriptions/{subscriptionId}"
_GROUP = _SUBSCRIPTION + "/resourceGroups/{resourceGroupName}"
_SERVICE = _GROUP + "/providers/Microsoft.ApiManagement/service/{serviceName}"

ROUTES = [
    route("arm.providers.get", "GET", _SUBSCRIPTION + "/providers/{namespace}", h.get_provider),
    route("eventgrid.systemTopics.list", "GET", _GROUP + "/providers/Microsoft.EventGrid/systemTopics",
          h.list_system_topics),
    route("insights.diagnosticSettings.list", "GET",
          _SERVICE + "/providers/Microsoft.Insights/diagnosticSettings", h.list_diagnostic_settings),
    route("authorization.roleAssignments.list", "GET",
          _SUBSCRIPTION + "/providers/Microsoft.Authorization/roleAssignments", h.list_role_assignments),
    route("control.arm.providers.put", "PUT", "/_twin/arm/providers", h.set_provider_control,
          authenticated=False, needs_api_version=False),
    route("control.arm.roleAssignments.add", "POST", "/_twin/arm/roleAssignments", h.add_role_assignment_control,
          authenticated=False, needs_api_version=False),
    route("control.arm.resources.add", "POST", "/_twin/arm/resources", h.add_resource_control,
          authenticated=False, needs_api_version=False),
]
