"""The watchdog's I/O: read each target's deployments, backends, gateway logs and stored breaker events, hand
them to the pure core (breakerpanel.core.watch), and write what it decides to the store. The Functions
activity and `python -m breakerpanel watch --once` both run `check.check_group`.
"""
