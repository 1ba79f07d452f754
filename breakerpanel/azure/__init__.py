"""Azure SDK client factories: the only place the app builds SDK clients (endpoints and trust from settings)."""
