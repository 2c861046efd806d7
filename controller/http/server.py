"""HTTP_PORT: /metrics, /healthz and /circuit-breaker, served from threads of their own.

A request never waits for a tick and a tick never waits for a request: the loop hands each
tick's results over (`after_tick`) and the handlers read what was handed over last.
Imported only when HTTP_PORT is set.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from socketserver import TCPServer
from urllib.parse import parse_qs, urlsplit

from controller import PROG, __version__, report
from controller.autoscalers import breaker
from controller.aws import Runner
from controller.config import Config
from controller.decide import Observed
from controller.http.metrics import CONTENT_TYPE, Metrics
from controller.report import Done
from controller.runtime import health
from controller.runtime.heartbeat import Beat
from controller.runtime.logs import one_line

log = logging.getLogger(__name__)

PATHS = ("/metrics", "/healthz", "/circuit-breaker")
TEXT = "text/plain; charset=utf-8"
# How often serve_forever looks for a shutdown request: bounds how long stopping takes (well
# within the 2 s SIGTERM allows) and how often an idle server wakes up.
POLL_INTERVAL = 0.5
# A client that connects and sends nothing holds a thread this long at most.
REQUEST_TIMEOUT = 10.0


class BindError(Exception):
    """The address or port cannot be listened on: a configuration problem, exit 2."""


class Endpoints:
    """What the handlers answer, kept up to date by the loop after each tick."""

    def __init__(
        self,
        config: Config,
        metrics: Metrics,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.metrics = metrics
        self.clock = clock
        self.wall = wall
        # An answer older than a heartbeat is stale: the loop has stopped judging, and a
        # backup may have started since, so the breaker falls back to "wait".
        self.limit = Beat(0.0, config.interval, config.call_timeout).limit
        self._lock = threading.Lock()
        self._answer = breaker.no_tick([s.name for s in config.sources])
        self._when: float | None = None
        self._seen: Observed | None = None
        self._holders: dict[str, tuple[str, ...]] = {}

    def after_tick(self, seen: Observed, done: Done, ok: bool, seconds: float) -> None:
        c = self.config
        answer = breaker.judge(seen, c.resume_delay, dry_run=c.dry_run)
        held = report.holders(c, seen)
        with self._lock:
            self._answer, self._when = answer, self.clock()
            self._seen, self._holders = seen, held
        self.metrics.tick(seen, done, ok, seconds, breaker=not answer.may_scale)

    def circuit_breaker(self, table: str | None = None) -> breaker.Answer:
        with self._lock:
            answer, when, seen, held = self._answer, self._when, self._seen, self._holders
        if when is None or seen is None:
            return answer
        age = self.clock() - when
        if age > self.limit:
            return breaker.Answer(
                False, f"stale: the last tick ended {age:.0f}s ago; limit {self.limit:g}s"
            )
        if table is None or self.config.dry_run:
            return answer
        return breaker.for_table(answer, seen, held, table)

    def health(self) -> health.Verdict:
        # The heartbeat file itself, so that this is exactly what `healthcheck` says.
        return health.check(Path(self.config.heartbeat_file), self.wall())


class _Handler(BaseHTTPRequestHandler):
    endpoints: Endpoints  # set on the subclass made for each server
    server_version = f"{PROG}/{__version__}"
    timeout = REQUEST_TIMEOUT

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def _answer(self, *, body: bool) -> None:
        url = urlsplit(self.path)
        path = url.path
        content_type = TEXT
        if path == "/metrics":
            status, data = 200, self.endpoints.metrics.exposition()
            content_type = CONTENT_TYPE
        elif path == "/healthz":
            verdict = self.endpoints.health()
            word = "healthy" if verdict.healthy else "unhealthy"
            status, data = (200 if verdict.healthy else 503), f"{word}: {verdict.reason}\n".encode()
        elif path == "/circuit-breaker":
            table = parse_qs(url.query).get("table", [None])[-1]
            answer = self.endpoints.circuit_breaker(table)
            word = "scale" if answer.may_scale else "wait"
            # The reason names backups: one line whatever their names hold.
            reason = one_line(answer.reason)
            status, data = (200 if answer.may_scale else 503), f"{word}: {reason}\n".encode()
        else:
            status, data = 404, f"not found; the paths are {', '.join(PATHS)}\n".encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if body:
            self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        # A scrape every few seconds would drown the tick lines: requests show at debug only.
        log.debug("%s %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    # Handler threads must not keep the process alive after SIGTERM.
    daemon_threads = True

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN, a DNS query that can hang for
        # seconds in a container without DNS; the name is only used for CGI.
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)


class Server:
    """Listens at once (so a bad port fails at start); serves from `start` until `close`."""

    def __init__(self, endpoints: Endpoints, address: str, port: int) -> None:
        handler = type("Handler", (_Handler,), {"endpoints": endpoints})
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        server_class = type("Server", (_Server,), {"address_family": family})
        try:
            self.httpd = server_class((address, port), handler)
        except OSError as error:
            reason = error.strerror or str(error)
            where = f"{address} port {port}"
            raise BindError(f"HTTP_PORT: cannot listen on {where}: {reason}") from None
        self.port = int(self.httpd.server_address[1])
        self._thread = threading.Thread(
            target=self.httpd.serve_forever,
            kwargs={"poll_interval": POLL_INTERVAL},
            name="http",
            daemon=True,
        )

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        if self._thread.is_alive():
            self.httpd.shutdown()
        self.httpd.server_close()


class Http:
    """The server and what it serves, as cli.main starts and stops them."""

    def __init__(self, config: Config) -> None:
        if config.http_port is None:
            raise ValueError("HTTP_PORT is not set")
        self.endpoints = Endpoints(config, Metrics(config))
        self.server = Server(self.endpoints, config.http_address, config.http_port)
        self.after_tick = self.endpoints.after_tick
        self.after_crash = self.endpoints.metrics.crashed

    def follow(self, config: Config) -> None:
        """Describe the kinds through the controller's own copy of them, `config` (what a kind
        remembers between ticks, such as which backup holds each table, is there)."""
        self.endpoints.config = self.endpoints.metrics.config = config

    def counting(self, run: Runner) -> Runner:
        """`run`, with its calls counted for /metrics."""
        return self.endpoints.metrics.counting(run)

    def __enter__(self) -> Http:
        self.server.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.close()
