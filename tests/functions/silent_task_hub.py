"""A Durable client binding whose task hub does not answer: the local task hub's own binding, pointed at a
loopback port nothing listens on (what a client sees when the extension's endpoint is down)."""

from __future__ import annotations

import socket

from breakerpanel.localrun.taskhub import LocalTaskHub


def unanswered_binding(hub: LocalTaskHub) -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    return hub.client_binding().replace(hub.rpc_base_url.rstrip("/"), f"http://127.0.0.1:{dead}")
