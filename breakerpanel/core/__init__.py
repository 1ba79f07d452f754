"""Pure decisions of breakerpanel: no Azure SDK, no clock, no I/O."""
