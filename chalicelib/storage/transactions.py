"""Conditional writes and transactions, shared by the repositories: conditional updates,
retries on contention, request tokens that apply a transaction once, cancellation reasons."""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from pynamodb.exceptions import PutError, PynamoDBException, TransactWriteError, UpdateError
from pynamodb.models import Model

from chalicelib.domain.errors import ContentionError

logger = logging.getLogger(__name__)

CONDITIONAL_CHECK_FAILED = "ConditionalCheckFailed"
CONDITIONAL_CHECK_FAILED_EXCEPTION = "ConditionalCheckFailedException"
IDEMPOTENT_PARAMETER_MISMATCH = "IdempotentParameterMismatchException"
TRANSACTION_ATTEMPTS = 6

R = TypeVar("R")


def cancellation_codes(error: TransactWriteError) -> list[str | None]:
    return [reason.code if reason else None for reason in error.cancellation_reasons]


def update_if(item: Model, actions: list[Any], condition: Any) -> bool:
    """Apply an update if its condition holds; False (nothing written) when it does not."""
    try:
        item.update(actions=actions, condition=condition)
    except UpdateError as error:
        if error.cause_response_code == CONDITIONAL_CHECK_FAILED_EXCEPTION:
            return False
        raise
    return True


def put_if_absent(item: Model, condition: Any) -> bool:
    """Put an item that must not exist yet (`condition`: its key does not exist); False
    (nothing written) when it does."""
    try:
        item.save(condition=condition)
    except PutError as error:
        if error.cause_response_code == CONDITIONAL_CHECK_FAILED_EXCEPTION:
            return False
        raise
    return True


def transact_if(write: Callable[[], None]) -> bool:
    """Run a transaction whose first item is the conditional one; False if that condition
    failed (nothing written). Contention is retried; other errors propagate."""
    try:
        with_transaction_retries(write)
    except TransactWriteError as error:
        if cancellation_codes(error)[:1] == [CONDITIONAL_CHECK_FAILED]:
            return False
        raise
    return True


def transact_unless_refused(write: Callable[[], None]) -> bool:
    """Run a transaction whose items may all carry conditions; False if any of them failed
    (nothing written). Contention is retried; other errors propagate."""
    try:
        with_transaction_retries(write)
    except TransactWriteError as error:
        if CONDITIONAL_CHECK_FAILED in cancellation_codes(error):
            return False
        raise
    return True


def new_request_token() -> str:
    """A ClientRequestToken of its own (DynamoDB takes 1 to 36 characters)."""
    return str(uuid.uuid4())


def transact_once(
    write: Callable[[str], None],
    request_token: str | None,
    outcome: Callable[[Callable[[], None]], R],
) -> R:
    """Run `write` under one ClientRequestToken for every retry, so that a retry of a
    transaction that did go through (its answer lost on the way back) is not applied twice;
    `outcome` runs it and reads its cancellation (`transact_if`: whether it was applied).

    DynamoDB refuses a token it saw in the last 10 minutes with other parameters
    (`IdempotentParameterMismatchException`): a client retrying with the same
    Idempotency-Key after its first request failed or timed out, the item's `created_at`
    now being another. The transaction's own conditions (the pledge must not exist, or must;
    a report's id comes from the same key) already make it apply once, so it goes on under a
    new token.
    """
    token = request_token or new_request_token()
    try:
        return outcome(lambda: write(token))
    except TransactWriteError as error:
        if error.cause_response_code != IDEMPOTENT_PARAMETER_MISMATCH:
            raise
    logger.warning("request token reused with other parameters; going on under a new one")
    fresh = new_request_token()
    return outcome(lambda: write(fresh))


_CONTENTION_REASONS = {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
_CONTENTION_CAUSES = {"ThrottlingException", "ProvisionedThroughputExceededException",
                      "TransactionInProgressException", "RequestLimitExceeded"}  # fmt: skip


def _is_contention(error: TransactWriteError) -> bool:
    return bool(_CONTENTION_REASONS & set(cancellation_codes(error))) or (
        error.cause_response_code in _CONTENTION_CAUSES
    )


def with_transaction_retries(
    operation: Callable[[], R], *, attempts: int = TRANSACTION_ATTEMPTS
) -> R:
    """Retry a transaction that lost a race with another one on the same item.

    DynamoDB cancels a transaction with `TransactionConflict` while another transaction
    holds one of its items; the write had no effect, so trying again is safe.
    """
    for attempt in range(attempts):
        try:
            return operation()
        except TransactWriteError as error:
            if not _is_contention(error):
                raise
            if attempt == attempts - 1:
                raise ContentionError(
                    "the write kept conflicting with concurrent writes"
                ) from error
            # Full jitter keeps colliding writers from retrying in lock step.
            time.sleep(random.uniform(0, 0.01 * 2**attempt))  # noqa: S311 - jitter, not crypto
    raise AssertionError("unreachable")  # pragma: no cover


TRANSACTION_CONFLICT_EXCEPTION = "TransactionConflictException"


def with_conflict_retries(operation: Callable[[], R], *, attempts: int = TRANSACTION_ATTEMPTS) -> R:
    """Retry a single-item write that DynamoDB refused because a transaction held its item
    (`TransactionConflictException`: nothing was written, so trying again is safe)."""
    for attempt in range(attempts):
        try:
            return operation()
        except PynamoDBException as error:
            if error.cause_response_code != TRANSACTION_CONFLICT_EXCEPTION:
                raise
            if attempt == attempts - 1:
                raise ContentionError(
                    "the write kept conflicting with concurrent transactions"
                ) from error
            time.sleep(random.uniform(0, 0.01 * 2**attempt))  # noqa: S311 - jitter, not crypto
    raise AssertionError("unreachable")  # pragma: no cover
