"""The watchdog's pure decisions: what the gateway logs, deployments and breaker events say about each target.

No Azure imports and no clock: every function takes the instant it evaluates as an argument, so a run can be
replayed as of any past moment (`watch --once --at T`) and tested without sleeping.
"""
