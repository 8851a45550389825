"""Opaque pagination cursors: a DynamoDB start key (and list position) as URL-safe base64,
and the check of a cursor's start key against the query it continues."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from chalicelib.domain.errors import InvalidRequestError

MAX_CURSOR_LENGTH = 2048
MAX_KEY_LENGTH = 1024  # DynamoDB's limit for a sort key; our ids are far shorter


def encode_cursor(state: dict[str, Any] | None) -> str | None:
    if state is None:
        return None
    raw = json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if cursor is None:
        return None
    invalid = InvalidRequestError(
        "the cursor is not one this API returned",
        [{"loc": ["query", "cursor"], "msg": "invalid cursor"}],
    )
    if not cursor or len(cursor) > MAX_CURSOR_LENGTH:
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        state = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise invalid from exc
    if not isinstance(state, dict):
        raise invalid
    return state


def cursor_of_another_list() -> InvalidRequestError:
    """A well-formed cursor that some other list (or query) returned."""
    return InvalidRequestError(
        "the cursor is not one this API returned for this list",
        [{"loc": ["query", "cursor"], "msg": "invalid cursor"}],
    )


def segment_position(state: dict[str, Any], segments: int) -> int:
    """Which of a list's `segments` (key ranges read one after another) a cursor is in."""
    position = state.get("s", 0)
    if not isinstance(position, int) or not 0 <= position < segments:
        raise InvalidRequestError("the cursor is not one this API returned")
    return position


def checked_start_key(
    state: dict[str, Any] | None, expected: dict[str, str | None]
) -> dict[str, Any] | None:
    """The start key carried by a client's cursor, checked against the query it continues:
    exactly the index's key attributes, with the partition value(s) given in `expected`
    (None: any string). A cursor from another list, or an edited one, is a 400, not a 500."""
    if state is None or state.get("k") is None:
        return None
    key = state["k"]
    if (
        not isinstance(key, dict)
        or set(key) != set(expected)
        or not all(
            isinstance(value, dict)
            and set(value) == {"S"}
            and isinstance(value["S"], str)
            and 0 < len(value["S"]) <= MAX_KEY_LENGTH
            and expected[name] in (None, value["S"])
            for name, value in key.items()
        )
    ):
        raise cursor_of_another_list()
    return key


def page_range(key: Any, after: str | None, until: str | None) -> Any:
    """A sort-key condition for a page of a fan-out: after `after` (the previous page's
    last key, dropped by the caller: `between` is inclusive) and up to `until`; None for
    the whole partition."""
    if after is not None and until is not None:
        return key.between(after, until)
    if after is not None:
        return key > after
    if until is not None:
        return key <= until
    return None
