"""The local server's start gate: 503 with Retry-After until the stack is ready, then the app."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from chalice.app import Chalice, Response
from chalice.config import Config as ChaliceConfig
from chalice.local import LocalDevServer

from chalicelib.api.problems import shape_chalice_errors
from chalicelib.local.http_server import BurstReadyHTTPServer, LocalRequestHandler, gated_server
from tests.unit.loopback import request

PROBLEM_JSON = "application/problem+json"
STARTING_BODY = b'{"status": "starting"}'
# Generous bounds for a loopback round trip: they only keep a broken server from hanging the run.
TIMEOUT_SECONDS = 10
# How often serve_forever looks for shutdown(): its default (0.5 s) would slow every teardown.
POLL_SECONDS = 0.05


def tiny_app(name: str) -> Chalice:
    app = Chalice(app_name=name)
    app.register_middleware(shape_chalice_errors, "http")

    @app.route("/health", methods=["GET"])
    def health() -> Response:
        return Response(body={"status": "ok"})

    @app.route("/echo", methods=["POST"])
    def echo() -> Response:
        request = app.current_request
        assert request is not None
        return Response(body={"received": request.json_body})

    return app


@dataclass
class Served:
    port: int
    ready: threading.Event


def serve(server: LocalDevServer) -> Iterator[int]:
    thread = threading.Thread(
        target=server.server.serve_forever, kwargs={"poll_interval": POLL_SECONDS}, daemon=True
    )
    thread.start()
    try:
        yield server.server.server_address[1]
    finally:
        server.server.shutdown()
        server.server.server_close()
        thread.join(timeout=TIMEOUT_SECONDS)


@pytest.fixture
def gated() -> Iterator[Served]:
    ready = threading.Event()
    for port in serve(gated_server(tiny_app("gated"), "127.0.0.1", 0, ready)):
        yield Served(port, ready)


def assert_starting_headers(headers: dict[str, str]) -> None:
    assert headers["retry-after"] == "1"
    assert headers["cache-control"] == "no-store"
    assert headers["connection"] == "close"


@pytest.mark.parametrize("path", ["/health", "/health?verbose=1"])
def test_health_answers_starting_until_ready(gated: Served, path: str) -> None:
    status, headers, body = request(gated.port, "GET", path)

    assert status == 503
    assert headers["content-type"] == "application/json"
    assert_starting_headers(headers)
    assert body == {"status": "starting"}


def test_a_head_during_start_up_gets_the_headers_of_its_get_and_no_body(gated: Served) -> None:
    # A raw socket: http.client never reads a HEAD's body, so it would not see one sent.
    with socket.create_connection(("127.0.0.1", gated.port), timeout=TIMEOUT_SECONDS) as sock:
        sock.sendall(b"HEAD /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        received = b""
        while chunk := sock.recv(4096):  # the server closes the connection after a 503
            received += chunk

    head, _, rest = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503")
    assert b"Retry-After: 1" in head
    assert f"Content-Length: {len(STARTING_BODY)}".encode() in head  # the GET's length
    assert rest == b""


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/challenges", None),
        ("GET", "/nowhere?health", None),
        ("POST", "/echo", b'{"pledge": true}'),
        ("PROPFIND", "/challenges", None),  # no do_PROPFIND: still the gate, not an HTML 501
        pytest.param("POST", "/health", b"{}"),  # not its GET
        pytest.param("DELETE", "/health", None),
        pytest.param("PROPFIND", "/health", None),
    ],
)
def test_every_other_request_gets_a_starting_problem(
    gated: Served, method: str, path: str, body: bytes | None
) -> None:
    status, headers, problem = request(gated.port, method, path, body)

    assert status == 503
    assert headers["content-type"] == PROBLEM_JSON
    assert_starting_headers(headers)
    assert set(problem) == {"type", "title", "status", "detail"}
    assert problem["status"] == 503
    assert "/health" in problem["detail"]


def test_once_ready_the_app_answers(gated: Served) -> None:
    assert request(gated.port, "GET", "/health")[0] == 503

    gated.ready.set()

    status, headers, body = request(gated.port, "GET", "/health")
    assert (status, body) == (200, {"status": "ok"})
    assert "retry-after" not in headers
    assert request(gated.port, "POST", "/echo", b'{"n": 1}')[2] == {"received": {"n": 1}}
    status, headers, problem = request(gated.port, "GET", "/nowhere")
    assert (status, headers["content-type"], problem["status"]) == (404, PROBLEM_JSON, 404)


def test_a_body_sent_during_start_up_is_never_read_as_a_request(gated: Served) -> None:
    # The body is itself a request: were the connection kept open after the 503, the server
    # would parse it as the next request and answer it too.
    smuggled = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    head = (
        f"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(smuggled)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", gated.port), timeout=TIMEOUT_SECONDS) as sock:
        sock.sendall(head + smuggled)
        received = b""
        while chunk := sock.recv(65536):  # until the server closes the connection
            received += chunk

    assert received.startswith(b"HTTP/1.1 503 ")
    assert received.count(b"HTTP/1.") == 1
    head_part, _, body = received.partition(b"\r\n\r\n")
    assert b"application/problem+json" in head_part
    assert json.loads(body)["status"] == 503


def test_a_server_built_without_a_ready_event_is_ready_from_the_start() -> None:
    config = ChaliceConfig.create(chalice_stage="local", app_name="ungated", lambda_timeout=30)
    server = LocalDevServer(
        tiny_app("ungated"), config, "127.0.0.1", 0,
        handler_cls=LocalRequestHandler, server_cls=BurstReadyHTTPServer,
    )  # fmt: skip
    assert isinstance(server.server, BurstReadyHTTPServer)
    assert server.server.ready.is_set()

    for port in serve(server):
        status, _, body = request(port, "GET", "/health")
        assert (status, body) == (200, {"status": "ok"})


def test_a_given_ready_event_is_the_one_the_server_reads() -> None:
    ready = threading.Event()
    server = gated_server(tiny_app("given"), "127.0.0.1", 0, ready)

    assert server.server.ready is ready
    assert server.server.request_queue_size == 128
    server.server.server_close()
