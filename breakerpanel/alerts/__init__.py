"""Incident transitions and rollout outcomes, out to people: an outbox in the state store, delivered to
Application Insights custom events (the Portal's alert rules and workbook) and to a webhook (chat)."""
