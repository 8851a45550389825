"""Drives pledges on one hot challenge through the real pledge path on moto; measures capacity."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.naive import NAIVE_SHARDS, transaction_services
from bench.recorder import CapacityRecorder, MotoStore, PartitionKey, Read, read_units

REPO_ROOT = Path(__file__).resolve().parents[1]
PARTITION_WCU_PER_S = 1000.0
PARTITION_RCU_PER_S = 3000.0
STREAM_BATCH_SIZE = 100  # app.py's aggregate_progress trigger
GOAL_PLEDGES_PER_S = 10_000.0
# Mean time one pledge request keeps a Lambda container busy in AWS (API Gateway excluded:
# Lambda's duration, DynamoDB round trips included). Assumed: moto answers in-process, so
# the bench cannot measure it (cost.ASSUMED_DDB_LATENCY_MS puts the two calls near 16 ms).
ASSUMED_API_LATENCY_MS = 30.0
BENCH_ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",  # moto accepts anything; nothing leaves the process
    "AWS_DEFAULT_REGION": "eu-west-3",
    "AWS_REGION": "eu-west-3",
    "CROWDACT_STAGE": "local",
}
PLEDGE_BODY = {"display_name": "Léa", "location": {"lat": 48.904, "lon": 2.305}}

Progress = Callable[[str], None]


@dataclass(frozen=True)
class KeyShare:
    key: str
    per_pledge: float  # capacity units per pledge landing on this key
    ceiling: float  # pledges/s at which this key reaches its partition limit


@dataclass
class VariantResult:
    """One counting design driven with `pledges` distinct participants on one challenge."""

    name: str
    counter_items: int
    pledges: int
    seconds: float
    api_calls: dict[str, int]
    stream_calls: dict[str, int]
    stream_invocations: int
    stream_records: int
    api_wcu: float
    stream_wcu: float
    api_rcu: float
    stream_rcu: float
    hottest: KeyShare  # over API and stream writes: the ceiling
    hottest_api: KeyShare
    hottest_stream: KeyShare
    top_keys: list[KeyShare]
    hottest_read: KeyShare
    # Sensitivity: the same, were index writes caused by a transaction charged twice too.
    hottest_if_index_writes_doubled: KeyShare
    writes_recorded: int
    transactional_writes: int
    published_participants: int

    @property
    def ceiling(self) -> float:
        return self.hottest.ceiling


@dataclass
class ApiPathResult:
    """Pledges through the Chalice app (API Gateway event → handler), warm container."""

    warmup: int
    pledges: int
    calls_per_pledge: float
    calls_by_operation: dict[str, float]
    wall_ms: float  # per pledge, whole handler, moto included
    backend_ms: float  # per pledge, inside moto
    compute_ms: float  # per pledge: wall - backend, the app's own work (botocore included)
    statuses: dict[int, int]


@dataclass
class DuplicateResult:
    pledges: int
    calls_per_pledge: float
    created: int
    count_unchanged: bool


@dataclass
class HotReads:
    """Reads on the hot challenge's keys (sharded design), the pledge path's cache modelled.

    Measured in this process, which is one container: how often the pledge path read the
    challenge item (about once per cache TTL, not once per pledge), what a read costs, and
    every other read per pledge (the stream triggers'). Modelled: at R pledges/s AWS runs about
    R × latency containers (Little's law), each serving pledges back to back and reading the
    challenge once per refresh interval measured here; so the challenge item takes
    R × latency / interval reads/s (at most R), and every other key what was measured.
    """

    challenge_key: str
    cache_ttl_s: float  # the cache's default TTL; the model uses the measured interval
    pledges: int
    seconds: float  # the sharded run, stream drains included
    challenge_gets: int  # measured: GetItems of the pledge path on the challenge item
    challenge_gets_per_pledge: float  # measured, at this run's rate in one container
    refresh_interval_s: float  # measured: shortest gap between two reads (the TTL, if cached)
    rcu_per_challenge_get: float  # measured (eventually consistent, ≤ 4 KB: 0.5)
    stream_rcu_per_pledge_on_challenge: float  # measured: the stream triggers' reads
    assumed_api_latency_ms: float
    challenge_gets_per_pledge_modelled: float  # min(1, latency / interval); 1 if uncached
    containers_at_goal: float  # GOAL_PLEDGES_PER_S × latency
    challenge_reads_per_s_at_goal: float
    challenge_rcu_per_s_at_goal: float  # pledge path and aggregator
    containers_at_read_limit: float | None  # at the goal rate; None when every pledge read
    hottest_read: KeyShare  # modelled
    hot_read_ceiling_pledges_per_s: float  # the hottest key at 3,000 RCU/s
    rcu_per_pledge: float  # modelled, API path and stream
    rcu_per_pledge_measured: float  # this run, one container (the cache looks better here)
    api_calls_per_pledge: float  # measured through the Chalice app, warm container
    api_challenge_gets_per_pledge: float  # measured through the Chalice app


@dataclass
class VoteResult:
    """Votes on one hot challenge's beneficiary vote, through VoteService on moto: each of
    `voters` votes, then half of them change their vote (a change moves one vote between two
    candidates' shards). The ceiling is the hottest key's, as for pledges."""

    voters: int
    votes: int  # first votes and changes
    calls_per_vote: float
    calls_by_operation: dict[str, float]
    wcu_per_vote: float
    hottest: KeyShare
    top_keys: list[KeyShare]
    tallies_exact: bool

    @property
    def ceiling(self) -> float:
        return self.hottest.ceiling


@dataclass
class HotResult:
    counter_shards: int
    sharded: VariantResult  # today's design: the pledge alone, counted from the stream
    naive: VariantResult
    transaction: VariantResult  # the sharded counter in the pledge's transaction (before)
    api_path: ApiPathResult
    duplicates: DuplicateResult
    reads: HotReads
    stream_compute_ms: float  # per aggregate_progress invocation (sharded), moto excluded
    stream_calls_per_invocation: dict[str, float]
    challenge_item_bytes: int
    pledge_item_bytes: int
    container_clients: int  # DynamoDB clients build_container makes
    seconds: float
    votes: VoteResult | None = None
    notes: list[str] = field(default_factory=list)


@contextmanager
def _bench_environment() -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in [*BENCH_ENV, "CROWDACT_AWS_ENDPOINT_URL"]}
    os.environ.update(BENCH_ENV)
    os.environ.pop("CROWDACT_AWS_ENDPOINT_URL", None)  # mock_aws, not a server
    cwd = Path.cwd()
    os.chdir(REPO_ROOT)  # chalice.test.Client reads .chalice/config.json from here
    try:
        yield
    finally:
        os.chdir(cwd)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _draft(target: int) -> Any:
    from chalicelib.domain.model import Metric, Party, Target
    from chalicelib.services.challenges import ChallengeDraft

    # The README's challenge: a realistic item size for the totals the aggregator rewrites.
    return ChallengeDraft(
        title="Clichy à vélo",
        action="I cycle when I can",
        target=Target(Metric.PARTICIPANTS, target),
        sponsor=Party("Ville de Clichy", "mobilite@clichy.example"),
        beneficiary=Party("Solicycle", "contact@solicycle.example"),
        reward="€5,000 to teach 500 pupils bike repair",
        publish=True,
    )


class _Stream:
    """The local stream poller with the app's bindings, timing each aggregate_progress call."""

    def __init__(self, recorder: CapacityRecorder, settings: Any, app_module: Any) -> None:
        from chalicelib.local.stack import stream_bindings, streams_client
        from chalicelib.local.stream_poller import StreamPoller

        self.recorder = recorder
        self.invocations = 0
        self.records = 0
        self.compute_seconds = 0.0
        bindings = [
            dataclasses.replace(b, handler=self._timed(b.handler))
            if b.name == "aggregate_progress"
            else b
            for b in stream_bindings(app_module)
        ]
        sizes = {b.name: b.batch_size for b in bindings}
        if sizes.get("aggregate_progress") != STREAM_BATCH_SIZE:
            raise RuntimeError(f"aggregate_progress batch size is not {STREAM_BATCH_SIZE}: {sizes}")
        self._poller = StreamPoller(streams_client(settings), bindings)

    def _timed(self, handler: Callable[[dict[str, Any], Any], Any]) -> Any:
        def timed(event: dict[str, Any], context: Any) -> Any:
            first_call = len(self.recorder.calls)
            started = time.perf_counter()
            try:
                return handler(event, context)
            finally:
                wall = time.perf_counter() - started
                backend = sum(c.backend_seconds for c in self.recorder.calls[first_call:])
                self.compute_seconds += wall - backend
                self.invocations += 1
                self.records += len(event["Records"])

        return timed

    def drain(self) -> None:
        self._poller.drain(max_rounds=10_000)


def _share(key: PartitionKey, units: float, pledges: int, limit: float, prefix: str) -> KeyShare:
    per_pledge = units / pledges
    ceiling = limit / per_pledge if per_pledge else float("inf")
    return KeyShare(key.label(prefix), per_pledge, ceiling)


def _variant(
    recorder: CapacityRecorder,
    name: str,
    counter_items: int,
    pledges: int,
    seconds: float,
    invocations: tuple[int, int],
    published: int,
    prefix: str,
) -> VariantResult:
    api, background = [f"api:{name}"], [f"stream:{name}"]
    both = api + background
    by_key = recorder.wcu_by_partition(both)
    api_keys = recorder.wcu_by_partition(api)
    stream_keys = recorder.wcu_by_partition(background)
    reads = recorder.rcu_by_partition(both)

    def top(units_by_key: dict[PartitionKey, float], limit: float) -> KeyShare:
        if not units_by_key:
            return KeyShare("-", 0.0, float("inf"))
        key, units = next(iter(units_by_key.items()))  # hottest first
        return _share(key, units, pledges, limit, prefix)

    selected = recorder.select(both, lambda w: True)
    doubled: dict[PartitionKey, float] = {}
    for write in selected:
        factor = 2 if write.operation == "TransactWriteItems" and write.partition.index else 1
        doubled[write.partition] = doubled.get(write.partition, 0.0) + factor * write.wcu
    doubled = dict(sorted(doubled.items(), key=lambda item: item[1], reverse=True))
    return VariantResult(
        name=name,
        counter_items=counter_items,
        pledges=pledges,
        seconds=seconds,
        api_calls=dict(recorder.calls_by_operation(api)),
        stream_calls=dict(recorder.calls_by_operation(background)),
        stream_invocations=invocations[0],
        stream_records=invocations[1],
        api_wcu=sum(api_keys.values()),
        stream_wcu=sum(stream_keys.values()),
        api_rcu=sum(recorder.rcu_by_partition(api).values()),
        stream_rcu=sum(recorder.rcu_by_partition(background).values()),
        hottest=top(by_key, PARTITION_WCU_PER_S),
        hottest_api=top(api_keys, PARTITION_WCU_PER_S),
        hottest_stream=top(stream_keys, PARTITION_WCU_PER_S),
        top_keys=[
            _share(key, units, pledges, PARTITION_WCU_PER_S, prefix)
            for key, units in list(by_key.items())[:6]
        ],
        hottest_read=top(reads, PARTITION_RCU_PER_S),
        hottest_if_index_writes_doubled=top(doubled, PARTITION_WCU_PER_S),
        writes_recorded=len(selected),
        transactional_writes=sum(1 for w in selected if w.transactional),
        published_participants=published,
    )


def run_hot(pledges: int, *, drain_every: int, api_sample: int, progress: Progress) -> HotResult:
    """Both designs in one process, one after the other, on the same embedded DynamoDB."""
    from moto import mock_aws

    from chalicelib.local import moto_fixes

    logging.getLogger("chalicelib.local.stream_poller").setLevel(logging.ERROR)
    started = time.perf_counter()
    moto_fixes.apply()
    with _bench_environment(), mock_aws():
        result = _run(pledges, drain_every, api_sample, progress)
    result.seconds = time.perf_counter() - started
    return result


def _run(pledges: int, drain_every: int, api_sample: int, progress: Progress) -> HotResult:
    from chalicelib.domain.model import Principal
    from chalicelib.local.stack import prepare_aws
    from chalicelib.services.pledges import PledgeRequest
    from chalicelib.settings import Settings
    from chalicelib.wiring import build_container, set_container

    settings = Settings.from_env()
    recorder = CapacityRecorder(MotoStore(settings.region))
    # Hooked for the whole run: repositories build some clients on first use (the pledge
    # and report transactions', the area counts'), after the container is built.
    capture = contextlib.ExitStack()
    capture.enter_context(recorder.capture_clients())
    try:
        container = build_container(settings)
        container_clients = recorder.clients
        set_container(container)
        prepare_aws(settings)
        import app as app_module

        stream = _Stream(recorder, settings, app_module)
    except BaseException:
        capture.close()
        raise
    if container_clients == 0:
        capture.close()
        raise RuntimeError("no DynamoDB client was hooked: PynamoDB built them elsewhere")
    prefix = settings.table_prefix
    try:
        variants: dict[str, VariantResult] = {}
        plans: list[tuple[str, Any, Any, int, Any]] = [
            ("sharded", container.challenges, container.pledges, settings.counter_shards, container)
        ]
        # The designs that count on the request path, measured beside today's.
        for name, shards in (("transaction", settings.counter_shards), ("naive", NAIVE_SHARDS)):
            challenges, service, triggers = transaction_services(settings, container, shards)
            plans.append((name, challenges, service, shards, triggers))
        ids: dict[str, str] = {}
        compute_ms: dict[str, float] = {}
        for name, challenges, service, counter_items, triggers in plans:
            set_container(triggers)
            challenge = challenges.create(_draft(target=pledges))
            ids[name] = challenge.id
            first = (stream.invocations, stream.records, stream.compute_seconds)
            progress(
                f"{name}: {pledges} pledges on {challenge.id} ({counter_items} counter item(s))"
            )
            t0 = time.perf_counter()
            for i in range(pledges):
                with recorder.in_phase(f"api:{name}"):
                    outcome = service.pledge(
                        Principal(sub=f"{name}-{i:06d}"),
                        challenge.id,
                        PledgeRequest(display_name=f"Participant {i}", area="u09tv"),
                    )
                if not outcome.created:
                    raise RuntimeError(f"pledge {i} was not created")
                if (i + 1) % drain_every == 0 or i + 1 == pledges:
                    with recorder.in_phase(f"stream:{name}"):
                        stream.drain()
                if (i + 1) % 5000 == 0:
                    rate = (i + 1) / (time.perf_counter() - t0)
                    progress(f"  {name}: {i + 1}/{pledges} ({rate:.0f} pledges/s on moto)")
            seconds = time.perf_counter() - t0
            published = container.challenges.get_for_admin(challenge.id).totals.participants
            if published != pledges:
                raise RuntimeError(f"{name}: published {published} participants, not {pledges}")
            invocations = (stream.invocations - first[0], stream.records - first[1])
            compute_ms[name] = 1000 * (stream.compute_seconds - first[2]) / max(1, invocations[0])
            variants[name] = _variant(
                recorder, name, counter_items, pledges, seconds, invocations, published, prefix
            )
        set_container(container)
        duplicates = _duplicates(recorder, container, stream, ids["sharded"], pledges, progress)
        api_path = _api_path(
            recorder, app_module, container, stream, ids["sharded"], api_sample, progress
        )
        votes = _votes(recorder, container, stream, min(pledges, VOTERS), prefix, progress)
    finally:
        set_container(None)
        capture.close()
    sharded = variants["sharded"]
    sharded_invocations = max(1, sharded.stream_invocations)
    challenge_bytes = _largest_item(recorder, "update", "challenges")
    reads = _hot_reads(recorder, sharded, ids["sharded"], challenge_bytes, api_path, prefix)
    return HotResult(
        counter_shards=settings.counter_shards,
        sharded=sharded,
        naive=variants["naive"],
        transaction=variants["transaction"],
        api_path=api_path,
        duplicates=duplicates,
        reads=reads,
        stream_compute_ms=compute_ms["sharded"],
        stream_calls_per_invocation={
            op: n / sharded_invocations for op, n in sharded.stream_calls.items()
        },
        challenge_item_bytes=challenge_bytes,
        pledge_item_bytes=_largest_item(recorder, "put", "pledges"),
        container_clients=container_clients,
        seconds=0.0,
        votes=votes,
        notes=[
            f"reads on the challenge item: one per container per cache refresh (measured every "
            f"{reads.refresh_interval_s:.2f} s here), containers = pledges/s × "
            f"{ASSUMED_API_LATENCY_MS:.0f} ms (assumed mean Lambda duration, Little's law)"
        ],
    )


VOTERS = 5000
VOTE_CANDIDATES = ("solicycle", "emmaus", "rejoue")


def _votes(
    recorder: CapacityRecorder,
    container: Any,
    stream: _Stream,
    voters: int,
    prefix: str,
    progress: Progress,
) -> VoteResult:
    """Pledge `voters` participants (not measured), then measure their votes and changes."""
    from collections import Counter

    from chalicelib.domain.model import Principal
    from chalicelib.domain.votes import BeneficiaryChoice, Candidate
    from chalicelib.services.pledges import PledgeRequest

    choice = BeneficiaryChoice(
        candidates=tuple(Candidate(c, c.title(), f"{c}@asso.example") for c in VOTE_CANDIDATES)
    )
    draft = dataclasses.replace(_draft(target=10 * voters), beneficiary_choice=choice)
    challenge = container.challenges.create(draft)
    progress(f"votes: {voters} voters on {challenge.id}, each votes, half change their vote")
    people = [Principal(sub=f"voter-{i:06d}") for i in range(voters)]
    with recorder.in_phase("setup:votes"):
        for person in people:
            container.pledges.pledge(person, challenge.id, PledgeRequest())
        stream.drain()
    final: dict[str, str] = {}
    with recorder.in_phase("api:votes"):
        for i, person in enumerate(people):
            final[person.sub] = VOTE_CANDIDATES[i % 3]
            container.votes.cast(person, challenge.id, final[person.sub])
        for i, person in list(enumerate(people))[::2]:  # another candidate than the first
            final[person.sub] = VOTE_CANDIDATES[(i + 1) % 3]
            container.votes.cast(person, challenge.id, final[person.sub])
    votes = voters + len(people[::2])
    with recorder.in_phase("stream:votes"):
        stream.drain()  # the pledges' MODIFY records: nothing on the stream counts votes
    tallies = dict(container.votes.tallies(None, challenge.id).votes)
    phases = ["api:votes", "stream:votes"]
    by_key = recorder.wcu_by_partition(phases)
    calls = recorder.calls_by_operation(["api:votes"])
    keys = list(by_key.items())
    return VoteResult(
        voters=voters,
        votes=votes,
        calls_per_vote=sum(calls.values()) / votes,
        calls_by_operation={op: n / votes for op, n in calls.items()},
        wcu_per_vote=sum(by_key.values()) / votes,
        hottest=_share(keys[0][0], keys[0][1], votes, PARTITION_WCU_PER_S, prefix),
        top_keys=[_share(k, u, votes, PARTITION_WCU_PER_S, prefix) for k, u in keys[:4]],
        tallies_exact=tallies == dict(Counter(final.values())),
    )


def _duplicates(
    recorder: CapacityRecorder,
    container: Any,
    stream: _Stream,
    challenge_id: str,
    pledges: int,
    progress: Progress,
) -> DuplicateResult:
    """Pledge again as existing participants: cancelled transactions must change nothing."""
    from chalicelib.domain.model import Principal
    from chalicelib.services.pledges import PledgeRequest

    count = min(100, pledges)
    progress(f"duplicates: {count} repeated pledges (checks moto's rollback)")
    created = 0
    with recorder.in_phase("api:duplicate"):
        for i in range(count):
            outcome = container.pledges.pledge(
                Principal(sub=f"sharded-{i:06d}"), challenge_id, PledgeRequest()
            )
            created += int(outcome.created)
    with recorder.in_phase("stream:duplicate"):
        stream.drain()
    published = container.challenges.get_for_admin(challenge_id).totals.participants
    calls = sum(recorder.calls_by_operation(["api:duplicate"]).values())
    return DuplicateResult(count, calls / count, created, published == pledges)


def _api_path(
    recorder: CapacityRecorder,
    app_module: Any,
    container: Any,
    stream: _Stream,
    challenge_id: str,
    sample: int,
    progress: Progress,
) -> ApiPathResult:
    """POST /challenges/{id}/pledges through the Chalice app with a verified token."""
    from chalice.test import Client

    from chalicelib.local.tokens import mint_local_token

    secret = container.settings.jwt.hs256_secret
    warmup = 50
    progress(f"API path: {warmup} warm-up + {sample} measured pledges through the Chalice app")
    body = json.dumps(PLEDGE_BODY)
    statuses: dict[int, int] = {}
    wall = 0.0
    with Client(app_module.app, stage_name="local") as client:
        for i in range(warmup + sample):
            headers = {
                "Authorization": f"Bearer {mint_local_token(secret, f'http-{i:06d}')}",
                "Content-Type": "application/json",
            }
            phase = "http:warmup" if i < warmup else "http:steady"
            with recorder.in_phase(phase):
                t0 = time.perf_counter()
                response = client.http.post(
                    f"/challenges/{challenge_id}/pledges", headers=headers, body=body
                )
                if i >= warmup:
                    wall += time.perf_counter() - t0
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    with recorder.in_phase("stream:http"):
        stream.drain()
    steady = [call for call in recorder.calls if call.phase == "http:steady"]
    by_operation = recorder.calls_by_operation(["http:steady"])
    backend = sum(call.backend_seconds for call in steady)
    return ApiPathResult(
        warmup=warmup,
        pledges=sample,
        calls_per_pledge=len(steady) / sample,
        calls_by_operation={op: n / sample for op, n in sorted(by_operation.items())},
        wall_ms=1000 * wall / sample,
        backend_ms=1000 * backend / sample,
        compute_ms=1000 * (wall - backend) / sample,
        statuses=statuses,
    )


def _hot_reads(
    recorder: CapacityRecorder,
    sharded: VariantResult,
    challenge_id: str,
    challenge_bytes: int,
    api_path: ApiPathResult,
    prefix: str,
) -> HotReads:
    """The read figures of the sharded run, with the challenge cache modelled (see HotReads)."""
    from chalicelib.storage.challenge_cache import CHALLENGE_CACHE_TTL_SECONDS

    api, stream = ["api:sharded"], ["stream:sharded"]
    pledges = sharded.pledges
    challenge = PartitionKey(f"{prefix}challenges", None, challenge_id)
    gets = recorder.select_reads(
        api, lambda r: r.partition == challenge and r.operation == "GetItem"
    )
    rcu_per_get = (
        sum(r.rcu for r in gets) / len(gets)
        if gets
        else read_units(challenge_bytes, consistent=False)
    )
    on_challenge_stream = sum(
        r.rcu for r in recorder.select_reads(stream, lambda r: r.partition == challenge)
    )
    latency_s = ASSUMED_API_LATENCY_MS / 1000
    interval = _refresh_interval(gets, sharded.seconds)
    cached = len(gets) < pledges
    # A container busy with one pledge after another reads once per interval (at most once
    # per pledge); not cached, every pledge reads.
    modelled = min(1.0, latency_s / interval) if cached else len(gets) / pledges
    units = recorder.rcu_by_partition(api + stream)
    units[challenge] = (
        units.get(challenge, 0.0) - sum(r.rcu for r in gets) + pledges * modelled * rcu_per_get
    )
    key, hottest_units = max(units.items(), key=lambda item: item[1])
    hottest = _share(key, hottest_units, pledges, PARTITION_RCU_PER_S, prefix)
    stream_per_pledge = on_challenge_stream / pledges
    containers = GOAL_PLEDGES_PER_S * latency_s
    reads_at_goal = GOAL_PLEDGES_PER_S * modelled
    steady = recorder.select_reads(["http:steady"], lambda r: r.partition == challenge)
    return HotReads(
        challenge_key=challenge.label(prefix),
        cache_ttl_s=CHALLENGE_CACHE_TTL_SECONDS,
        pledges=pledges,
        seconds=sharded.seconds,
        challenge_gets=len(gets),
        challenge_gets_per_pledge=len(gets) / pledges,
        refresh_interval_s=interval,
        rcu_per_challenge_get=rcu_per_get,
        stream_rcu_per_pledge_on_challenge=stream_per_pledge,
        assumed_api_latency_ms=ASSUMED_API_LATENCY_MS,
        challenge_gets_per_pledge_modelled=modelled,
        containers_at_goal=containers,
        challenge_reads_per_s_at_goal=reads_at_goal,
        challenge_rcu_per_s_at_goal=reads_at_goal * rcu_per_get
        + GOAL_PLEDGES_PER_S * stream_per_pledge,
        containers_at_read_limit=(
            max(0.0, PARTITION_RCU_PER_S - GOAL_PLEDGES_PER_S * stream_per_pledge)
            * interval
            / rcu_per_get
            if cached
            else None
        ),
        hottest_read=hottest,
        hot_read_ceiling_pledges_per_s=hottest.ceiling,
        rcu_per_pledge=sum(units.values()) / pledges,
        rcu_per_pledge_measured=(sharded.api_rcu + sharded.stream_rcu) / pledges,
        api_calls_per_pledge=api_path.calls_per_pledge,
        api_challenge_gets_per_pledge=sum(1 for r in steady if r.operation == "GetItem")
        / max(1, api_path.pledges),
    )


def _refresh_interval(gets: list[Read], seconds: float) -> float:
    """How often a container busy with pledges reads the challenge: the shortest gap between
    two reads here. Pauses (the stream drains between pledges) only lengthen gaps, so the
    average would make the cache look better than it is."""
    return min(
        (later.at - earlier.at for earlier, later in itertools.pairwise(gets)), default=seconds
    )


def _largest_item(recorder: CapacityRecorder, action: str, table: str) -> int:
    """The largest base-table item (not index entry) written by `action` on `table`."""
    return max(
        (
            w.size
            for w in recorder.writes
            if w.action == action and table in w.partition.table and w.partition.index is None
        ),
        default=0,
    )
