"""The local stack serves requests on threads: each must see its own request and context."""

from __future__ import annotations

import threading
from typing import Any

from chalice.app import Chalice

from chalicelib.local.http_server import serve_on_threads

THREADS = 8


def test_each_thread_sees_its_own_request_and_lambda_context() -> None:
    app: Any = Chalice(app_name="per-thread")
    serve_on_threads(app)
    serve_on_threads(app)  # idempotent
    barrier = threading.Barrier(THREADS)
    seen: dict[int, tuple[Any, Any]] = {}

    def serve(number: int) -> None:
        app.current_request = f"request-{number}"
        app.lambda_context = f"context-{number}"
        barrier.wait()  # every thread has set its own before any reads
        seen[number] = (app.current_request, app.lambda_context)

    threads = [threading.Thread(target=serve, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {n: (f"request-{n}", f"context-{n}") for n in range(THREADS)}


def test_a_plain_chalice_app_shares_them_between_threads() -> None:
    # Why the local stack needs the above: without it the last writer wins for everyone.
    app: Any = Chalice(app_name="shared")
    app.current_request = "request-1"
    thread = threading.Thread(target=setattr, args=(app, "current_request", "request-2"))
    thread.start()
    thread.join()
    assert app.current_request == "request-2"
