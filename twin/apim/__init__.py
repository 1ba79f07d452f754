"""The twin's API Management service: backends (Single and Pool, circuit breaker), APIs and API policies."""
