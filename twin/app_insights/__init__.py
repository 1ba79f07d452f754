"""The twin's Application Insights: the ingestion endpoint the Azure Monitor exporter posts to, and the
events it took, queryable with KQL as `customEvents` (the component's schema) and `AppEvents` (the
workspace's)."""
