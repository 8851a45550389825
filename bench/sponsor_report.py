"""The sponsor's report at scale: a Humanis-like campaign with 100,000 pledges on moto.

The pledges are stored fast (batch writes), the real `count_areas` stream handler counts them
(areas and hours, as in production), the counter shards and the delivery log are written
directly; then the campaign's and its reached challenge's reports are built, rendered and
served through the Chalice app, timed (median of several runs) and their DynamoDB calls and
read units recorded. The same at 1,000 pledges, to show what grows with the pledges.

    .venv/bin/python -m bench.sponsor_report --pledges 100000   # JSON on stdout
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import gc
import importlib
import json
import logging
import math
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import cost
from bench.hot import Progress, _bench_environment
from bench.recorder import CapacityRecorder, Json, MotoStore, item_size

DEFAULT_PLEDGES = 100_000
SMALL_PLEDGES = 1_000
DEFAULT_RUNS = 5
MIN_RUNS = 5
SEED = 20261202
CHALLENGE_SHARES = (0.30, 0.25, 0.20, 0.15, 0.10)  # the first (largest) one is reached
MODES = ("public transport", "car-pooling", "cycling", "walking", "kick scooter")
PLEDGES_PER_PERSON = ((1, 60), (2, 30), (3, 10))  # challenges a person pledges on, weight
AREAS = 2_000
FRANCE_BOX = ((42.3, 51.1), (-4.8, 8.2))  # (lat, lon) ranges: mainland France's bounding box
WEEK = timedelta(days=7)
WITHDRAWN_EVERY = 100  # one pledge in 100 is withdrawn after the others were made
FAILED_EVERY = 200  # one participant e-mail in 200 failed (5 tries), the others were sent
REACHED_AT_SHARE = 0.8  # the reached challenge's target: this share of its live pledges
FORMATS = ("json", "csv", "pdf")
# DynamoDB reads at most 1 MB of items per Query page (before any projection) and charges
# 0.5 RCU per started 4 KB of the items read per page (eventually consistent), projection
# or not: the delivery tally reads the whole log of a challenge.
QUERY_PAGE_BYTES = 1024 * 1024
# Assumed in-region latency of one 1 MB Query page (moto cannot tell): low and high.
ASSUMED_PAGE_MS = (10.0, 30.0)
API_GATEWAY_LIMIT_S = 29.0
LAMBDA_RESPONSE_LIMIT_BYTES = 6 * 1024 * 1024  # the Lambda payload limit; binary bodies go
# through API Gateway base64-encoded, so a file must stay under 3/4 of it.
ORG_ID = "org_humanis"


# --- results -------------------------------------------------------------------------------


@dataclass
class Timing:
    """Seconds of `len(samples_s)` runs after one unmeasured warm-up run."""

    median_s: float
    min_s: float
    max_s: float
    samples_s: list[float]


@dataclass
class FormatFigures:
    """One format of one report, through the Chalice app (`GET …/report`)."""

    http: Timing  # the whole request: middleware, token, the report, its rendering
    render: Timing  # rendering alone, from a built report
    bytes: int  # the response body
    moto_s: float  # median time inside moto per request: what DynamoDB round trips replace
    compute_s: float  # median of (request - its time inside moto): the app's own work here
    aws_estimate_low_s: float  # compute on a 512 MB Lambda + assumed DynamoDB latencies
    aws_estimate_high_s: float


@dataclass
class SubjectFigures:
    subject: str  # campaign or challenge
    id: str
    # SponsorReportService.for_campaign / for_challenge alone, timed inside the HTTP runs
    build: Timing
    tally: Timing  # of which reading the delivery logs (DynamoDeliveryRepository.tally)
    formats: dict[str, FormatFigures]
    # One recorded request (JSON; the renderers make no calls, so every format makes these):
    ddb_calls: int
    calls_by_operation: dict[str, int]
    rcu: float  # DynamoDB's rules; the delivery tally's at the size of the items it reads
    log_pages: int  # moto's Query calls on the delivery logs (its pages, 1 per empty log)
    empty_logs: int  # of which on challenges without deliveries (a campaign's others)
    moto_s: float  # inside moto, in the recorded request
    participants: int
    pledges: int
    withdrawals: int
    days: int
    areas_shown: int
    hidden_participants: int
    deliveries_tallied: int


@dataclass
class DeliveryLog:
    """The reached challenge's delivery log, which the tally reads whole."""

    items: int
    bytes: int  # DynamoDB item sizes, every attribute (what a Query page reads)
    pages: int  # 1 MB Query pages
    rcu: float
    aws_low_s: float  # pages × ASSUMED_PAGE_MS
    aws_high_s: float
    moto_queries: int  # Query calls on it in one recorded report (moto's pages, same rule)


