"""`python -m bench`: `make run` start-up, hot-challenge capacity, calls and cost per pledge,
cold start, local burst, the sponsor's report at scale."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from bench import cold_start, cost, report
from bench.hot import run_hot
from bench.local_burst import LocalBurstResult, run_local_burst
from bench.rsvp import DEFAULT_CAPACITY, DEFAULT_SIGNUPS, RsvpResult, run_rsvp
from bench.sponsor_report import DEFAULT_PLEDGES as DEFAULT_REPORT_PLEDGES
from bench.sponsor_report import SponsorReportResult, measure_report
from bench.startup import MIN_RUNS as MIN_STARTUP_RUNS
from bench.startup import measure_startup

MIN_COLD_START_RUNS = 10


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--startup-runs",
        type=int,
        default=5,
        help=f"starts of `make run` with the demo, timed to ready and to a counted pledge "
        f"(default 5, at least {MIN_STARTUP_RUNS})",
    )
    parser.add_argument(
        "--pledges",
        type=int,
        default=20_000,
        help="pledges on the hot challenge, per design (default 20000)",
    )
    parser.add_argument(
        "--drain-every",
        type=int,
        default=100,
        help="run the stream triggers after this many pledges (default 100: "
        "one full batch per invocation)",
    )
    parser.add_argument(
        "--api-sample",
        type=int,
        default=500,
        help="pledges measured through the Chalice app (default 500)",
    )
    parser.add_argument(
        "--cold-start-runs",
        type=int,
        default=11,
        help="fresh processes per module (default 11, at least 10)",
    )
    parser.add_argument(
        "--burst-pledges",
        type=int,
        default=5000,
        help="pledges in the locust burst against the local stack (default 5000; 0 skips it)",
    )
    parser.add_argument(
        "--burst-users", type=int, default=50, help="locust users in the burst (default 50)"
    )
    parser.add_argument(
        "--report-pledges",
        type=int,
        default=DEFAULT_REPORT_PLEDGES,
        help=f"pledges in the campaign whose sponsor's report is measured, against one of "
        f"1000 (default {DEFAULT_REPORT_PLEDGES}; 0 skips it)",
    )
    parser.add_argument(
        "--rsvp-signups",
        type=int,
        default=DEFAULT_SIGNUPS,
        help=f"sign-ups on one meetup of {DEFAULT_CAPACITY} places, for its ceiling "
        f"(default {DEFAULT_SIGNUPS}; 0 skips it)",
    )
    parser.add_argument("--no-doc", action="store_true", help="do not rewrite docs/performance.md")
    args = parser.parse_args(argv)
    if args.startup_runs < MIN_STARTUP_RUNS:
        parser.error(f"--startup-runs must be at least {MIN_STARTUP_RUNS}")
    if args.cold_start_runs < MIN_COLD_START_RUNS:
        parser.error(f"--cold-start-runs must be at least {MIN_COLD_START_RUNS}")
    if args.burst_pledges < 0 or args.burst_users < 1:
        parser.error("--burst-pledges must be 0 or more and --burst-users positive")
    if args.report_pledges < 0 or args.rsvp_signups < 0:
        parser.error("--report-pledges and --rsvp-signups must be 0 or more")
    if args.pledges < 1 or args.drain_every < 1 or args.api_sample < 1:
        parser.error("counts must be positive")

    started_at = datetime.now(UTC)
    t0 = time.perf_counter()

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - t0:6.1f}s] {message}", flush=True)

    command = shlex.join(["python", "-m", "bench", *(argv if argv is not None else sys.argv[1:])])
    progress(
        f"{command}: start-up, cold start, then {args.pledges} pledges per design on moto, "
        f"then the sponsor's report of {args.report_pledges} pledges"
    )
    # The start-up of `make run` first, while the machine is quiet (it is the stack's own
    # processes that are timed), then the cold start, while this process is still small.
    startup = measure_startup(args.startup_runs, progress=progress)
    cold = cold_start.measure(args.cold_start_runs, progress)
    # Then the burst, whose stack and locust run in their own processes, before this one grows.
    burst: LocalBurstResult | None = None
    if args.burst_pledges:
        burst = run_local_burst(
            pledges=args.burst_pledges, users=args.burst_users, progress=progress
        )
    hot = run_hot(
        args.pledges, drain_every=args.drain_every, api_sample=args.api_sample, progress=progress
    )
    rsvp: RsvpResult | None = (
        run_rsvp(args.rsvp_signups, capacity=DEFAULT_CAPACITY, progress=progress)
        if args.rsvp_signups
        else None
    )
    # The sponsor's report last: its fresh moto drops the hot challenge's tables.
    sponsor: SponsorReportResult | None = None
    if args.report_pledges:
        sponsor = measure_report(args.report_pledges, progress=progress)
    sharded = hot.sharded
    usd = cost.per_million_pledges(
        api_compute_ms=hot.api_path.compute_ms,
        api_calls_per_pledge=hot.api_path.calls_by_operation,
        stream_compute_ms=hot.stream_compute_ms,
        stream_calls_per_invocation=hot.stream_calls_per_invocation,
        stream_invocations_per_pledge=sharded.stream_invocations / sharded.pledges,
        wru_per_pledge=(sharded.api_wcu + sharded.stream_wcu) / sharded.pledges,
        rru_per_pledge=hot.reads.rcu_per_pledge,
    )
    seconds = time.perf_counter() - t0
    run = report.Run(
        command,
        started_at,
        seconds,
        hot,
        cold,
        usd,
        burst,
        startup=startup,
        sponsor_report=sponsor,
        rsvp=rsvp,
    )
    data = report.results(run)
    path = report.write_results(data)
    print()
    print(report.table(data))
    print()
    print(f"prices: {cost.REGION} list prices (USD) {cost.PRICES_USD}")
    print(f"        {cost.PRICE_SOURCE}")
    print(f"wrote {path.relative_to(report.REPO_ROOT)}", end="")
    if not args.no_doc:
        doc = report.write_doc(data)
        print(f" and {doc.relative_to(report.REPO_ROOT)}", end="")
    print(f" in {data['run']['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
