"""Where the CPU goes in a multi-threaded run (cProfile sees one thread): ``e2e.py --profile``.

:class:`ThreadProfiler` wraps ``threading.Thread.run`` so that every thread started while it is
installed measures its own CPU time (``time.thread_time``) and, optionally, runs under its own
``cProfile.Profile`` timed by that thread's CPU clock; the profiles are merged when the threads
end. Self time is then summed per component (pymongo, psycopg, pika, werkzeug, our kernel, ...),
by the file each function lives in. cProfile slows Python code more than C code, so the shares are
indicative; the CPU per thread role and per process are not distorted.

:class:`CpuWatch` reads the CPU time of whole processes (``/proc/<pid>/stat``): this one and the
servers (PostgreSQL, RabbitMQ, nx-27017), to see which is busy.
"""

from __future__ import annotations

import collections
import cProfile
import io
import os
import pstats
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

#: A function's component, by the first marker found in its file path (function names of C
#: builtins are matched too: ``{method 'recv_into' ...}``).
COMPONENTS: tuple[tuple[str, str], ...] = (
    ("pymongo/", "pymongo"),
    ("bson/", "pymongo"),
    ("psycopg/", "psycopg"),
    ("sqlalchemy/", "SQLAlchemy"),
    ("pika/", "pika (RabbitMQ client)"),
    ("pydantic", "pydantic"),
    ("http/client.py", "http.client"),
    ("flask/", "Flask"),
    ("werkzeug/", "werkzeug"),
    ("socketserver.py", "werkzeug"),
    ("http/server.py", "werkzeug"),
    ("email/", "werkzeug"),
    ("kernel/projection.py", "projections"),
    ("shopping_cart/read_models.py", "projections"),
    ("kernel/readmodels", "read-model store adapters"),
    ("runtime/broker/", "broker runtime (binding, dispatch, HTTP post)"),
    ("cloudevents/", "CloudEvents SDK"),
    ("runtime/", "runtime (HTTP edge, consumer, composition root)"),
    ("functions/", "runtime (HTTP edge, consumer, composition root)"),
    ("kernel/", "kernel (service, repository, event store, outbox)"),
    ("shopping_cart/", "cart domain"),
    ("json/", "json"),
    ("uuid.py", "uuid"),
    ("threading.py", "threading, queues"),
    ("queue.py", "threading, queues"),
    ("concurrent/", "threading, queues"),
    ("socket.py", "sockets, select"),
    ("selectors.py", "sockets, select"),
    ("ssl.py", "sockets, select"),
    ("bench/", "bench clients and poller"),
)
_BUILTINS = (
    ("recv", "sockets, select"),
    ("send", "sockets, select"),
    ("select", "sockets, select"),
    ("poll", "sockets, select"),
    ("socket", "sockets, select"),
    ("connect", "sockets, select"),
    ("lock", "threading, queues"),
    ("thread", "threading, queues"),
    ("json", "json"),
    ("psycopg", "psycopg"),
    ("pydantic", "pydantic"),
)


#: Stages of the pipeline, by the function that runs each (file suffix, function name): their
#: inclusive CPU (everything they call), as shares of all the threads' CPU. They nest: the
#: application service and the relay run inside a command request, the projector inside a
#: delivery request, every request inside werkzeug's handler.
STAGES: tuple[tuple[str, str, str], ...] = (
    (
        "every HTTP request (werkzeug handler, Flask, the function)",
        "socketserver.py",
        "process_request_thread",
    ),
    ("  command: load + decide + append (ApplicationService)", "kernel/service.py", "handle"),
    ("  command: outbox relay after commit (publish to RabbitMQ)", "kernel/outbox.py", "drain"),
    ("  delivery: parse the CloudEvent (binary mode)", "runtime/broker/binding.py", "from_http"),
    ("  delivery: the CloudEvent function (decode + projector)", "runtime/consumer.py", "target"),
    (
        "    projector: cursor, documents (Projector.handle)",
        "kernel/projection.py",
        "handle",
    ),
    (
        "dispatcher: one delivery, HTTP POST to a projector (decide)",
        "runtime/broker/rabbitmq.py",
        "decide",
    ),
    (
        "dispatcher: pika consumer loop (receive, settle, ack)",
        "runtime/broker/rabbitmq.py",
        "_consume",
    ),
)


def component(filename: str, function: str) -> str:
    for marker, name in COMPONENTS:
        if marker in filename:
            return name
    if filename == "~":  # a builtin: "<method 'recv_into' of '_socket.socket' objects>"
        for marker, name in _BUILTINS:
            if marker in function:
                return name
        return "other builtins"
    return "other"


def role(thread_name: str) -> str:
    for prefix, name in (
        ("client-", "bench clients"),
        ("lag-poller", "bench poller"),
        ("dispatch", "dispatcher workers (HTTP POST to projectors)"),
        ("rabbitmq-dispatcher", "dispatcher consumer loop (pika)"),
        ("Thread-", "HTTP request threads (commands, projectors)"),
        ("shop-http", "HTTP accept loop"),
        ("pymongo", "pymongo monitors"),
    ):
        if thread_name.startswith(prefix):
            return name
    return thread_name