@dataclass
class ScaleFigures:
    pledges: int  # ever made, the withdrawn ones included
    people: int  # distinct participants
    live_people: int  # with a live pledge: the campaign's participants
    withdrawals: int
    pledges_per_challenge: list[int]  # ever made, the reached challenge first
    areas_used: int
    participant_emails: int
    load_s: float  # pledges, counter shards, delivery log written
    stream_s: float  # count_areas over the pledges stream
    stream_invocations: int
    campaign: SubjectFigures
    challenge: SubjectFigures
    delivery_log: DeliveryLog
    seconds: float


@dataclass
class SponsorReportResult:
    pledges: int
    small_pledges: int
    runs: int
    large: ScaleFigures
    small: ScaleFigures
    assumed_page_ms: tuple[float, float] = ASSUMED_PAGE_MS
    assumed_ddb_latency_ms: dict[str, float] = field(
        default_factory=lambda: dict(cost.ASSUMED_DDB_LATENCY_MS)
    )
    lambda_memory_mb: int = cost.LAMBDA_MEMORY_MB
    pdf_import_s: float | None = None  # the first PDF request's import of reportlab & co
    seconds: float = 0.0

    def ratio(self, pick: Callable[[ScaleFigures], float]) -> float:
        small = pick(self.small)
        return pick(self.large) / small if small else float("inf")


# --- the recorder, off while the data is loaded --------------------------------------------


class _SwitchedRecorder(CapacityRecorder):
    """CapacityRecorder whose hooks do nothing unless `on`: loading 100,000 pledges and the
    timed runs go unrecorded (no overhead), one request per report is recorded. With `timing`,
    only the time inside moto is added up (`moto_seconds`: two clock reads per call)."""

    on = False
    timing = False
    moto_seconds = 0.0

    def _send_start(self, **kwargs: Any) -> None:
        if self.on or self.timing:
            super()._send_start(**kwargs)

    def _send_end(self, **kwargs: Any) -> None:
        if self.on:
            super()._send_end(**kwargs)
        elif self.timing:
            self.moto_seconds += time.perf_counter() - self._send_started

    def _before_call(self, params: Json, model: Any, **kwargs: Any) -> None:
        if self.on:
            super()._before_call(params, model, **kwargs)

    def _after_call(self, http_response: Any, parsed: Json, model: Any, **kwargs: Any) -> None:
        if self.on:
            super()._after_call(http_response, parsed, model, **kwargs)

    def _after_error(self, **kwargs: Any) -> None:
        if self.on:
            super()._after_error(**kwargs)

    @contextlib.contextmanager
    def recording(self, phase: str) -> Iterator[None]:
        self.on = True
        try:
            with self.in_phase(phase):
                yield
        finally:
            self.on = False


# --- moto's Query, made to read one partition ------------------------------------------------


@contextlib.contextmanager
def partition_queries() -> Iterator[None]:
    """Within the block, moto answers a Query on a table's own key from the items that can
    make its page: the asked partition's, from the start key on, up to the page's end.

    moto answers every Query by sorting every item of the table, all partitions, then walking
    the asked partition from its first item past the start key to the page's end (1 MB, or
    Limit): with 100,000 pledges' area counts and delivery log, a campaign report spent most
    of its time sorting other challenges' items and sorting and walking the whole log again for
    each of its pages, costs AWS does not have (a Query reads its partition in key order from
    the start key). Here moto's own query runs on a view of the table holding those items
    only, in moto's own order of the range keys, and one item past the page's end so that moto
    cuts the page where it would have: the same items, pages and keys. Index queries (a
    campaign's challenges) and key conditions on the range key are left to moto as they are.
    """
    from moto.dynamodb.models import table as tables
    from moto.dynamodb.models.dynamo_type import Item

    Table = tables.Table
    original = Table.query
    original_project = Item.project

    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
        if index_name or hash_key is None or len(args) < 6 or not self.range_key_attr:
            return original(self, hash_key, *args, **kwargs)
        range_comparison, _, limit, start, forward, projection = args[:6]
        everything = self.items
        partition = everything.get(hash_key)
        if partition is not None:
            extra = set(kwargs) - {"hash_key_conditions", "range_key_conditions"}
            whole = (
                range_comparison is None and not extra and not kwargs.get("range_key_conditions")
            )
            partition = _page_view(partition, start, self.range_key_attr, forward, limit, whole)
        self.items = {} if partition is None else {hash_key: partition}
        if projection:
            # moto deep-copies the page before projecting it, but a projection makes new
            # items and changes none: the copy is skipped (copy.deepcopy is called there only).
            tables.copy = _NO_DEEP_COPY  # type: ignore[attr-defined,assignment]
        try:
            return original(self, hash_key, *args, **kwargs)
        finally:
            self.items = everything
            tables.copy = copy  # type: ignore[attr-defined]

    def project(self: Any, projection_expressions: list[list[str]]) -> Any:
        """moto's Item.project, with the item turned to plain JSON once, not once per path."""
        from botocore.utils import merge_dicts
        from moto.dynamodb.models.dynamo_type import serializer
        from moto.dynamodb.models.utilities import find_nested_key

        plain = self.to_regular_json()
        result: dict[str, Any] = {}
        for expression in projection_expressions:
            merge_dicts(result, find_nested_key(expression, plain))
        return Item(
            hash_key=self.hash_key,
            range_key=self.range_key,
            attrs=serializer.serialize(result)["M"],
        )

    Table.query = query  # type: ignore[method-assign]
    Item.project = project  # type: ignore[method-assign]
    try:
        yield
    finally:
        Table.query = original  # type: ignore[method-assign]
        Item.project = original_project  # type: ignore[method-assign]


