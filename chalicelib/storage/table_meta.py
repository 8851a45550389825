"""What every table's PynamoDB model shares (`configure_tables` sets the stage's name and
endpoint), in a module of its own so models in other modules can use it."""

from __future__ import annotations


class BaseMeta:
    region = "eu-west-3"
    host: str | None = None
    billing_mode = "PAY_PER_REQUEST"
    # Fail fast inside a Lambda instead of burning its timeout on one call.
    connect_timeout_seconds = 2
    read_timeout_seconds = 5
    max_retry_attempts = 3
