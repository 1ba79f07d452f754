"""The twin's Log Analytics workspace: the v1 query API over ApiManagementGatewayLogs rows, run by a KQL engine."""

from twin.log_analytics import errors as errors  # registers the service's error codes in the catalogue
