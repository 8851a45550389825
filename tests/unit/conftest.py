"""Fixtures for the unit layer: services over in-memory fakes, no network."""

from __future__ import annotations

import pytest

from tests.unit.support import Backend, build_backend


@pytest.fixture
def backend() -> Backend:
    return build_backend()
