"""`Idempotency-Key`: a retried POST with the same key and body gets the first answer again."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chalice.app import Response

from chalicelib.domain.errors import (
    IdempotencyKeyReusedError,
    InvalidRequestError,
    RequestInProgressError,
)
from chalicelib.domain.idempotency import (
    ANSWER_TTL_SECONDS,
    IDEMPOTENCY_KEY_PREFIX,
    request_digest,
)

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency.persistence.base import (
        BasePersistenceLayer,
    )

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


def check_key(key: str) -> str:
    if not KEY_PATTERN.match(key):
        raise InvalidRequestError(
            f"the {HEADER} header must be 1-128 letters, digits or _ . : -",
            [{"loc": ["header", HEADER], "msg": "invalid idempotency key"}],
        )
    return key


class IdempotentResponses:
    """Stores the first answer to each (scope, key) with Powertools' idempotency utility
    (a conditional write: concurrent first requests cannot both run) and replays it."""

    def __init__(self, store_factory: Callable[[], BasePersistenceLayer]) -> None:
        self._store_factory = store_factory
        self._store: BasePersistenceLayer | None = None
        self._lock = threading.Lock()

    def _persistence(self) -> BasePersistenceLayer:
        # Built on first use: most requests carry no key, and this costs a boto3 client.
        with self._lock:
            if self._store is None:
                self._store = self._store_factory()
            return self._store

    def prepare(self) -> None:
        """Build the store and load Powertools' idempotency now rather than on the first key
        (the local stack, so that its first such request is as fast as the next)."""
        from aws_lambda_powertools.utilities.idempotency.base import IdempotencyHandler  # noqa: F401

        self._persistence()

    def run(
        self,
        *,
        scope: str,
        key: str,
        body: bytes,
        produce: Callable[[], Response],
        lambda_context: Any,
    ) -> Response:
        from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig
        from aws_lambda_powertools.utilities.idempotency.base import IdempotencyHandler
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            IdempotencyAlreadyInProgressError,
            IdempotencyValidationError,
        )

        config = IdempotencyConfig(
            event_key_jmespath="key",
            payload_validation_jmespath="body",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=ANSWER_TTL_SECONDS,
            hash_function="sha256",
            # An in-progress record then expires with this invocation: a request that died
            # half-way blocks its key until its Lambda timeout, not for the whole TTL.
            lambda_context=lambda_context,
        )
        payload = {
            "key": f"{scope}#{check_key(key)}",
            "body": request_digest(body),
        }
        produced: list[bool] = []

        def answer(_: dict[str, Any]) -> dict[str, Any]:
            # Errors are not stored: a retry after a 4xx runs again, as it may now succeed.
            response = produce()
            produced.append(True)
            return {"status": response.status_code, "body": response.body}

        handler = IdempotencyHandler(
            function=answer,
            function_payload=payload,
            config=config,
            persistence_store=self._persistence(),
            key_prefix=IDEMPOTENCY_KEY_PREFIX,
            function_args=(payload,),
            function_kwargs={},
        )
        try:
            stored: dict[str, Any] = handler.handle()
        except IdempotencyValidationError as error:
            raise IdempotencyKeyReusedError(
                f"this {HEADER} was already used with a different body"
            ) from error
        except IdempotencyAlreadyInProgressError as error:
            raise RequestInProgressError(
                f"a request with this {HEADER} is still being processed; retry shortly"
            ) from error
        headers: dict[str, str | list[str]] = {"Content-Type": "application/json"}
        if not produced:
            headers[REPLAYED_HEADER] = "true"
        return Response(body=stored["body"], status_code=int(stored["status"]), headers=headers)