class _NoDeepCopy:
    """Stands for the `copy` module in moto's table module while a projected Query runs."""

    copy = staticmethod(copy.copy)

    @staticmethod
    def deepcopy(value: list[Any], memo: Any = None) -> list[Any]:
        return list(value)


_NO_DEEP_COPY = _NoDeepCopy()


def _page_view(
    partition: dict[Any, Any],
    start: dict[str, Any] | None,
    range_key: str,
    forward: bool,
    limit: int | None,
    cut: bool,
) -> dict[Any, Any]:
    """The partition's items (range key -> item) after `start` in the query's direction, in
    that order; with `cut`, only up to one item past the page's end."""
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import RESULT_SIZE_LIMIT

    pairs = list(partition.items())
    strings = all(key.type == "S" for key, _ in pairs)
    # Strings compare as their values (DynamoType compares cast values): sorted fast.
    pairs.sort(key=(lambda kv: kv[0].value) if strings else (lambda kv: kv[0]), reverse=not forward)
    if start and range_key in start:
        bound = DynamoType(start[range_key])
        value = bound.value if strings and bound.type == "S" else bound

        def after(key: Any) -> bool:
            mine = key.value if strings and bound.type == "S" else key
            return bool(mine > value if forward else mine < value)

        pairs = [kv for kv in pairs if after(kv[0])]
    if cut:
        size = 0
        for count, (_, item) in enumerate(pairs, start=1):
            size += item.size()
            if size > RESULT_SIZE_LIMIT or (limit is not None and count > limit):
                pairs = pairs[:count]
                break
    return dict(pairs)


