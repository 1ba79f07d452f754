"""ARM reads the rollout's preflight prerequisites make: resource providers, Event Grid system topics, diagnostic
settings, role assignments."""
