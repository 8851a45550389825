"""The container builds every AWS client from one botocore session."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from moto import mock_aws
from pynamodb.connection import Connection

from chalicelib.aws_clients import botocore_session
from chalicelib.settings import Settings
from chalicelib.wiring import build_container, idempotency_store


@pytest.fixture
def sessions_started(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every botocore session started from now on."""
    botocore_session()  # the container's one session, whoever made it first
    started: list[Any] = []
    original = botocore.session.Session.__init__

    def counting_init(self: botocore.session.Session, *args: Any, **kwargs: Any) -> None:
        started.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(botocore.session.Session, "__init__", counting_init)
    return started


def test_building_a_container_starts_no_botocore_session_of_its_own(
    env: Settings, sessions_started: list[Any]
) -> None:
    with mock_aws():
        build_container(env)
        idempotency_store(env)
    assert sessions_started == []


def test_left_alone_pynamodb_starts_a_session_per_connection(
    env: Settings, sessions_started: list[Any]
) -> None:
    # What the first test guards against, and proof that its spy sees sessions start.
    with mock_aws():
        Connection(region=env.region).client  # noqa: B018
    assert len(sessions_started) == 1
