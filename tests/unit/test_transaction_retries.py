"""with_transaction_retries: contention is retried, then surfaces as ContentionError (503)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pynamodb.exceptions import CancellationReason, TransactWriteError, VerboseClientError

from chalicelib.api.problems import response_for_error
from chalicelib.domain.errors import ContentionError
from chalicelib.storage.transactions import with_transaction_retries


def cancelled(*codes: str | None) -> TransactWriteError:
    reasons = [CancellationReason(code=code) if code else None for code in codes]
    cause = VerboseClientError(
        {"Error": {"Code": "TransactionCanceledException", "Message": "cancelled"}},
        "TransactWriteItems",
        cancellation_reasons=reasons,
    )
    return TransactWriteError("cancelled", cause=cause)


def throttled() -> TransactWriteError:
    cause = VerboseClientError(
        {"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "TransactWriteItems"
    )
    return TransactWriteError("throttled", cause=cause)


def failing(times: int, error: Callable[[], TransactWriteError]) -> Callable[[], str]:
    calls = {"n": 0}

    def operation() -> str:
        calls["n"] += 1
        if calls["n"] <= times:
            raise error()
        return f"done after {calls['n']}"

    return operation


def test_a_conflict_is_retried_until_the_write_goes_through() -> None:
    operation = failing(3, lambda: cancelled(None, "TransactionConflict"))
    assert with_transaction_retries(operation, attempts=6) == "done after 4"


def test_throttling_is_retried_too() -> None:
    assert with_transaction_retries(failing(2, throttled), attempts=6) == "done after 3"


def test_endless_contention_becomes_a_503_problem() -> None:
    operation = failing(10, lambda: cancelled("TransactionConflict", None))
    with pytest.raises(ContentionError) as raised:
        with_transaction_retries(operation, attempts=3)
    response = response_for_error(raised.value)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"


def test_a_failed_condition_is_not_retried() -> None:
    operation = failing(1, lambda: cancelled("ConditionalCheckFailed", None))
    with pytest.raises(TransactWriteError) as raised:
        with_transaction_retries(operation, attempts=6)
    assert [r.code if r else None for r in raised.value.cancellation_reasons] == [
        "ConditionalCheckFailed",
        None,
    ]
