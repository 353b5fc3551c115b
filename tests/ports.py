"""Ports on 127.0.0.1 for tests of what a process does when nothing answers."""

from __future__ import annotations

import socket


def closed_port() -> int:
    """A port nobody listens on: bound for a moment to find a free one, then let go, so a
    connection to it is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
