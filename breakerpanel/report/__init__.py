"""`python -m breakerpanel report`: the breaker report, a self-contained HTML page per target."""
