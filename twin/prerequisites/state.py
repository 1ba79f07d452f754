"""Provider registrations and role assignments of the twin's subscriptions.

System topics and diagnostic settings are not kept here: they live in ARM's resource store
(twin/arm_deployments/resources.py), where a deployment of the gateway template writes them, so a listing shows
what was deployed as well as what a test put there first.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

# Namespaces the twin's subscriptions know (Providers_Get answers 404 InvalidResourceNamespace for any other).
NAMESPACES = ("Microsoft.ApiManagement", "Microsoft.Authorization", "Microsoft.CognitiveServices",
              "Microsoft.EventGrid", "Microsoft.Insights", "Microsoft.OperationalInsights", "Microsoft.Resources",
              "Microsoft.Web")
REGISTRATION_STATES = ("Registered", "NotRegistered", "Registering", "Unregistering")


@dataclass(frozen=True)
class RoleAssignment:
    scope: str
    role_definition_id: str
    principal_id: str

    @property
    def name(self) -> str:
        key = f"{self.scope}|{self.role_definition_id}|{self.principal_id}".lower()
        return str(uuid.uuid5(uuid.NAMESPACE_URL, key))

    def body(self) -> dict[str, Any]:
        # RoleAssignments_ListForSubscription (2022-04-01) item shape.
        return {
            "id": f"{self.scope.rstrip('/')}/providers/Microsoft.Authorization/roleAssignments/{self.name}",
            "type": "Microsoft.Authorization/roleAssignments",
            "name": self.name,
            "properties": {
                "roleDefinitionId": self.role_definition_id,
                "principalId": self.principal_id,
                "principalType": "ServicePrincipal",
                "scope": self.scope,
            },
        }


class PrerequisitesState:
    def __init__(self) -> None:
        self._unregistered: dict[tuple[str, str], str] = {}
        self._assignments: list[RoleAssignment] = []

    def reset(self) -> None:
        self._unregistered.clear()
        self._assignments.clear()

    def set_registration(self, subscription_id: str, namespace: str, state: str) -> None:
        """Every known provider is Registered until a test says otherwise. ValueError names a bad value."""
        canonical = {n.lower(): n for n in NAMESPACES}.get(namespace.lower())
        if canonical is None:
            raise ValueError(f"namespace {namespace!r} is not one the twin knows; use one of {list(NAMESPACES)}")
        if state not in REGISTRATION_STATES:
            raise ValueError(f"registrationState {state!r} is not one of {list(REGISTRATION_STATES)}")
        key = (subscription_id.lower(), canonical.lower())
        if state == "Registered":
            self._unregistered.pop(key, None)
        else:
            self._unregistered[key] = state

    def provider(self, subscription_id: str, namespace: str) -> dict[str, Any] | None:
        """Providers_Get's body, or None for a namespace no subscription has."""
        canonical = {n.lower(): n for n in NAMESPACES}.get(namespace.lower())
        if canonical is None:
            return None
        state = self._unregistered.get((subscription_id.lower(), canonical.lower()), "Registered")
        return {
            "id": f"/subscriptions/{subscription_id}/providers/{canonical}",
            "namespace": canonical,
            "registrationState": state,
            "registrationPolicy": "RegistrationRequired",
            "resourceTypes": [],
        }

    def assign(self, scope: str, role_definition_id: str, principal_id: str) -> dict[str, Any]:
        assignment = RoleAssignment(scope, role_definition_id, principal_id)
        if assignment not in self._assignments:
            self._assignments.append(assignment)
        return assignment.body()

    def assignments_in(self, subscription_id: str, principal_id: str | None) -> list[dict[str, Any]]:
        """Assignments at the subscription's scope or below it, optionally of one principal."""
        prefix = f"/subscriptions/{subscription_id}".lower()
        return [a.body() for a in self._assignments
                if (a.scope.lower() == prefix or a.scope.lower().startswith(prefix + "/"))
                and (principal_id is None or a.principal_id.lower() == principal_id.lower())]
