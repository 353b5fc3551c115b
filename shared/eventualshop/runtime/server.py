"""``eventualshop serve`` on gunicorn: a production WSGI server with graceful shutdown.

Why gunicorn: it is already locked (functions-framework depends on it and serves deployed
functions with it), so the local server and a Knative function run on the same server; it is
maintained, and its SIGTERM handling is what a pod's shutdown needs: stop accepting, finish the
requests in flight within ``graceful_timeout``, then run the ``worker_exit`` hook, where the
shop drains its deliveries (the in-process broker's queue, the RabbitMQ dispatcher) and stops
its timer. werkzeug's development server has none of this.

One worker process with threads (``gthread``): the in-process broker, the outbox sweep timer
and the dispatcher live in the process that serves the requests, so there must be exactly one.
The shop is built in the worker (``load``), after gunicorn forks, since threads do not survive
a fork.
"""

from __future__ import annotations

import errno
import logging
import socket
from typing import TYPE_CHECKING, Any

from gunicorn.app.base import BaseApplication

from eventualshop.runtime.logs import JsonFormatter, log_level, quiet_levels

if TYPE_CHECKING:
    from eventualshop.runtime.local import LocalShop
    from eventualshop.runtime.root import Root

#: Seconds SIGTERM waits for requests in flight before the worker exits.
GRACEFUL_SECONDS = 25
#: Requests served at once (threads of the one worker).
THREADS = 16


def logging_config(level: str) -> dict[str, Any]:
    """gunicorn's ``logconfig_dict``: the shop's JSON lines at ``level`` (the settings'
    ``EVENTUALSHOP_LOG_LEVEL``), gunicorn's own included. gunicorn replaces the logging ``serve``
    set up with this, so this must carry the level: a fixed INFO let INFO and WARNING lines
    through a log set to ERROR."""
    name = log_level(level)
    number = logging.getLevelNamesMapping()[name]
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "root": {"level": name, "handlers": ["json"]},
        "loggers": {
            "gunicorn.error": {"level": name, "handlers": [], "propagate": True},
            "gunicorn.access": {
                "level": logging.getLevelName(max(logging.WARNING, number)),
                "handlers": [],
                "propagate": True,
            },
            # logs.quiet's levels: pika's retries, and no library printing the data it carries.
            **{
                logger: {"level": logging.getLevelName(held)}
                for logger, held in quiet_levels(number).items()
            },
        },
        "handlers": {
            "json": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "formatters": {"json": {"()": JsonFormatter}},
    }


def address(host: str, port: int) -> str:
    """``host:port``, an IPv6 host in brackets (``[::1]:8080``)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class PortTaken(Exception):
    """The address cannot be listened on; the message says so in one line."""


def check_port(host: str, port: int) -> None:
    """Fail in one line before gunicorn would retry the bind five times and log each."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            # A name that does not resolve, or an address this machine does not have, is the
            # host's fault; a port in use or reserved is the port's.
            host_wrong = isinstance(error, socket.gaierror) or error.errno == errno.EADDRNOTAVAIL
            option = "--host" if host_wrong else "--port"
            raise PortTaken(
                f"cannot listen on {host}:{port}: {error.strerror}; choose another with {option}"
            ) from None


class ShopServer(BaseApplication):  # type: ignore[misc]  # gunicorn ships no type hints
    def __init__(
        self,
        root: Root,
        host: str,
        port: int,
        *,
        threads: int = THREADS,
        log_level: str = "INFO",
    ) -> None:
        self.root = root
        self.bind = address(host, port)
        self.threads = threads
        self.log_level = log_level
        self.shop: LocalShop | None = None
        super().__init__()

    def load_config(self) -> None:
        for name, value in {
            "bind": [self.bind],
            "workers": 1,
            "worker_class": "eventualshop.runtime.gunicorn_worker.ProblemWorker",
            "threads": self.threads,
            "graceful_timeout": GRACEFUL_SECONDS,
            "timeout": 120,  # heartbeat of the worker, not a request time limit
            "keepalive": 5,
            "accesslog": None,
            "loglevel": self.log_level.lower(),
            "logconfig_dict": logging_config(self.log_level),
            "worker_exit": self._worker_exit,
        }.items():
            self.cfg.set(name, value)
        # gunicorn (>= 25.1, required) opens a control socket in $HOME, shared by every server.
        self.cfg.set("control_socket_disable", True)

    def load(self) -> Any:
        from eventualshop.runtime.local import LocalShop

        self.shop = LocalShop(self.root)
        self.shop.start()
        return self.shop.app

    def _worker_exit(self, _arbiter: object, _worker: object) -> None:
        # Requests in flight are finished by now; what they published is delivered before exit.
        if self.shop is not None:
            self.shop.stop()
