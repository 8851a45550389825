"""Where an `Idempotency-Key` answer is stored: its scope (the operation, the caller and the
challenge) and the id of the record that Powertools' idempotency utility writes for it, so
that a participant's export can show it and their erasure delete it.

`idempotency_record_id` repeats how Powertools names a record (`<key prefix>#<SHA-256 of the
JSON of the key>`, the key being `<scope>#<Idempotency-Key>`); a functional test checks it
against the records Powertools really writes (tests/functional/test_personal_data.py).
"""

from __future__ import annotations

import hashlib
import json

IDEMPOTENCY_KEY_PREFIX = "crowdact"


def idempotency_scope(operation: str, participant_id: str, challenge_id: str) -> str:
    """The scope of a participant's keyed write: a key replays only its own caller's write of
    that operation on that challenge."""
    return f"{operation}#{participant_id}#{challenge_id}"


def idempotency_record_id(scope: str, key: str) -> str:
    digest = hashlib.sha256(json.dumps(f"{scope}#{key}", sort_keys=True).encode()).hexdigest()
    return f"{IDEMPOTENCY_KEY_PREFIX}#{digest}"
