"""Claims held under a lease, shared by the e-mail claim tables whose items have `status`,
`attempts`, `lease_until`, `sent_at`, `last_error` and `expires_at` (proposal and update
e-mails): one sender at a time per message, its outcome fenced by the lease."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pynamodb.attributes import Attribute
from pynamodb.expressions.update import Action
from pynamodb.models import Model

from chalicelib.storage.transactions import update_if

logger = logging.getLogger(__name__)

PENDING, SENT, FAILED = "pending", "sent", "failed"


class LeasedClaims:
    def __init__(self, model: type[Model], range_key: Attribute[Any], retention: timedelta) -> None:
        """`range_key`: the claim's range key attribute (absent: never claimed)."""
        self._model: Any = model  # its attributes are read by name
        self._range_key = range_key
        self._retention = retention

    def claim(
        self,
        item: Model,
        *,
        now: datetime,
        lease: timedelta,
        extra: Sequence[Action] = (),
    ) -> tuple[int, datetime] | None:
        """Take the claim if it is new, or pending with no live lease: (attempts, lease end);
        None (nothing written) when another sender holds it or it is settled."""
        model = self._model
        claimable = self._range_key.does_not_exist() | (
            (model.status == PENDING)
            & (model.lease_until.does_not_exist() | (model.lease_until < now))
        )
        lease_until = now + lease
        actions = [
            *extra,
            model.status.set(PENDING),
            model.attempts.add(1),
            model.lease_until.set(lease_until),
            # Kept from the first claim: a message retried for days still expires.
            model.expires_at.set(model.expires_at | (now + self._retention)),
        ]
        if not update_if(item, actions, claimable):
            return None
        return int(item.attempts), lease_until  # type: ignore[attr-defined]

    def held(self, hash_key: str, range_key: str) -> bool:
        """Why a claim was refused: True while it is pending (another sender's lease, or
        erased meanwhile: the next delivery decides), False once settled."""
        try:
            stored = self._model.get(hash_key, range_key, consistent_read=True)
        except self._model.DoesNotExist:
            return True
        return bool(stored.status == PENDING)

    def _finish(self, item: Model, lease_until: datetime, actions: list[Action]) -> None:
        model = self._model
        recorded = update_if(
            item,
            [*actions, model.lease_until.remove()],
            # The lease fences the outcome: a sender whose lease was taken records nothing.
            model.lease_until == lease_until,
        )
        if not recorded:
            logger.warning("%s: lease lost before its outcome", model.Meta.table_name)

    def mark_sent(self, item: Model, lease_until: datetime, *, now: datetime) -> None:
        model = self._model
        self._finish(
            item,
            lease_until,
            [model.status.set(SENT), model.sent_at.set(now), model.last_error.remove()],
        )

    def mark_failed(self, item: Model, lease_until: datetime, *, error: str, final: bool) -> None:
        model = self._model
        self._finish(
            item,
            lease_until,
            [model.status.set(FAILED if final else PENDING), model.last_error.set(error[:500])],
        )
