"""The local stack's HTTP server: `chalice local`'s, with API Gateway's answers and a start gate,
and the web client and the development sign-in beside the API (chalicelib/local/web.py).

The port opens before the stack behind it is ready. Until the stack sets the server's `ready`
event, every request gets 503 with `Retry-After`: `GET /health` answers `{"status":
"starting"}`, the other routes a problem+json. Once it is set, the Chalice app answers.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from http import HTTPStatus
from typing import Any

from chalice.app import Chalice
from chalice.config import Config as ChaliceConfig
from chalice.local import (
    ChaliceRequestHandler,
    LocalChalice,
    LocalDevServer,
    LocalGatewayException,
    ThreadedHTTPServer,
)

from chalicelib.api.problems import PROBLEM_CONTENT_TYPE, ProblemKind, problem_body
from chalicelib.local.web import WebAnswer, WebFront

logger = logging.getLogger(__name__)

STARTING = ProblemKind(503, "starting", "Starting")
NOT_FOUND = ProblemKind(404, "not-found", "Not found")  # what API Gateway answers, shaped
STARTING_RETRY_AFTER_SECONDS = 1
# API Gateway's own payload limit: no request it would pass is left unread.
MAX_DISCARDED_BODY_BYTES = 10 * 1024 * 1024


class LocalRequestHandler(ChaliceRequestHandler):
    """Like API Gateway with crowdact's gateway responses: unknown routes are 404 problem+json."""

    # Headers and body leave in separate writes; without TCP_NODELAY each response waits
    # ~40 ms for the client's delayed ACK.
    disable_nagle_algorithm = True

    def _generic_handle(self) -> None:
        self._started = time.perf_counter()
        web: WebFront | None = getattr(self.server, "web", None)
        if web is not None:
            answer = web.answer(self.command, self.path, self.headers, self.rfile.read)
            if answer is not None:
                self._send_web(answer)
                return
        ready = getattr(self.server, "ready", None)
        if ready is not None and not ready.is_set():
            self._send_starting()
            return
        super()._generic_handle()

    # ChaliceRequestHandler binds these to its own _generic_handle.
    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

    def _send_starting(self) -> None:
        if self.command in ("GET", "HEAD") and self.path.split("?")[0] == "/health":
            body = json.dumps({"status": "starting"})
            content_type = "application/json"
        else:
            detail = "the local stack is starting; GET /health answers 200 once it is ready"
            body = json.dumps(problem_body(STARTING, detail))
            content_type = PROBLEM_CONTENT_TYPE
        self._discard_body()
        encoded = body.encode("utf-8")
        self.send_response(503)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(encoded)))
        self.send_header("Retry-After", str(STARTING_RETRY_AFTER_SECONDS))
        self.send_header("Cache-Control", "no-store")
        # Whatever follows on this connection is not parsed: it closes after the answer.
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":  # a HEAD gets the headers of the GET, without its body
            self.wfile.write(encoded)

    def _send_web(self, answer: WebAnswer) -> None:
        """The web client's files and the development sign-in (chalicelib/local/web.py)."""
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)

    def _discard_body(self) -> None:
        """Read the refused request's body, so that a client still sending it gets the 503
        rather than a reset connection (within a bound: a larger one is left unread)."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return
        if 0 < length <= MAX_DISCARDED_BODY_BYTES:
            self.rfile.read(length)

    def _send_error_response(self, error: LocalGatewayException) -> None:
        if error.CODE == 403:
            detail = f"no route matches {self.command} {self.path.split('?')[0]}"
            body = json.dumps(problem_body(NOT_FOUND, detail))
            self._send_http_response(404, {"Content-Type": PROBLEM_CONTENT_TYPE}, body)
            return
        super()._send_error_response(error)

    def __getattr__(self, name: str) -> Any:
        # http.server answers a method without a `do_<METHOD>` (TRACE, QUERY, …) with an HTML
        # 501; the app answers it like any undeclared method: 405 problem+json, or 404.
        if name.startswith("do_"):
            return self._generic_handle
        raise AttributeError(name)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """One line per request: method, path, status and the time to the response."""
        started = getattr(self, "_started", None)
        took = f" {(time.perf_counter() - started) * 1000:.1f} ms" if started is not None else ""
        code = code.value if isinstance(code, HTTPStatus) else code
        logger.info("%s %s %s%s", self.command, self.path, code, took)

    def log_message(self, format: str, *args: Any) -> None:
        logger.info("%s %s", self.address_string(), format % args)


class BurstReadyHTTPServer(ThreadedHTTPServer):
    """Chalice's threaded server with a listen queue for bursts (socketserver's default is 5,
    and the kernel resets connections beyond it), and the `ready` event its handler reads:
    set from the start unless one is given."""

    request_queue_size = 128

    def __init__(
        self,
        server_address: tuple[str, int],
        handler: Any,
        bind_and_activate: bool = True,
        *,
        ready: threading.Event | None = None,
        web: WebFront | None = None,
    ) -> None:
        super().__init__(server_address, handler, bind_and_activate)
        if ready is None:
            ready = threading.Event()
            ready.set()
        self.ready = ready
        self.web = web


class PerThreadChalice(LocalChalice):
    """`chalice local`'s app class, which keeps the current request per thread (a Lambda
    container serves one request at a time; this server serves many at once), with the Lambda
    context per thread as well."""

    @property
    def lambda_context(self) -> Any:
        return getattr(self._THREAD_LOCAL, "lambda_context", None)

    @lambda_context.setter
    def lambda_context(self, value: Any) -> None:
        self._THREAD_LOCAL.lambda_context = value


def serve_on_threads(app: Chalice) -> None:
    """What `chalice local` does to the app before serving it (`create_local_server`)."""
    if not isinstance(app, PerThreadChalice):
        app.__class__ = type("ThreadedLocalChalice", (PerThreadChalice, type(app)), {})


def gated_server(app: Chalice, host: str, port: int, ready: threading.Event) -> LocalDevServer:
    """The app on a bound socket, answering 503 until `ready` is set."""
    serve_on_threads(app)
    config = ChaliceConfig.create(chalice_stage="local", app_name="crowdact", lambda_timeout=30)

    web = WebFront(tile_url=os.environ.get("CROWDACT_TILE_URL") or None)

    def server_cls(address: tuple[str, int], handler: Any) -> BurstReadyHTTPServer:
        return BurstReadyHTTPServer(address, handler, ready=ready, web=web)

    return LocalDevServer(
        app, config, host, port, handler_cls=LocalRequestHandler, server_cls=server_cls
    )
