"""A minimal HTTP POST client on the standard library, with keep-alive per thread.

No third-party client is installed and functions must start fast, so this uses ``http.client``.
Each thread keeps one connection per (scheme, host, port): a publisher or a dispatcher worker
posting event after event reuses it instead of paying a TCP handshake per event.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit


class HttpFailure(Exception):
    """No HTTP answer at all: refused, reset, timed out, or an unusable URL."""


@dataclass(frozen=True, slots=True)
class HttpReply:
    status: int
    body: bytes


class HttpPoster:
    """``headers``: sent with every POST besides a call's own (the dispatcher's delivery key)."""

    def __init__(self, timeout: float = 30.0, *, headers: Mapping[str, str] | None = None) -> None:
        self.timeout = timeout
        self._headers = dict(headers or {})
        self._local = threading.local()

    def __repr__(self) -> str:  # never the headers: they may hold a key
        return f"HttpPoster(timeout={self.timeout})"

    def post(self, url: str, headers: dict[str, str], body: bytes) -> HttpReply:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise HttpFailure(f"unsupported URL {url!r}")
        key = (parts.scheme, parts.netloc)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connections = self._connections()
        for _ in range(2):
            connection = connections.get(key)
            reused = connection is not None
            if connection is None:
                connection = self._connect(parts.scheme, parts.hostname, parts.port)
                connections[key] = connection
            try:
                connection.request("POST", path, body=body, headers=headers | self._headers)
                response = connection.getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException) as error:
                connection.close()
                connections.pop(key, None)
                # A kept-alive connection the server closed while idle fails on first use; one
                # fresh attempt tells that apart from a server that is really unreachable. A
                # timeout is not retried here: the server may still be working on the request.
                if reused and isinstance(error, ConnectionResetError | BrokenPipeError):
                    continue
                raise HttpFailure(f"{type(error).__name__}: {error}") from error
            if response.will_close:
                connection.close()
                connections.pop(key, None)
            return HttpReply(response.status, payload)
        raise HttpFailure(f"no answer from {parts.netloc}")  # pragma: no cover - loop exits above

    def close(self) -> None:
        """Close this thread's connections (other threads' close with their thread)."""
        for connection in self._connections().values():
            connection.close()
        self._connections().clear()

    def _connections(self) -> dict[tuple[str, str], http.client.HTTPConnection]:
        connections: dict[tuple[str, str], http.client.HTTPConnection] | None = getattr(
            self._local, "connections", None
        )
        if connections is None:
            connections = {}
            self._local.connections = connections
        return connections

    def _connect(self, scheme: str, host: str, port: int | None) -> http.client.HTTPConnection:
        if scheme == "https":
            return http.client.HTTPSConnection(host, port, timeout=self.timeout)
        return http.client.HTTPConnection(host, port, timeout=self.timeout)
