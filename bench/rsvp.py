"""Sign-ups on one meetup through the real repository on moto: the hottest partition key's
capacity units per sign-up give the ceiling in sign-ups per second (modelled as bench/hot.py
does for the pledge path: 1,000 WCU/s and 3,000 RCU/s per partition key)."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bench.hot import (
    PARTITION_RCU_PER_S,
    PARTITION_WCU_PER_S,
    KeyShare,
    Progress,
    _bench_environment,
    _share,
)
from bench.recorder import CapacityRecorder, MotoStore

DEFAULT_SIGNUPS = 600
DEFAULT_CAPACITY = 300  # half get a seat, half the waitlist: both paths are measured


@dataclass(frozen=True)
class RsvpResult:
    signups: int
    capacity: int
    seconds: float
    calls_per_signup: dict[str, float]
    wcu_per_signup: float
    hottest_write: KeyShare
    hottest_read: KeyShare
    top_keys: list[KeyShare]

    @property
    def ceiling(self) -> float:
        return min(self.hottest_write.ceiling, self.hottest_read.ceiling)


def run_rsvp(
    signups: int = DEFAULT_SIGNUPS,
    *,
    capacity: int = DEFAULT_CAPACITY,
    progress: Progress = lambda _: None,
) -> RsvpResult:
    from moto import mock_aws

    from chalicelib.local import moto_fixes

    moto_fixes.apply()
    started = time.perf_counter()
    with _bench_environment(), mock_aws():
        return _run(signups, capacity, progress, started)


def _run(signups: int, capacity: int, progress: Progress, started: float) -> RsvpResult:
    from chalicelib.domain.events import Event, Rsvp, RsvpStatus
    from chalicelib.local.stack import prepare_aws
    from chalicelib.settings import Settings
    from chalicelib.storage.events import DynamoEventRepository
    from chalicelib.wiring import build_container, set_container

    settings = Settings.from_env()
    recorder = CapacityRecorder(MotoStore(settings.region))
    with contextlib.ExitStack() as capture:
        capture.enter_context(recorder.capture_clients())
        set_container(build_container(settings))
        try:
            prepare_aws(settings)
            repository = DynamoEventRepository()
            now = datetime.now(UTC)
            event = Event(
                "evt_bench", "ch_bench", None, "Bench", now + timedelta(days=1), "Here",
                capacity, now,
            )  # fmt: skip
            repository.add(event)
            progress(f"rsvp: {signups} sign-ups for {capacity} places on one event")
            for i in range(signups):
                with recorder.in_phase("api:rsvp"):
                    repository.rsvp(
                        event,
                        Rsvp(event.id, f"bench-{i:06d}", RsvpStatus.CONFIRMED, 0, now),
                    )
        finally:
            set_container(None)
    stored = repository.get(event.id)
    if stored is None or stored.confirmed != min(capacity, signups):
        raise RuntimeError(f"rsvp: the counter says {stored!r}")
    phases = ["api:rsvp"]
    prefix = settings.table_prefix
    writes = recorder.wcu_by_partition(phases)
    reads = recorder.rcu_by_partition(phases)
    shares = [_share(k, u, signups, PARTITION_WCU_PER_S, prefix) for k, u in writes.items()]
    read_key, read_units = next(iter(reads.items()))
    calls = recorder.calls_by_operation(phases)
    return RsvpResult(
        signups=signups,
        capacity=capacity,
        seconds=time.perf_counter() - started,
        calls_per_signup={op: n / signups for op, n in sorted(calls.items())},
        wcu_per_signup=sum(writes.values()) / signups,
        hottest_write=shares[0],
        hottest_read=_share(read_key, read_units, signups, PARTITION_RCU_PER_S, prefix),
        top_keys=shares[:4],
    )


def main() -> None:
    """`python -m bench.rsvp`: this figure alone, written into bench/results.json (the other
    figures stay as the last `make bench` left them)."""
    import json

    from bench import report

    result = run_rsvp(progress=print)
    data = json.loads(report.RESULTS.read_text())
    data["rsvp_ceiling_signups_per_s"] = round(result.ceiling, 1)
    data["rsvp"] = report.rsvp_results(result)
    path = report.write_results(data)
    print(f"ceiling: {result.ceiling:.0f} sign-ups/s on one event; wrote {path}")


if __name__ == "__main__":
    main()
