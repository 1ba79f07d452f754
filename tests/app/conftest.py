"""The CLI tests run rollouts in the test process, against the in-process twin.

An Azure SDK error keeps its HTTP response, and the traceback that holds it makes a reference cycle: the pooled
TLS connection behind it is freed only by the garbage collector. Left to interpreter exit, the twin's handler
thread still serving it aborted the process now and then (rc 134 after every test passed). Collecting after each
test closes those connections while everything is still alive.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def collect_connections() -> Iterator[None]:
    yield
    gc.collect()
