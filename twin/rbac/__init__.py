"""RBAC mode: the twin answers AuthorizationFailed / LinkedAuthorizationFailed as Azure does (mode.py)."""
