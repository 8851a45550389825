"""DynamoDB repositories: the only code that reads or writes the tables."""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError, UpdateError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib.domain.errors import ContentionError, InvalidRequestError
from chalicelib.domain.model import (
    Challenge,
    ChallengeStatus,
    Channel,
    Delivery,
    DeliveryStatus,
    EventType,
    Metric,
    Milestone,
    Party,
    Pledge,
    RecipientRole,
    Target,
    Totals,
    Visibility,
    counter_shard_for,
)
from chalicelib.services.ports import (
    PLAIN_CHANGES,
    ChallengeChanges,
    ChallengeRepository,
    ClaimRefused,
    Page,
)
from chalicelib.settings import Settings
from chalicelib.storage.cursors import (
    cursor_of_another_list,
    decode_cursor,
    encode_cursor,
    segment_position,
)
from chalicelib.storage.expiring import ExpiringLru
from chalicelib.storage.tables import (
    ChallengeEventItem,
    ChallengeItem,
    CounterShardItem,
    DeliveryItem,
    PartyAttribute,
    PledgeItem,
    TargetAttribute,
    with_container_session,
)

logger = logging.getLogger(__name__)

CONDITIONAL_CHECK_FAILED = "ConditionalCheckFailed"
CONDITIONAL_CHECK_FAILED_EXCEPTION = "ConditionalCheckFailedException"
IDEMPOTENT_PARAMETER_MISMATCH = "IdempotentParameterMismatchException"
PLEDGE_INDEX_BUCKETS = 16
TRANSACTION_ATTEMPTS = 6
MAX_KEY_LENGTH = 1024  # DynamoDB's limit for a sort key; our ids are far shorter

R = TypeVar("R")


def _cancellation_codes(error: TransactWriteError) -> list[str | None]:
    return [reason.code if reason else None for reason in error.cancellation_reasons]


def _update_if(item: Model, actions: list[Any], condition: Any) -> bool:
    """Apply an update if its condition holds; False (nothing written) when it does not."""
    try:
        item.update(actions=actions, condition=condition)
    except UpdateError as error:
        if error.cause_response_code == CONDITIONAL_CHECK_FAILED_EXCEPTION:
            return False
        raise
    return True


