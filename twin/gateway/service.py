"""An APIM instance a scenario simulates: where it lives and which workspace its gateway logs go to."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Service:
    subscription_id: str
    resource_group: str
    name: str
    workspace_id: str  # the Log Analytics workspace's GUID (customer id) the diagnostic setting sends to
    location: str = "eastus"
    region: str = "East US"  # how GatewayLogs write the gateway's region

    @property
    def resource_id(self) -> str:
        """The ARM id, as ARM spells it (Event Grid's topic uses it so)."""
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.ApiManagement/service/{self.name}"
        )

    @property
    def log_resource_id(self) -> str:
        """_ResourceId as Log Analytics stores it: the ARM id in lower case."""
        return self.resource_id.lower()

    def target(self) -> dict[str, str]:
        """The target as BREAKERPANEL_TARGETS lists it."""
        return {
            "subscriptionId": self.subscription_id,
            "resourceGroup": self.resource_group,
            "apimName": self.name,
            "logAnalyticsWorkspaceId": self.workspace_id,
        }
