"""Where an `Idempotency-Key` answer is stored: its scope (the operation, the caller and the
challenge) and the id of the record that Powertools' idempotency utility writes for it, so
that a participant's export can show it and their erasure delete it.

`idempotency_record_id` repeats how Powertools names a record (`<key prefix>#<SHA-256 of the
JSON of the key>`, the key being `<scope>#<Idempotency-Key>`); a functional test checks it
against the records Powertools really writes (tests/functional/test_personal_data.py).

A keyed pledge's first answer is stored by the pledge's own transaction (`KeyedAnswer`), as
the completed record Powertools would have written: one write instead of Powertools' two
(in progress, then completed) around it. Every other keyed write, and every retry, goes
through Powertools, which reads such a record like its own (tests/functional/test_idempotency.py).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

IDEMPOTENCY_KEY_PREFIX = "crowdact"


def idempotency_scope(operation: str, participant_id: str, challenge_id: str) -> str:
    """The scope of a participant's keyed write: a key replays only its own caller's write of
    that operation on that challenge."""
    return f"{operation}#{participant_id}#{challenge_id}"


def idempotency_record_id(scope: str, key: str) -> str:
    digest = hashlib.sha256(json.dumps(f"{scope}#{key}", sort_keys=True).encode()).hexdigest()
    return f"{IDEMPOTENCY_KEY_PREFIX}#{digest}"


# How long an answer can be replayed: longer than any client retries a request.
ANSWER_TTL_SECONDS = 24 * 3600
COMPLETED = "COMPLETED"  # Powertools' status of a record holding its answer


class AnswerAlreadyStoredError(Exception):
    """A keyed write found an answer already stored under its key (a retry, or a concurrent
    request with the same key): nothing was written, and the stored answer is the one to give
    (Powertools' idempotency utility replays it, or says why not)."""


def request_digest(body: bytes) -> str:
    """What of a keyed request's body its stored answer remembers: the same key with another
    body is refused rather than replayed."""
    return hashlib.sha256(body).hexdigest()


@dataclass(frozen=True)
class KeyedAnswer:
    """A keyed write's answer, stored by the write's own transaction as a completed
    Powertools idempotency record: the same item Powertools writes (its id, `expiration`,
    `status`, `data`, `validation`), so that Powertools replays it for a retry with the same
    key, refuses another body, and the export and erasure find it like any other."""

    record_id: str
    status: int
    body: str
    payload_hash: str  # Powertools' validation hash of the request's digest
    written_at: int  # epoch seconds

    @property
    def expires_at(self) -> int:
        return self.written_at + ANSWER_TTL_SECONDS

    @property
    def data(self) -> str:
        """The answer as Powertools stores a function's result (its JSON, keys sorted)."""
        return json.dumps({"body": self.body, "status": self.status}, sort_keys=True)


def keyed_answer(
    scope: str, key: str, request_body: bytes, status: int, body: str, now: float
) -> KeyedAnswer:
    """The record a keyed write stores with its answer, as Powertools would write it for the
    payload `{"key": "<scope>#<key>", "body": request_digest(request_body)}`, validated on
    `body` with SHA-256 (chalicelib/api/idempotency.py configures it so)."""
    return KeyedAnswer(
        record_id=idempotency_record_id(scope, key),
        status=status,
        body=body,
        payload_hash=hashlib.sha256(
            json.dumps(request_digest(request_body), sort_keys=True).encode()
        ).hexdigest(),
        written_at=int(now),
    )
