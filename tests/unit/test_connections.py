"""A PynamoDB connection's client is built once, from the container's botocore session, and
serves every thread: not one per thread from a session of its own (which the local stack's
in-process AWS would not answer, and which costs a botocore session each)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from pynamodb.connection import Connection

from chalicelib.aws_clients import botocore_session
from chalicelib.storage.tables import with_container_session


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")


def test_the_client_exists_once_the_connection_is_returned() -> None:
    connection = with_container_session(Connection(region="eu-west-3", host="http://127.0.0.1:1"))
    assert connection._client is not None


def test_a_thread_that_uses_it_first_gets_the_containers_client() -> None:
    connection = with_container_session(Connection(region="eu-west-3", host="http://127.0.0.1:1"))
    seen: dict[str, Any] = {}

    def other_thread() -> None:
        seen["client"] = connection.client
        seen["session"] = getattr(connection._local, "session", None)

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join(timeout=10)
    assert seen["session"] is None  # PynamoDB did not start a session for that thread
    assert seen["client"] is connection.client  # the one every thread uses
    assert connection._local.session is botocore_session()
