"""The twin's ARM deployments service: resource-group deployments (PUT as LRO, GET, list, validate, what-if,
cancel, delete), their operations, and ARM's store for resource types no other twin service models."""
