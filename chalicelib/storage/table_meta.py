"""What every table's PynamoDB model shares (`configure_tables` sets the stage's name and
endpoint), in a module of its own so models in other modules can use it."""

from __future__ import annotations

from typing import Any


class BaseMeta:
    region = "eu-west-3"
    host: str | None = None
    billing_mode = "PAY_PER_REQUEST"
    # Fail fast inside a Lambda instead of burning its timeout on one call.
    connect_timeout_seconds = 2
    read_timeout_seconds = 5
    max_retry_attempts = 3


def read_through_index(model: Any, index: Any, hash_key: str) -> list[Any]:
    """The items a keys-only index lists under `hash_key`, each read from the table in one
    consistent BatchGetItem (the index itself is eventually consistent and holds no more
    than the keys)."""
    keys = [
        (getattr(entry, model._hash_keyname), getattr(entry, model._range_keyname))
        for entry in index.query(hash_key)
    ]
    return list(model.batch_get(keys, consistent_read=True)) if keys else []