def _transact_if(write: Callable[[], None]) -> bool:
    """Run a transaction whose first item is the conditional one; False if that condition
    failed (nothing written). Contention is retried; other errors propagate."""
    try:
        with_transaction_retries(write)
    except TransactWriteError as error:
        if _cancellation_codes(error)[:1] == [CONDITIONAL_CHECK_FAILED]:
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
    `outcome` runs it and reads its cancellation (`_transact_if`: whether it was applied).

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
    return bool(_CONTENTION_REASONS & set(_cancellation_codes(error))) or (
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


def _start_key(
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


def _connection(settings: Settings) -> Connection:
    # One per repository: a Connection builds its botocore client once, and that is costly.
    return with_container_session(
        Connection(region=settings.region, host=settings.aws_endpoint_url)
    )


# --- challenges -------------------------------------------------------------------------------


def _party_to_item(party: Party) -> PartyAttribute:
    return PartyAttribute(
        name=party.name,
        email=party.email,
        webhook_url=party.webhook_url,
        webhook_secret=party.webhook_secret,
    )


def _party_from_item(item: PartyAttribute) -> Party:
    return Party(
        name=str(item.name),
        email=str(item.email),
        webhook_url=item.webhook_url,
        webhook_secret=item.webhook_secret,
    )


def _challenge_to_item(challenge: Challenge) -> ChallengeItem:
    return ChallengeItem(
        id=challenge.id,
        created_key=f"{challenge.created_at.isoformat()}#{challenge.id}",
        title=challenge.title,
        action=challenge.action,
        description=challenge.description,
        organization_id=challenge.organization_id,
        campaign_id=challenge.campaign_id,
        target=TargetAttribute(
            metric=challenge.target.metric.value,
            value=challenge.target.value,
            unit=challenge.target.unit,
        ),
        target_value=challenge.target.value,
        sponsor=_party_to_item(challenge.sponsor),
        beneficiary=_party_to_item(challenge.beneficiary),
        reward=challenge.reward,
        status=challenge.status.value,
        visibility=challenge.visibility.value,
        report_cap=challenge.report_cap,
        starts_at=challenge.starts_at,
        ends_at=challenge.ends_at,
        created_at=challenge.created_at,
        updated_at=challenge.updated_at,
        counter_shards=challenge.counter_shards,
        progress_participants=challenge.totals.participants,
        progress_quantity=challenge.totals.quantity,
        progress_version=challenge.totals.version,
        reached_at=challenge.reached_at,
    )


def _challenge_from_item(item: ChallengeItem) -> Challenge:
    return Challenge(
        id=item.id,
        title=item.title,
        action=item.action,
        description=item.description,
        organization_id=item.organization_id,
        campaign_id=item.campaign_id,
        target=Target(
            metric=Metric(item.target.metric),
            value=item.target.value,
            unit=item.target.unit,
        ),
        sponsor=_party_from_item(item.sponsor),
        beneficiary=_party_from_item(item.beneficiary),
        reward=item.reward,
        status=ChallengeStatus(item.status),
        visibility=Visibility(item.visibility),
        report_cap=item.report_cap,
        starts_at=item.starts_at,
        ends_at=item.ends_at,
        created_at=item.created_at,
        updated_at=item.updated_at,
        counter_shards=int(item.counter_shards),
        totals=Totals(
            participants=int(item.progress_participants),
            quantity=item.progress_quantity,
            version=int(item.progress_version),
        ),
        reached_at=item.reached_at,
    )


def _update_actions(changes: ChallengeChanges, now: datetime) -> list[Any]:
    actions: list[Any] = [ChallengeItem.updated_at.set(now)]
    for name, value in changes.fields.items():
        if name in PLAIN_CHANGES:
            attribute = getattr(ChallengeItem, name)
            stored = value.value if isinstance(value, Visibility) else value
            actions.append(attribute.remove() if stored is None else attribute.set(stored))
        elif name == "target" and isinstance(value, Target):
            actions.append(
                ChallengeItem.target.set(
                    TargetAttribute(metric=value.metric.value, value=value.value, unit=value.unit)
                )
            )
            actions.append(ChallengeItem.target_value.set(value.value))
        elif name in ("sponsor", "beneficiary") and isinstance(value, Party):
            actions.append(getattr(ChallengeItem, name).set(_party_to_item(value)))
        else:
            raise ValueError(f"unexpected change {name}={value!r}")
    return actions


class DynamoChallengeRepository:
    def __init__(self, settings: Settings) -> None:
        self._connection = _connection(settings)
        self._connection.client  # noqa: B018 - built once, up front (see open_connections)

    def add(self, challenge: Challenge) -> None:
        _challenge_to_item(challenge).save(condition=ChallengeItem.id.does_not_exist())

    def get(self, challenge_id: str, *, consistent: bool = False) -> Challenge | None:
        try:
            return _challenge_from_item(ChallengeItem.get(challenge_id, consistent_read=consistent))
        except ChallengeItem.DoesNotExist:
            return None

    def list(
        self,
        statuses: Sequence[ChallengeStatus],
        *,
        limit: int,
        cursor: str | None,
        campaign_id: str | None = None,
    ) -> Page[Challenge]:
        state = decode_cursor(cursor) or {"s": 0}
        if campaign_id is not None:
            return self._list_campaign(campaign_id, statuses, limit, state)
        position = segment_position(state, len(statuses))
        start_key = _start_key(
            state, {"id": None, "created_key": None, "status": statuses[position].value}
        )
        items: list[Challenge] = []
        # Walk the status partitions in order (live before ended, …), newest first in each.
        while position < len(statuses) and len(items) < limit:
            result = ChallengeItem.by_status.query(
                statuses[position].value,
                scan_index_forward=False,
                limit=limit - len(items),
                last_evaluated_key=start_key,
            )
            items.extend(_challenge_from_item(item) for item in result)
            start_key = result.last_evaluated_key
            if start_key is None:
                position += 1
        more = position < len(statuses)
        return Page(items, encode_cursor({"s": position, "k": start_key}) if more else None)

    def list_due(self, now: datetime) -> Sequence[Challenge]:
        """Every live challenge whose `ends_at` is at or before `now`, read page by page from
        the `live` partition of `by_status` (live challenges number in the thousands at most;
        see docs/decisions.md). The filter only trims what comes back, not what is read."""
        result = ChallengeItem.by_status.query(
            ChallengeStatus.LIVE.value, filter_condition=ChallengeItem.ends_at <= now
        )
        return [_challenge_from_item(item) for item in result]

    def _list_campaign(
        self,
        campaign_id: str,
        statuses: Sequence[ChallengeStatus],
        limit: int,
        state: dict[str, Any],
    ) -> Page[Challenge]:
        wanted = [status.value for status in statuses]
        result = ChallengeItem.by_campaign.query(
            campaign_id,
            filter_condition=ChallengeItem.status.is_in(*wanted),
            scan_index_forward=False,
            limit=limit,
            last_evaluated_key=_start_key(
                state, {"id": None, "created_key": None, "campaign_id": campaign_id}
            ),
        )
        items = [_challenge_from_item(item) for item in result]
        next_key = result.last_evaluated_key
        return Page(items, encode_cursor({"k": next_key}) if next_key else None)

    def update(
        self,
        challenge: Challenge,
        changes: ChallengeChanges,
        *,
        allowed_statuses: Sequence[ChallengeStatus],
        now: datetime,
    ) -> Challenge | None:
        condition = ChallengeItem.status.is_in(*[status.value for status in allowed_statuses])
        if changes.changes_target:
            condition &= ChallengeItem.reached_at.does_not_exist()
        item = ChallengeItem(id=challenge.id)
        if not _update_if(item, _update_actions(changes, now), condition):
            return None
        return _challenge_from_item(item)

    def transition(
        self, challenge_id: str, source: ChallengeStatus, target: ChallengeStatus, now: datetime
    ) -> Challenge | None:
        item = ChallengeItem(id=challenge_id)
        actions = [ChallengeItem.status.set(target.value), ChallengeItem.updated_at.set(now)]
        if not _update_if(item, actions, ChallengeItem.status == source.value):
            return None
        return _challenge_from_item(item)

    def save_totals(self, challenge_id: str, totals: Totals) -> bool:
        return _update_if(
            ChallengeItem(id=challenge_id),
            [
                ChallengeItem.progress_participants.set(totals.participants),
                ChallengeItem.progress_quantity.set(totals.quantity),
                ChallengeItem.progress_version.set(totals.version),
            ],
            # Two aggregators may race; the higher version is the more recent sum.
            ChallengeItem.id.exists() & (ChallengeItem.progress_version < totals.version),
        )

    def record_milestone(self, challenge: Challenge, milestone: Milestone) -> bool:
        event_item = ChallengeEventItem(
            challenge_id=milestone.challenge_id,
            event=milestone.event.value,
            occurred_at=milestone.occurred_at,
            participants=milestone.totals.participants,
            quantity=milestone.totals.quantity,
            reached=milestone.reached,
        )

        def write() -> None:
            with TransactWrite(connection=self._connection) as transaction:
                transaction.save(event_item, condition=ChallengeEventItem.event.does_not_exist())
                if milestone.event is EventType.REACHED:
                    transaction.update(
                        ChallengeItem(id=challenge.id),
                        actions=[ChallengeItem.reached_at.set(milestone.occurred_at)],
                        condition=ChallengeItem.reached_at.does_not_exist()
                        & (ChallengeItem.target_value <= challenge.counted_value(milestone.totals)),
                    )
                elif milestone.event is EventType.ENDED:
                    transaction.update(
                        ChallengeItem(id=challenge.id),
                        actions=[
                            ChallengeItem.status.set(ChallengeStatus.ENDED.value),
                            ChallengeItem.updated_at.set(milestone.occurred_at),
                        ],
                        # Still live, with the deadline that was found due: an admin's close
                        # or a new ends_at made meanwhile wins, and nothing is written.
                        condition=(ChallengeItem.status == ChallengeStatus.LIVE.value)
                        & (ChallengeItem.ends_at == _deadline(challenge)),
                    )

        try:
            with_transaction_retries(write)
        except TransactWriteError as error:
            if CONDITIONAL_CHECK_FAILED in _cancellation_codes(error):
                return False
            raise
        return True


def _deadline(challenge: Challenge) -> datetime:
    if challenge.ends_at is None:
        raise ValueError(f"challenge {challenge.id} has no ends_at: it cannot end by its deadline")
    return challenge.ends_at


# --- the pledge path's challenge cache ---------------------------------------------------------

CHALLENGE_CACHE_TTL_SECONDS = 1.0
CHALLENGE_CACHE_MAX_ENTRIES = 1024
MISSING_CHALLENGE_TTL_SECONDS = 0.5
MISSING_CHALLENGE_MAX_ENTRIES = 1024


class _Load:
    """One read of a challenge that callers asking for the same id meanwhile wait for."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.failed = False
        self.challenge: Challenge | None = None


class CachedChallengeRepository:
    """A read-through cache of another challenge repository, in this container's memory.

    An eventually consistent `get` is answered from memory for `ttl` seconds after the
    challenge was read (`missing_ttl` for an id that does not exist), so a hot challenge is
    read about once per `ttl` per container instead of once per pledge. Concurrent misses on
    one id share a single read. Found and missing ids are kept apart, each bounded (least
    recently used out first), so requests for random ids cannot evict the hot challenge.
    Consistent reads and lists go straight through; writes go through and leave their result
    (or nothing) in the cache, so this container never serves a copy older than its own
    last write. Other containers see a change within `ttl`.
    """

    def __init__(
        self,
        challenges: ChallengeRepository,
        *,
        ttl: float = CHALLENGE_CACHE_TTL_SECONDS,
        missing_ttl: float = MISSING_CHALLENGE_TTL_SECONDS,
        max_entries: int = CHALLENGE_CACHE_MAX_ENTRIES,
        max_missing: int = MISSING_CHALLENGE_MAX_ENTRIES,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl < 0 or missing_ttl < 0 or max_entries < 1 or max_missing < 1:
            raise ValueError("cache durations must not be negative, and sizes must be positive")
        self._challenges = challenges
        self._ttl = ttl
        self._missing_ttl = missing_ttl
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._found: ExpiringLru[str, Challenge] = ExpiringLru(max_entries)
        self._missing: ExpiringLru[str, None] = ExpiringLru(max_missing)
        self._loads: dict[str, _Load] = {}

    # --- reads ---------------------------------------------------------------------------------

    def get(self, challenge_id: str, *, consistent: bool = False) -> Challenge | None:
        if consistent:
            return self._challenges.get(challenge_id, consistent=True)
        with self._lock:
            hit, challenge = self._cached(challenge_id)
            if hit:
                return challenge
            load = self._loads.get(challenge_id)
            if load is None:
                load = self._loads[challenge_id] = _Load()
                leader = True
            else:
                leader = False
        if leader:
            return self._read(challenge_id, load)
        load.done.wait()
        if load.failed:
            # The read we waited for failed (its caller got the error): try again ourselves.
            return self.get(challenge_id)
        return load.challenge

    def _cached(self, challenge_id: str) -> tuple[bool, Challenge | None]:
        now = self._monotonic()
        hit, challenge = self._found.get(challenge_id, now)
        if hit:
            return True, challenge
        hit, _ = self._missing.get(challenge_id, now)
        return hit, None

    def _read(self, challenge_id: str, load: _Load) -> Challenge | None:
        try:
            challenge = self._challenges.get(challenge_id)
        except BaseException:
            with self._lock:
                if self._loads.get(challenge_id) is load:
                    del self._loads[challenge_id]
            load.failed = True
            load.done.set()
            raise
        with self._lock:
            # A write made while we read has replaced our load: what we read may predate it.
            if self._loads.get(challenge_id) is load:
                del self._loads[challenge_id]
                self._remember(challenge_id, challenge)
        load.challenge = challenge
        load.done.set()
        return challenge

    def _remember(self, challenge_id: str, challenge: Challenge | None) -> None:
        """Store what was read or written (under the lock)."""
        now = self._monotonic()
        self._found.pop(challenge_id)
        self._missing.pop(challenge_id)
        if challenge is not None:
            self._found.put(challenge_id, challenge, now + self._ttl)
        else:
            self._missing.put(challenge_id, None, now + self._missing_ttl)

    def _written(self, challenge_id: str, challenge: Challenge | None) -> None:
        """After a write: keep its result (None: forget the id, the next read fetches it)."""
        with self._lock:
            self._loads.pop(challenge_id, None)
            if challenge is not None:
                self._remember(challenge_id, challenge)
            else:
                self._found.pop(challenge_id)
                self._missing.pop(challenge_id)

    def list(
        self,
        statuses: Sequence[ChallengeStatus],
        *,
        limit: int,
        cursor: str | None,
        campaign_id: str | None = None,
    ) -> Page[Challenge]:
        return self._challenges.list(statuses, limit=limit, cursor=cursor, campaign_id=campaign_id)

    def list_due(self, now: datetime) -> Sequence[Challenge]:
        return self._challenges.list_due(now)

    # --- writes --------------------------------------------------------------------------------

    def add(self, challenge: Challenge) -> None:
        added: Challenge | None = None
        try:
            self._challenges.add(challenge)
            added = challenge
        finally:
            self._written(challenge.id, added)

    def update(
        self,
        challenge: Challenge,
        changes: ChallengeChanges,
        *,
        allowed_statuses: Sequence[ChallengeStatus],
        now: datetime,
    ) -> Challenge | None:
        updated: Challenge | None = None
        try:
            updated = self._challenges.update(
                challenge, changes, allowed_statuses=allowed_statuses, now=now
            )
            return updated
        finally:
            self._written(challenge.id, updated)

    def transition(
        self, challenge_id: str, source: ChallengeStatus, target: ChallengeStatus, now: datetime
    ) -> Challenge | None:
        updated: Challenge | None = None
        try:
            updated = self._challenges.transition(challenge_id, source, target, now)
            return updated
        finally:
            self._written(challenge_id, updated)

    def save_totals(self, challenge_id: str, totals: Totals) -> bool:
        try:
            return self._challenges.save_totals(challenge_id, totals)
        finally:
            self._written(challenge_id, None)

    def record_milestone(self, challenge: Challenge, milestone: Milestone) -> bool:
        try:
            return self._challenges.record_milestone(challenge, milestone)
        finally:
            self._written(challenge.id, None)


# --- pledges and counters ---------------------------------------------------------------------


def _pledge_to_item(pledge: Pledge) -> PledgeItem:
    bucket = hash_bucket(pledge.participant_id)
    return PledgeItem(
        participant_id=pledge.participant_id,
        challenge_id=pledge.challenge_id,
        challenge_bucket=f"{pledge.challenge_id}#{bucket}",
        display_name=pledge.display_name,
        area=pledge.area,
        notify=pledge.notify,
        quantity_reported=pledge.quantity_reported,
        created_at=pledge.created_at,
        email=pledge.email,
        locale=pledge.locale,
    )


def _pledge_from_item(item: PledgeItem) -> Pledge:
    return Pledge(
        challenge_id=item.challenge_id,
        participant_id=item.participant_id,
        display_name=item.display_name,
        area=item.area,
        notify=bool(item.notify),
        quantity_reported=item.quantity_reported,
        created_at=item.created_at,
        email=item.email,
        locale=item.locale,
    )


def hash_bucket(participant_id: str) -> int:
    return counter_shard_for(participant_id, PLEDGE_INDEX_BUCKETS)


def counter_key(challenge_id: str, shard: int) -> str:
    return f"{challenge_id}#{shard}"


def challenge_id_from_counter_key(key: str) -> str:
    return key.rsplit("#", 1)[0]


class DynamoPledgeRepository:
    def __init__(self, settings: Settings) -> None:
        self._connection = _connection(settings)
        self._connection.client  # noqa: B018 - built once, up front (see open_connections)

    def _count(self, transaction: TransactWrite, challenge_id: str, shard: int, delta: int) -> None:
        transaction.update(
            CounterShardItem(id=counter_key(challenge_id, shard)),
            actions=[CounterShardItem.participants.add(delta), CounterShardItem.version.add(1)],
        )

    def add(self, pledge: Pledge, shard: int, *, request_token: str | None = None) -> bool:
        item = _pledge_to_item(pledge)

        def write(token: str) -> None:
            with TransactWrite(
                connection=self._connection, client_request_token=token
            ) as transaction:
                transaction.save(item, condition=PledgeItem.challenge_id.does_not_exist())
                self._count(transaction, pledge.challenge_id, shard, +1)

        return transact_once(write, request_token, _transact_if)

    def get(self, challenge_id: str, participant_id: str) -> Pledge | None:
        try:
            return _pledge_from_item(
                PledgeItem.get(participant_id, challenge_id, consistent_read=True)
            )
        except PledgeItem.DoesNotExist:
            return None

    def remove(
        self,
        challenge_id: str,
        participant_id: str,
        shard: int,
        *,
        request_token: str | None = None,
    ) -> bool:
        def write(token: str) -> None:
            with TransactWrite(
                connection=self._connection, client_request_token=token
            ) as transaction:
                transaction.delete(
                    PledgeItem(participant_id=participant_id, challenge_id=challenge_id),
                    condition=PledgeItem.challenge_id.exists(),
                )
                self._count(transaction, challenge_id, shard, -1)

        return transact_once(write, request_token, _transact_if)

    def list_for_participant(
        self, participant_id: str, *, limit: int, cursor: str | None
    ) -> Page[Pledge]:
        result = PledgeItem.query(
            participant_id,
            limit=limit,
            last_evaluated_key=_start_key(
                decode_cursor(cursor), {"participant_id": participant_id, "challenge_id": None}
            ),
        )
        items = [_pledge_from_item(item) for item in result]
        next_key = result.last_evaluated_key
        return Page(items, encode_cursor({"k": next_key}) if next_key else None)


class DynamoCounterRepository:
    def totals(self, challenge_id: str, shards: int) -> Totals:
        keys = [counter_key(challenge_id, shard) for shard in range(shards)]
        total = Totals()
        for item in CounterShardItem.batch_get(keys, consistent_read=True):
            total += Totals(int(item.participants), item.quantity, int(item.version))
        return total


# --- delivery log -----------------------------------------------------------------------------


def _delivery_from_item(item: DeliveryItem) -> Delivery:
    return Delivery(
        challenge_id=item.challenge_id,
        event=EventType(item.event),
        recipient_role=RecipientRole(item.recipient_role),
        channel=Channel(item.channel),
        recipient_key=item.recipient_key,
        to=item.to,
        status=DeliveryStatus(item.status),
        attempts=int(item.attempts),
        created_at=item.created_at,
        sent_at=item.sent_at,
        last_error=item.last_error,
        lease_until=item.lease_until,
    )


class DynamoDeliveryRepository:
    def claim(
        self, delivery: Delivery, *, now: datetime, lease: timedelta
    ) -> Delivery | ClaimRefused:
        item = DeliveryItem(challenge_id=delivery.challenge_id, key=delivery.key)
        claimable = DeliveryItem.key.does_not_exist() | (
            (DeliveryItem.status == DeliveryStatus.PENDING.value)
            & (DeliveryItem.lease_until.does_not_exist() | (DeliveryItem.lease_until < now))
        )
        claimed = _update_if(
            item,
            [
                DeliveryItem.id.set(delivery.id),
                DeliveryItem.event.set(delivery.event.value),
                DeliveryItem.recipient_role.set(delivery.recipient_role.value),
                DeliveryItem.channel.set(delivery.channel.value),
                DeliveryItem.recipient_key.set(delivery.recipient_key),
                DeliveryItem.to.set(delivery.to),
                DeliveryItem.status.set(DeliveryStatus.PENDING.value),
                DeliveryItem.attempts.add(1),
                DeliveryItem.created_at.set(DeliveryItem.created_at | now),
                DeliveryItem.lease_until.set(now + lease),
            ],
            claimable,
        )
        if not claimed:
            return self._why_refused(delivery)
        return _delivery_from_item(item)

    @staticmethod
    def _why_refused(delivery: Delivery) -> ClaimRefused:
        try:
            stored = DeliveryItem.get(delivery.challenge_id, delivery.key, consistent_read=True)
        except DeliveryItem.DoesNotExist:
            return ClaimRefused.HELD  # cannot happen (the condition saw it); retry to be safe
        if stored.status == DeliveryStatus.PENDING.value:
            return ClaimRefused.HELD
        return ClaimRefused.SETTLED

    def _finish(self, claimed: Delivery, actions: list[Any]) -> None:
        recorded = _update_if(
            DeliveryItem(challenge_id=claimed.challenge_id, key=claimed.key),
            [*actions, DeliveryItem.lease_until.remove()],
            # The lease is a fencing token: a sender whose lease was taken over records
            # nothing, so it cannot overwrite the newer sender's outcome.
            DeliveryItem.lease_until == claimed.lease_until,
        )
        if not recorded:
            logger.warning("delivery %s: lease lost before its outcome was recorded", claimed.id)

    def mark_sent(self, claimed: Delivery, *, now: datetime) -> None:
        self._finish(
            claimed,
            [
                DeliveryItem.status.set(DeliveryStatus.SENT.value),
                DeliveryItem.sent_at.set(now),
                DeliveryItem.last_error.remove(),
            ],
        )

    def mark_failed(self, claimed: Delivery, *, error: str, final: bool) -> None:
        status = DeliveryStatus.FAILED if final else DeliveryStatus.PENDING
        self._finish(
            claimed,
            [DeliveryItem.status.set(status.value), DeliveryItem.last_error.set(error[:500])],
        )

    def list_for_challenge(self, challenge_id: str) -> list[Delivery]:
        return [_delivery_from_item(item) for item in DeliveryItem.query(challenge_id)]

    def list_page(
        self,
        challenge_id: str,
        *,
        role: RecipientRole | None,
        limit: int,
        cursor: str | None,
    ) -> Page[Delivery]:
        # One key range per role and event (`<event>#<role>#…`), sponsors' first, so the few
        # sponsor and beneficiary entries lead the log however many participants follow.
        segments = delivery_log_segments(role)
        state = decode_cursor(cursor) or {"s": 0}
        position = segment_position(state, len(segments))
        start_key = _start_key(state, {"challenge_id": challenge_id, "key": None})
        if start_key is not None and not start_key["key"]["S"].startswith(segments[position]):
            raise InvalidRequestError("the cursor is not one this API returned for this list")
        items: list[Delivery] = []
        while position < len(segments) and len(items) < limit:
            result = DeliveryItem.query(
                challenge_id,
                DeliveryItem.key.startswith(segments[position]),
                limit=limit - len(items),
                last_evaluated_key=start_key,
            )
            items.extend(_delivery_from_item(item) for item in result)
            start_key = result.last_evaluated_key
            if start_key is None:
                position += 1
        more = position < len(segments)
        return Page(items, encode_cursor({"s": position, "k": start_key}) if more else None)


LOG_ROLE_ORDER = (RecipientRole.SPONSOR, RecipientRole.BENEFICIARY, RecipientRole.PARTICIPANT)


def delivery_log_segments(role: RecipientRole | None) -> list[str]:
    """The delivery-key prefixes a log listing walks, in order."""
    roles = LOG_ROLE_ORDER if role is None else (role,)
    return [f"{event}#{each}#" for each in roles for event in EventType]


def milestone_from_stream_image(image: dict[str, Any]) -> Milestone:
    """Read an outbox item from its stream image (DynamoDB JSON, as the stream delivers it)."""
    item = ChallengeEventItem.from_raw_data(image)
    missing = [
        name
        for name, attribute in ChallengeEventItem.get_attributes().items()
        if not attribute.null and getattr(item, name) is None
    ]
    if missing:
        raise ValueError(f"milestone image lacks {', '.join(sorted(missing))}")
    return Milestone(
        challenge_id=item.challenge_id,
        event=EventType(item.event),
        occurred_at=item.occurred_at,
        totals=Totals(participants=int(item.participants), quantity=item.quantity),
        reached=bool(item.reached),
    )