def _rss_mb() -> float:
    """This process's resident memory (Linux), for the progress lines."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


# --- the data ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Pledge:
    person: int
    challenge: int  # index into MODES
    created_at: datetime
    area: str
    withdrawn: bool = False


@dataclass
class _Plan:
    pledges: list[_Pledge]  # in created_at order: the order they reach the stream
    people: int

    def live(self, challenge: int | None = None) -> list[_Pledge]:
        return [
            p
            for p in self.pledges
            if not p.withdrawn and (challenge is None or p.challenge == challenge)
        ]


def _areas(rng: random.Random) -> list[str]:
    from chalicelib.domain.areas import area_from_coordinates

    (lat0, lat1), (lon0, lon1) = FRANCE_BOX
    found: dict[str, None] = {}
    while len(found) < AREAS:
        found[area_from_coordinates(rng.uniform(lat0, lat1), rng.uniform(lon0, lon1))] = None
    return list(found)


def _plan(pledges: int, now: datetime) -> _Plan:
    """Who pledges on which challenge, where and when: people on 1 to 3 of the challenges,
    each from one home area; areas Zipf-like (a few crowded, most small); times uniform over
    the week; one pledge in WITHDRAWN_EVERY withdrawn."""
    rng = random.Random(SEED)
    areas = _areas(rng)
    area_weights = list(_cumulative([1 / (rank + 1) ** 0.9 for rank in range(len(areas))]))
    counts, weights = zip(*PLEDGES_PER_PERSON, strict=True)
    made: list[tuple[int, int, str]] = []
    person = 0
    while len(made) < pledges:
        home = rng.choices(areas, cum_weights=area_weights)[0]
        wanted = rng.choices(counts, weights=weights)[0]
        chosen: set[int] = set()
        while len(chosen) < wanted:
            chosen.add(rng.choices(range(len(MODES)), weights=CHALLENGE_SHARES)[0])
        made.extend((person, challenge, home) for challenge in sorted(chosen))
        person += 1
    made = made[:pledges]
    start = now - WEEK
    timed = sorted(
        (start + WEEK * rng.random(), who, challenge, area) for who, challenge, area in made
    )
    return _Plan(
        [
            _Pledge(who, challenge, at, area, withdrawn=i % WITHDRAWN_EVERY == WITHDRAWN_EVERY // 2)
            for i, (at, who, challenge, area) in enumerate(timed)
        ],
        people=len({who for who, _, _ in made}),
    )


def _cumulative(values: Sequence[float]) -> Iterator[float]:
    total = 0.0
    for value in values:
        total += value
        yield total


def _participant(person: int) -> str:
    return f"bench-{person:06d}"


def _setup(container: Any, plan: _Plan, now: datetime) -> tuple[str, list[str]]:
    """Humanis, its week (campaign) and five employee-only challenges in it; the first one's
    target is below its live pledges (reached once its totals are refreshed), the others'
    far above."""
    from chalicelib.domain.model import (
        Metric,
        OrganizationKind,
        OrganizationProfile,
        Party,
        Target,
        Visibility,
    )
    from chalicelib.services.campaigns import CampaignDraft
    from chalicelib.services.challenges import ChallengeDraft
    from chalicelib.services.organizations import OrganizationDraft

    container.organizations.create(
        OrganizationDraft(
            "Humanis",
            OrganizationKind.COMPANY,
            ("humanis.example",),
            ORG_ID,
            OrganizationProfile(
                display_name="Humanis",
                primary_color="#0b5394",
                slug="humanis",
                logo_url="https://www.humanis.example/logo.png",
            ),
        )
    )
    campaign = container.campaigns.create(
        CampaignDraft(
            title="Humanis sustainable mobility week",
            description="Five commuting challenges at once; employees pick as many as they like.",
            organization_id=ORG_ID,
            starts_at=now - WEEK,
            ends_at=now + timedelta(days=1),
            visibility=Visibility.ORGANIZATION,
        )
    )
    ids = []
    for index, mode in enumerate(MODES):
        live = len(plan.live(index))
        target = max(1, int(live * REACHED_AT_SHARE)) if index == 0 else max(40, 3 * live)
        challenge = container.challenges.create(
            ChallengeDraft(
                title=f"Humanis mobility week: {mode}",
                action=f"I go to work by {mode}",
                description="One of five commuting challenges of Humanis' mobility week.",
                target=Target(Metric.PARTICIPANTS, target, "km"),
                sponsor=Party("Humanis", "rse@humanis.example"),
                beneficiary=Party("Wimoov", "contact@wimoov.example"),
                reward="€1,000 to Wimoov for mobility coaching of job seekers",
                ends_at=now + timedelta(days=1),
                visibility=Visibility.ORGANIZATION,
                organization_id=ORG_ID,
                campaign_id=campaign.id,
                publish=True,
            )
        )
        ids.append(challenge.id)
    return campaign.id, ids


def _write_pledges(plan: _Plan, ids: Sequence[str], progress: Progress) -> None:
    """Batch writes (25 items a call), in created_at order, then the withdrawals (deletes):
    the pledges stream gets one INSERT per pledge and one REMOVE per withdrawal."""
    from chalicelib.storage.pledges import hash_bucket
    from chalicelib.storage.tables import PledgeItem

    names = ("Léa", "Hugo", "Chloé", "Lucas", "Manon", "Nathan", "Inès", "Yanis")
    with PledgeItem.batch_write() as batch:
        for number, pledge in enumerate(plan.pledges, start=1):
            participant = _participant(pledge.person)
            batch.save(
                PledgeItem(
                    participant_id=participant,
                    challenge_id=ids[pledge.challenge],
                    challenge_bucket=f"{ids[pledge.challenge]}#{hash_bucket(participant)}",
                    display_name=names[pledge.person % len(names)],
                    area=pledge.area,
                    notify=True,
                    quantity_reported=0,
                    created_at=pledge.created_at,
                    email=f"{participant}@humanis.example",
                    locale="en" if pledge.person % 5 == 0 else "fr",
                )
            )
            if number % 20_000 == 0:
                progress(f"  {number:,}/{len(plan.pledges):,} pledges written")
    with PledgeItem.batch_write() as batch:
        for pledge in plan.pledges:
            if pledge.withdrawn:
                batch.delete(PledgeItem(_participant(pledge.person), ids[pledge.challenge]))


def _write_counters(plan: _Plan, ids: Sequence[str], campaign_id: str, container: Any) -> None:
    """The counter shards at the sums the pledge transactions would have left (live pledges
    per shard, reported km), then each challenge's totals refreshed as `aggregate_progress`
    does; and the campaign's unique-participant count (one audience: Humanis employees) on
    its shards. Written directly: see the doc."""
    from chalicelib.domain.model import counter_shard_for
    from chalicelib.storage.counters import counter_key
    from chalicelib.storage.tables import CounterShardItem

    rng = random.Random(SEED + 1)
    shards: dict[str, list[float]] = {}  # key -> [participants, quantity]
    counts = [container.challenges.get_for_admin(i).counter_shards for i in ids]
    for challenge_id, count in zip(ids, counts, strict=True):
        for shard in range(count):
            shards[counter_key(challenge_id, shard)] = [0, 0.0]
    for pledge in plan.live():
        shard = counter_shard_for(_participant(pledge.person), counts[pledge.challenge])
        key = counter_key(ids[pledge.challenge], shard)
        shards[key][0] += 1
        shards[key][1] += round(rng.uniform(2, 60), 1)
    campaign_shards = container.settings.campaign_counter_shards
    audience = f"{campaign_id}#{ORG_ID}"
    for shard in range(campaign_shards):
        shards[counter_key(audience, shard)] = [0, 0.0]
    for person in {p.person for p in plan.live()}:
        shard = counter_shard_for(_participant(person), campaign_shards)
        shards[counter_key(audience, shard)][0] += 1
    with CounterShardItem.batch_write() as batch:
        for key, (participants, quantity) in shards.items():
            batch.save(
                CounterShardItem(
                    id=key,
                    participants=int(participants),
                    quantity=round(quantity, 3),
                    version=int(participants),
                )
            )
    for challenge_id in ids:
        container.progress.refresh(challenge_id)


def _write_deliveries(plan: _Plan, challenge_id: str, now: datetime) -> int:
    """The reached challenge's log: the sponsor's and the beneficiary's e-mails and one
    participant e-mail per live pledger, all sent but one in FAILED_EVERY (5 tries)."""
    from chalicelib.domain.model import Channel, Delivery, DeliveryStatus, EventType, RecipientRole
    from chalicelib.storage.tables import DeliveryItem

    deliveries = [
        Delivery(challenge_id, EventType.REACHED, role, Channel.EMAIL, role.value, email)
        for role, email in (
            (RecipientRole.SPONSOR, "rse@humanis.example"),
            (RecipientRole.BENEFICIARY, "contact@wimoov.example"),
        )
    ]
    for pledge in plan.live(0):
        participant = _participant(pledge.person)
        deliveries.append(
            Delivery(
                challenge_id,
                EventType.REACHED,
                RecipientRole.PARTICIPANT,
                Channel.EMAIL,
                participant,
                f"{participant}@humanis.example",
            )
        )
    with DeliveryItem.batch_write() as batch:
        for number, delivery in enumerate(deliveries):
            failed = number % FAILED_EVERY == FAILED_EVERY - 1
            batch.save(
                DeliveryItem(
                    challenge_id=challenge_id,
                    key=delivery.key,
                    id=delivery.id,
                    event=delivery.event.value,
                    recipient_role=delivery.recipient_role.value,
                    channel=delivery.channel.value,
                    recipient_key=delivery.recipient_key,
                    to=delivery.to,
                    status=(DeliveryStatus.FAILED if failed else DeliveryStatus.SENT).value,
                    attempts=5 if failed else 1,
                    created_at=now,
                    sent_at=None if failed else now + timedelta(seconds=number // 50),
                    last_error="554 Message rejected: address blacklisted" if failed else None,
                )
            )
    return len(deliveries) - 2


def _count_areas(settings: Any, app_module: Any) -> int:
    """The deployed count_areas handler over the whole pledges stream, in its batches of up
    to 1,000 records (the local StreamPoller, as `make run` does); returns its invocations."""
    from chalicelib.local.stack import stream_bindings, streams_client
    from chalicelib.local.stream_poller import StreamPoller

    binding = next(b for b in stream_bindings(app_module) if b.name == "count_areas")
    invocations = 0

    def counted(event: dict[str, Any], context: Any) -> Any:
        nonlocal invocations
        invocations += 1
        return binding.handler(event, context)

    poller = StreamPoller(streams_client(settings), [dataclasses.replace(binding, handler=counted)])
    poller.drain(max_rounds=1_000_000)
    if poller.given_up:
        raise RuntimeError(f"count_areas gave up on {poller.given_up} records")
    return invocations


def _check_counts(plan: _Plan, ids: Sequence[str]) -> None:
    """What count_areas kept must add up to the pledges written, or the figures are void."""
    from chalicelib.storage.tables import AreaCountItem, PledgeHourItem

    for index, challenge_id in enumerate(ids):
        made = sum(1 for p in plan.pledges if p.challenge == index)
        live = len(plan.live(index))
        in_areas = sum(int(item.participants) for item in AreaCountItem.query(challenge_id))
        hours = list(PledgeHourItem.query(challenge_id))
        counted = (sum(int(h.made) for h in hours), sum(int(h.withdrawn) for h in hours))
        if in_areas != live or counted != (made, made - live):
            raise RuntimeError(
                f"count_areas kept {in_areas} in areas and {counted} made/withdrawn for "
                f"{challenge_id}, not {live} and {(made, made - live)}"
            )


# --- the measures --------------------------------------------------------------------------


def _timed(action: Callable[[], object], runs: int, *, warm_up: bool = True) -> Timing:
    """`runs` timed calls, after an unmeasured one unless already warm (caches, imports)."""
    if warm_up:
        action()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
        _forget_moto_instances()
    return _timing(samples)


def _timing(samples: Sequence[float]) -> Timing:
    return Timing(
        statistics.median(samples),
        min(samples),
        max(samples),
        [round(s, 4) for s in samples],
    )


@contextlib.contextmanager
def _timing_calls(target: object, method: str) -> Iterator[list[float]]:
    """Time every call of `target.method` (an object's or a class's) made inside the block."""
    own = vars(target).get(method)  # the class's function, or None for an instance's method
    original = getattr(target, method)
    samples: list[float] = []

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            samples.append(time.perf_counter() - started)

    setattr(target, method, timed)
    try:
        yield samples
    finally:
        if own is None:
            delattr(target, method)
        else:
            setattr(target, method, own)


def _per_request(samples: Sequence[float], requests: int) -> list[float]:
    """A campaign's report tallies each challenge's log: the sum per request."""
    if not requests or len(samples) % requests:
        raise RuntimeError(f"{len(samples)} tallies in {requests} reports")
    step = len(samples) // requests
    return [sum(samples[i : i + step]) for i in range(0, len(samples), step)]


def _forget_moto_instances() -> None:
    """moto keeps every model object it ever made (each item a Query answers, each stream
    record) in a list for its dashboard: 4.5 GB by the 100,000-pledge reports. Emptying the
    lists changes no state and no answer."""
    from moto.core.model_instances import reset_model_data

    reset_model_data()


def _delivery_log(challenge_id: str) -> tuple[int, int, int, float]:
    """Items, bytes, 1 MB pages and RCU of a challenge's whole delivery log, by DynamoDB's
    rules (each page: 0.5 RCU per started 4 KB of the items it reads, whole items)."""
    from chalicelib.storage.tables import DeliveryItem

    items = pages = total = page = 0
    rcu = 0.0
    for item in DeliveryItem.query(challenge_id):
        size = item_size(item.serialize())
        if page and page + size > QUERY_PAGE_BYTES:
            rcu += math.ceil(page / 4096) / 2
            pages += 1
            page = 0
        page += size
        total += size
        items += 1
    rcu += max(1, math.ceil(page / 4096)) / 2
    return items, total, pages + 1, rcu


class _Reports:
    """One scale's reports: the service, the renderers, the HTTP routes."""

    def __init__(
        self,
        container: Any,
        client: Any,
        recorder: _SwitchedRecorder,
        runs: int,
        log: tuple[int, int, int, float],
        deliveries_table: str,
        progress: Progress,
    ) -> None:
        from chalicelib.local.tokens import mint_local_token

        self.container = container
        self.client = client
        self.recorder = recorder
        self.runs = runs
        self.log = log  # the reached challenge's: items, bytes, pages, RCU (DynamoDB's rules)
        self.deliveries_table = deliveries_table
        self.progress = progress
        token = mint_local_token(
            container.settings.jwt.hs256_secret, "bench-admin", groups=("admin",)
        )
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "*/*"}

    def get(self, path: str, format_asked: str) -> bytes:
        url = path if format_asked == "json" else f"{path}?format={format_asked}"
        response = self.client.http.get(url, headers=self.headers)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url}: {response.status_code} {response.body[:300]!r}")
        body: bytes = response.body
        return body

    def subject(self, subject: str, report_id: str) -> SubjectFigures:
        from chalicelib.api.schemas import SponsorReportOut
        from chalicelib.bilan.csv_export import report_zip
        from chalicelib.bilan.pdf import report_pdf
        from chalicelib.storage.deliveries import DynamoDeliveryRepository

        service = self.container.sponsor_reports
        build = service.for_campaign if subject == "campaign" else service.for_challenge
        path = f"/admin/{subject}s/{report_id}/report"
        # The first request is recorded (calls, units, time inside moto) and warms the rest.
        with self.recorder.recording(subject):
            self.get(path, "json")
        _forget_moto_instances()
        calls = [c for c in self.recorder.calls if c.phase == subject]
        by_operation = Counter(c.operation for c in calls)
        moto_s = sum(c.backend_seconds for c in calls)
        pages, empty, rcu = self._reads(subject)
        log_pages = self.log[2]
        report = build(report_id)
        renderers: dict[str, Callable[[], object]] = {
            "json": lambda: SponsorReportOut.from_report(report).model_dump_json(),
            "csv": lambda: report_zip(report),
            "pdf": lambda: report_pdf(report),
        }
        formats = {}
        with (
            _timing_calls(service, build.__name__) as builds,
            _timing_calls(DynamoDeliveryRepository, "tally") as tallies,
        ):
            for name in FORMATS:
                rendered = _timed(renderers[name], self.runs)
                http, moto, own, body = self._http(path, name)
                self.progress(f"  {subject} report as {name}: {http.median_s:.3f} s (HTTP, "
                              f"median; {moto.median_s:.3f} s in moto), "
                              f"{_rss_mb():.0f} MB")  # fmt: skip
                formats[name] = self._format(
                    name, (http, moto, own, rendered), body, by_operation, (pages, empty, log_pages)
                )
        return SubjectFigures(
            subject=subject,
            id=report_id,
            build=_timing(builds),
            tally=_timing(_per_request(tallies, len(builds))),
            formats=formats,
            ddb_calls=len(calls),
            calls_by_operation=dict(sorted(by_operation.items())),
            rcu=rcu,
            log_pages=pages,
            empty_logs=empty,
            moto_s=moto_s,
            participants=report.participants,
            pledges=report.pledges,
            withdrawals=report.withdrawals,
            days=len(report.days),
            areas_shown=len(report.areas),
            hidden_participants=report.hidden_participants,
            deliveries_tallied=sum(sum(t.counts.values()) for t in report.notifications),
        )

    def _http(self, path: str, name: str) -> tuple[Timing, Timing, Timing, bytes]:
        """The request timed (warm already), the time inside moto of each, and the body."""
        samples: list[float] = []
        moto: list[float] = []
        body = b""
        for _ in range(self.runs):
            self.recorder.moto_seconds = 0.0
            self.recorder.timing = True
            try:
                started = time.perf_counter()
                body = self.get(path, name)
                samples.append(time.perf_counter() - started)
            finally:
                self.recorder.timing = False
            moto.append(self.recorder.moto_seconds)
            _forget_moto_instances()
        own = [total - inside for total, inside in zip(samples, moto, strict=True)]
        return _timing(samples), _timing(moto), _timing(own), body

    @staticmethod
    def _format(
        name: str,
        timings: tuple[Timing, Timing, Timing, Timing],
        body: bytes,
        calls: Counter[str],
        queries: tuple[int, int, int],
    ) -> FormatFigures:
        http, moto, own, rendered = timings
        magic = {"json": b"{", "csv": b"PK", "pdf": b"%PDF"}[name]
        if not body.startswith(magic):
            raise RuntimeError(f"the report as {name} does not look like one: {body[:20]!r}")
        compute_s = own.median_s
        # A 512 MB Lambda has 512/1769 of a vCPU; DynamoDB's answers take the assumed latency.
        lambda_s = compute_s * cost.LAMBDA_FULL_VCPU_MB / cost.LAMBDA_MEMORY_MB
        other = calls.copy()
        # moto's queries of the logs, those of empty logs, the reached log's 1 MB pages in AWS
        log_queries, empty, pages = queries
        other["Query"] -= log_queries - empty
        latency_s = (
            sum(
                n * cost.ASSUMED_DDB_LATENCY_MS.get(op, cost.DEFAULT_LATENCY_MS)
                for op, n in other.items()
            )
            / 1000
        )
        low, high = (lambda_s + latency_s + pages * ms / 1000 for ms in ASSUMED_PAGE_MS)
        return FormatFigures(
            http=http,
            render=rendered,
            bytes=len(body),
            moto_s=moto.median_s,
            compute_s=compute_s,
            aws_estimate_low_s=low,
            aws_estimate_high_s=high,
        )

    def _reads(self, phase: str) -> tuple[int, int, float]:
        """moto's Query pages of the delivery logs, how many of them read an empty log, and
        the request's RCU, the tally's counted at the size of the whole items it reads (the
        recorder sees only the three it projects): the reached challenge's log by
        `_delivery_log`, 0.5 for each empty one."""
        reads = [r for r in self.recorder.reads if r.phase == phase]
        rcu = sum(r.rcu for r in reads if r.partition.table != self.deliveries_table)
        logs = [r for r in reads if r.partition.table == self.deliveries_table]
        empty = sum(1 for r in logs if r.size == 0)
        if len(logs) == empty:
            raise RuntimeError(f"{phase}: the reached challenge's delivery log was not read")
        return len(logs), empty, rcu + self.log[3] + 0.5 * empty


