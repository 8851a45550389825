"""Pagination cursors: opaque, round-trip exactly, and garbage is a 400, never a crash."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from chalicelib.domain.errors import InvalidRequestError
from chalicelib.storage.cursors import MAX_CURSOR_LENGTH, decode_cursor, encode_cursor


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "state",
    [
        {},
        {"s": 1, "k": {"status": {"S": "live"}, "created_key": {"S": "2026-06-01T09:00:00#ch_1"}}},
        {"k": {"participant_id": {"S": "Léa ✓"}, "challenge_id": {"S": "ch_?&=/"}}},
    ],
)
def test_a_cursor_round_trips(state: dict[str, Any]) -> None:
    cursor = encode_cursor(state)

    assert cursor is not None
    assert decode_cursor(cursor) == state


def test_cursors_are_url_safe_and_unpadded() -> None:
    cursor = encode_cursor({"k": "?" * 50 + "~" * 50})

    assert cursor is not None
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_no_state_is_no_cursor() -> None:
    assert encode_cursor(None) is None
    assert decode_cursor(None) is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=10), json_values, max_size=5))
def test_any_state_round_trips(state: dict[str, Any]) -> None:
    cursor = encode_cursor(state)
    assert cursor is not None
    # Real states are a DynamoDB key or two; longer cursors are refused by design.
    assume(len(cursor) <= MAX_CURSOR_LENGTH)

    assert decode_cursor(cursor) == state


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!!",
        "abcde",  # impossible base64 length
        "é",
        "x" * (MAX_CURSOR_LENGTH + 1),
        b64(b"not json"),
        b64(b"\xff\xfe\x00garbage"),
        b64(b"null"),
        b64(b"[1, 2]"),
        b64(b'"a string"'),
        b64(b"42"),
        b64(b'{"k": '),
    ],
)
def test_garbage_cursors_are_invalid_requests(cursor: str) -> None:
    with pytest.raises(InvalidRequestError) as raised:
        decode_cursor(cursor)
    assert raised.value.errors == [{"loc": ["query", "cursor"], "msg": "invalid cursor"}]


def test_a_deeply_nested_cursor_is_an_invalid_request() -> None:
    cursor = b64(b"[" * 1500)
    assert len(cursor) <= MAX_CURSOR_LENGTH

    with pytest.raises(InvalidRequestError):
        decode_cursor(cursor)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=64))
def test_arbitrary_text_is_either_a_state_or_an_invalid_request(cursor: str) -> None:
    try:
        state = decode_cursor(cursor)
    except InvalidRequestError:
        return
    assert isinstance(state, dict)
    assert json.loads(json.dumps(state)) == state
