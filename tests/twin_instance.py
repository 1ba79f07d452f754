"""The APIM instance the twin tests deploy into: one subscription, resource group and service for all of them
(tests/conftest.py's clients are built for this subscription)."""

from __future__ import annotations

SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"
RESOURCE_GROUP = "rg-gateway"
APIM = "apim-gateway"
GROUP_ID = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}"
APIM_ID = f"{GROUP_ID}/providers/Microsoft.ApiManagement/service/{APIM}"