# --- one scale -----------------------------------------------------------------------------


def _scale(pledges: int, runs: int, progress: Progress) -> ScaleFigures:
    """A fresh moto, the real container and tables, the data, then the measures."""
    from chalice.test import Client
    from moto import mock_aws

    from chalicelib.local.stack import prepare_aws
    from chalicelib.settings import Settings
    from chalicelib.wiring import build_container, set_container

    started = time.perf_counter()
    now = datetime.now(UTC).replace(microsecond=0)
    plan = _plan(pledges, now)
    with mock_aws():
        settings = Settings.from_env()
        recorder = _SwitchedRecorder(MotoStore(settings.region))
        with recorder.capture_clients():
            container = build_container(settings)
            set_container(container)
            try:
                prepare_aws(settings)
                import app as app_module

                progress(f"{pledges:,} pledges by {plan.people:,} people: writing them")
                campaign_id, ids = _setup(container, plan, now)
                t0 = time.perf_counter()
                _write_pledges(plan, ids, progress)
                _write_counters(plan, ids, campaign_id, container)
                emails = _write_deliveries(plan, ids[0], now)
                load_s = time.perf_counter() - t0
                _forget_moto_instances()
                progress(f"  written in {load_s:.0f} s; count_areas over the pledges stream")
                t0 = time.perf_counter()
                invocations = _count_areas(settings, app_module)
                stream_s = time.perf_counter() - t0
                _forget_moto_instances()
                _check_counts(plan, ids)
                progress(
                    f"  counted in {stream_s:.0f} s ({invocations} invocations, "
                    f"{_rss_mb():.0f} MB); reports, median of {runs} runs each"
                )
                log = _delivery_log(ids[0])
                # moto's tables and streams are millions of objects that a Lambda's heap does
                # not hold: out of the collector's sight, its full collections stay short.
                gc.collect()
                gc.freeze()
                with Client(app_module.app, stage_name="local") as client:
                    reports = _Reports(
                        container,
                        client,
                        recorder,
                        runs,
                        log,
                        settings.table_name("deliveries"),
                        progress,
                    )
                    campaign = reports.subject("campaign", campaign_id)
                    challenge = reports.subject("challenge", ids[0])
            finally:
                gc.unfreeze()
                set_container(None)
    _check_report(plan, campaign, challenge)
    moto_queries = challenge.log_pages
    return ScaleFigures(
        pledges=pledges,
        people=plan.people,
        live_people=len({p.person for p in plan.live()}),
        withdrawals=sum(1 for p in plan.pledges if p.withdrawn),
        pledges_per_challenge=[
            sum(1 for p in plan.pledges if p.challenge == i) for i in range(len(MODES))
        ],
        areas_used=len({p.area for p in plan.pledges}),
        participant_emails=emails,
        load_s=load_s,
        stream_s=stream_s,
        stream_invocations=invocations,
        campaign=campaign,
        challenge=challenge,
        delivery_log=DeliveryLog(
            items=log[0],
            bytes=log[1],
            pages=log[2],
            rcu=log[3],
            aws_low_s=log[2] * ASSUMED_PAGE_MS[0] / 1000,
            aws_high_s=log[2] * ASSUMED_PAGE_MS[1] / 1000,
            moto_queries=moto_queries,
        ),
        seconds=time.perf_counter() - started,
    )