class ThreadProfiler:
    """Installed, it measures every thread started from then on; ``report()`` after they end."""

    def __init__(self, *, functions: bool = True) -> None:
        self.functions = functions
        self.cpu: collections.defaultdict[str, float] = collections.defaultdict(float)  # s by role
        self.profiles: list[cProfile.Profile] = []
        self._lock = threading.Lock()
        self._original: Callable[[threading.Thread], None] | None = None

    def install(self) -> None:
        original = threading.Thread.run
        self._original = original
        profiler = self

        def run(thread: threading.Thread) -> None:
            profile = cProfile.Profile(time.thread_time) if profiler.functions else None
            start = time.thread_time()
            try:
                if profile is None:
                    original(thread)
                else:
                    profile.runcall(original, thread)
            finally:
                used = time.thread_time() - start
                with profiler._lock:
                    profiler.cpu[role(thread.name)] += used
                    if profile is not None:
                        profiler.profiles.append(profile)

        threading.Thread.run = run  # type: ignore[method-assign,assignment]

    def uninstall(self) -> None:
        if self._original is not None:
            threading.Thread.run = self._original  # type: ignore[method-assign,assignment]
            self._original = None

    def report(self, top: int = 30) -> str:
        total = sum(self.cpu.values()) or 1.0
        lines = [f"thread CPU {total:.2f} s, by thread role:"]
        by_cpu = sorted(self.cpu.items(), key=lambda item: -item[1])
        lines += [f"  {s * 100 / total:5.1f}%  {r}" for r, s in by_cpu]
        with self._lock:
            profiles = list(self.profiles)
        if not profiles:
            return "\n".join(lines)
        stats = pstats.Stats(profiles[0], stream=io.StringIO())
        for profile in profiles[1:]:
            stats.add(profile)
        raw: dict[tuple[str, int, str], Any] = stats.stats  # type: ignore[attr-defined]
        by_component: collections.Counter[str] = collections.Counter()
        own = 0.0
        for (filename, _line, function), (_cc, _nc, tottime, _ct, _callers) in raw.items():
            by_component[component(filename, function)] += tottime
            own += tottime
        own = own or 1.0
        lines.append("inclusive CPU by stage (cProfile):")
        for label, suffix, name in STAGES:
            cumulative = sum(
                entry[3]
                for (filename, _line, function), entry in raw.items()
                if function == name and filename.endswith(suffix)
            )
            lines.append(f"  {cumulative * 100 / own:5.1f}%  {label}")
        lines.append(f"self CPU by component (cProfile, {own:.2f} s profiled):")
        lines += [f"  {s * 100 / own:5.1f}%  {c}" for c, s in by_component.most_common()]
        out = io.StringIO()
        stats.stream = out  # type: ignore[attr-defined]
        stats.sort_stats("tottime").print_stats(top)
        stats.sort_stats("cumulative").print_stats(top)
        lines.append(out.getvalue())
        return "\n".join(lines)


def cpu_seconds(pids: Iterable[int]) -> dict[int, float]:
    """User + system CPU seconds of each process (Linux ``/proc``); missing ones are left out."""
    ticks = os.sysconf("SC_CLK_TCK")
    found: dict[int, float] = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / ticks
    return found


def processes_named(*names: str) -> dict[int, str]:
    """Pids whose command line mentions one of ``names`` (postgres, beam.smp, nx-27017, ...)."""
    found: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                command = cmdline.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        for name in names:
            if name in command:
                found[int(entry)] = name
                break
    return found


class CpuWatch:
    """CPU seconds used per process group between ``start()`` and ``stop()``."""

    def __init__(self, groups: dict[int, str]) -> None:
        self.groups = groups
        self._before: dict[int, float] = {}
        self._began = 0.0
        self.used: dict[str, float] = {}
        self.elapsed = 0.0

    def start(self) -> None:
        self._before = cpu_seconds(self.groups)
        self._began = time.perf_counter()

    def stop(self) -> None:
        after = cpu_seconds(self.groups)
        self.elapsed = time.perf_counter() - self._began
        used: dict[str, float] = collections.defaultdict(float)
        for pid, seconds in after.items():
            used[self.groups[pid]] += seconds - self._before.get(pid, 0.0)
        self.used = dict(used)

    def report(self) -> str:
        return ", ".join(
            f"{name} {seconds / self.elapsed:.2f} CPU"
            for name, seconds in sorted(self.used.items(), key=lambda item: -item[1])
        )


def postgres_processes(database: str) -> dict[int, str]:
    """The PostgreSQL server's own processes and the backends of ``database`` only: other
    databases' backends (other test runs on a shared server) are not this run's cost."""
    found: dict[int, str] = {}
    for pid, command in _command_lines().items():
        if "bin/postgres " in command:
            found[pid] = "postgresql"
        elif command.startswith("postgres: "):
            # "postgres: 15/main: checkpointer" or "postgres: 15/main: user db host(port) …"
            words = command.split()
            is_backend = len(words) > 4 and "(" in words[4]
            if not is_backend or words[3] == database:
                found[pid] = "postgresql"
    return found


def _command_lines() -> dict[int, str]:
    found: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                    found[int(entry)] = cmdline.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
    return found


class ProcessCpu:
    """CPU seconds per group of processes over a window; ``find()`` is asked again at the end,
    so processes born during the window (a new backend) count with all their CPU."""

    def __init__(self, find: Callable[[], dict[int, str]]) -> None:
        self.find = find
        self._before: dict[int, float] = {}
        self.used: dict[str, float] = {}

    def start(self) -> None:
        self._before = cpu_seconds(self.find())

    def stop(self) -> None:
        groups = self.find()
        after = cpu_seconds(groups)
        used: dict[str, float] = collections.defaultdict(float)
        for pid, seconds in after.items():
            used[groups[pid]] += seconds - self._before.get(pid, 0.0)
        self.used = dict(used)
