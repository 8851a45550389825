"""The local server answers any HTTP method through the app: an undeclared one is a 405
problem+json (as for PUT), never http.server's HTML 501 (schemathesis found TRACE)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from chalice.app import Chalice, Response
from chalice.config import Config as ChaliceConfig
from chalice.local import LocalDevServer

from chalicelib.api.problems import shape_chalice_errors
from chalicelib.local.http_server import BurstReadyHTTPServer, LocalRequestHandler
from tests.unit.loopback import request

PROBLEM_JSON = "application/problem+json"


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    app = Chalice(app_name="methods")
    app.register_middleware(shape_chalice_errors, "http")

    @app.route("/health", methods=["GET"])
    def health() -> Response:
        return Response(body={"status": "ok"})

    config = ChaliceConfig.create(chalice_stage="local", app_name="methods", lambda_timeout=30)
    server = LocalDevServer(
        app, config, "127.0.0.1", 0,
        handler_cls=LocalRequestHandler, server_cls=BurstReadyHTTPServer,
    )  # fmt: skip
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    yield server.server.server_address[1]
    server.server.shutdown()
    server.server.server_close()
    thread.join(timeout=5)


@pytest.mark.parametrize("method", ["TRACE", "QUERY", "PROPFIND", "PUT"])
def test_an_undeclared_method_is_a_405_problem(port: int, method: str) -> None:
    status, headers, body = request(port, method, "/health")
    assert status == 405
    assert headers["content-type"] == PROBLEM_JSON
    assert body["status"] == 405
    assert method in body["detail"]


def test_an_undeclared_method_on_an_unknown_path_is_a_404_problem(port: int) -> None:
    status, headers, body = request(port, "TRACE", "/nowhere")
    assert status == 404
    assert headers["content-type"] == PROBLEM_JSON
    assert body["status"] == 404


def test_declared_methods_still_reach_the_route(port: int) -> None:
    status, _, body = request(port, "GET", "/health")
    assert (status, body) == (200, {"status": "ok"})