def _check_report(plan: _Plan, campaign: SubjectFigures, challenge: SubjectFigures) -> None:
    live_people = len({p.person for p in plan.live()})
    withdrawn = sum(1 for p in plan.pledges if p.withdrawn)
    expected = (live_people, len(plan.pledges), withdrawn)
    got = (campaign.participants, campaign.pledges, campaign.withdrawals)
    if got != expected:
        raise RuntimeError(f"campaign report: participants, pledges, withdrawals {got}, "
                           f"not {expected}")  # fmt: skip
    if challenge.participants != len(plan.live(0)):
        raise RuntimeError(
            f"challenge report: {challenge.participants} participants, not {len(plan.live(0))}"
        )


def measure_report(
    pledges: int = DEFAULT_PLEDGES,
    *,
    progress: Progress,
    small: int = SMALL_PLEDGES,
    runs: int = DEFAULT_RUNS,
) -> SponsorReportResult:
    """The campaign's and its reached challenge's reports at `small` and at `pledges`
    pledges, each on its own fresh moto (see the module's docstring)."""
    from chalicelib.local import moto_fixes

    if runs < MIN_RUNS or pledges < 1 or small < 1:
        raise ValueError(f"runs must be at least {MIN_RUNS} and the pledges positive")
    logging.getLogger("chalicelib.local.stream_poller").setLevel(logging.ERROR)
    started = time.perf_counter()
    moto_fixes.apply()
    pdf_import_s = None
    if "chalicelib.bilan.pdf" not in sys.modules:
        t0 = time.perf_counter()
        importlib.import_module("chalicelib.bilan.pdf")
        pdf_import_s = time.perf_counter() - t0
    with _bench_environment(), partition_queries():
        lower = _scale(min(small, pledges), runs, progress)
        upper = lower if pledges <= small else _scale(pledges, runs, progress)
    result = SponsorReportResult(
        pledges=pledges,
        small_pledges=min(small, pledges),
        runs=runs,
        large=upper,
        small=lower,
        pdf_import_s=pdf_import_s,
    )
    result.seconds = time.perf_counter() - started
    json_s = upper.campaign.formats["json"].http.median_s
    progress(f"sponsor's report: campaign of {pledges:,} pledges in {json_s:.3f} s (JSON, moto); "
             f"part took {result.seconds:.0f} s")  # fmt: skip
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sponsor_report", description=__doc__)
    parser.add_argument(
        "--pledges",
        type=int,
        default=DEFAULT_PLEDGES,
        help=f"pledges in the campaign (default {DEFAULT_PLEDGES})",
    )
    parser.add_argument(
        "--small",
        type=int,
        default=SMALL_PLEDGES,
        help=f"the small campaign to compare with (default {SMALL_PLEDGES})",
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=DEFAULT_RUNS,
        help=f"timed runs per figure (default {DEFAULT_RUNS}, at least {MIN_RUNS})",
    )
    args = parser.parse_args(argv)
    if args.runs < MIN_RUNS:
        parser.error(f"--runs must be at least {MIN_RUNS}")
    if args.pledges < 1 or args.small < 1:
        parser.error("--pledges and --small must be positive")
    t0 = time.perf_counter()

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - t0:6.1f}s] {message}", file=sys.stderr, flush=True)

    result = measure_report(args.pledges, progress=progress, small=args.small, runs=args.runs)
    print(json.dumps(dataclasses.asdict(result), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
