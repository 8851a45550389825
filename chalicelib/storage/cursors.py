"""Opaque pagination cursors: a DynamoDB start key (and list position) as URL-safe base64."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from chalicelib.domain.errors import InvalidRequestError

MAX_CURSOR_LENGTH = 2048


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
