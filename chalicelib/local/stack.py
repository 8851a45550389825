"""The local stack: embedded AWS (moto), the real Chalice app over HTTP, the stream triggers and
the schedules; it answers 503 until all of them are ready."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import parseaddr
from types import FrameType, ModuleType
from typing import Any

from botocore.config import Config as BotoConfig
from chalice.local import LocalDevServer

from chalicelib.api.openapi import openapi_document
from chalicelib.api.routes import load_all as load_all_routes
from chalicelib.aws_clients import botocore_session, create_client
from chalicelib.local.clock import ShiftedClock
from chalicelib.local.embedded_aws import MOTO_LOCK, EmbeddedAws
from chalicelib.local.http_server import gated_server
from chalicelib.local.in_process_aws import InProcessAws
from chalicelib.local.schedule_runner import ScheduleRunner, schedule_bindings, schedule_interval
from chalicelib.local.shared_stream_reads import SharedStreamReads
from chalicelib.local.stream_poller import StreamBinding, StreamNotDrainedError, StreamPoller
from chalicelib.local.tokens import mint_local_token
from chalicelib.observability import local_log_handler
from chalicelib.settings import LOCAL_JWT_SECRET_DEFAULT, Settings
from chalicelib.storage.tables import (
    ChallengeEventItem,
    CounterShardItem,
    PledgeItem,
    create_tables,
    stream_arn,
)
from chalicelib.wiring import Container, build_container, set_container

logger = logging.getLogger(__name__)

LOCAL_ENV = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",  # moto accepts any credentials; nothing leaves the machine
    "AWS_DEFAULT_REGION": "eu-west-3",
    "AWS_REGION": "eu-west-3",
    "CROWDACT_STAGE": "local",
}
# Lambda polls a DynamoDB stream's shards four times a second (StreamPoller.run).
STREAM_POLL_INTERVAL = 0.25
# How long stopping the stack waits for a schedule run or a stream batch under way to finish.
THREAD_STOP_TIMEOUT = 10.0
# The start fails rather than loop for ever on a trigger that keeps writing what it reads.
DRAIN_MAX_ROUNDS = 10_000
DRAIN_MAX_PASSES = 100
SCHEDULE_FIRST_RUN_TIMEOUT = 60.0
# How often the main thread looks for a stop signal once the stack is ready.
SIGNAL_POLL_SECONDS = 0.5


def prepare_aws(settings: Settings) -> None:
    """Create the tables and verify the sender, as the infrastructure does in AWS."""
    create_tables()
    ses = create_client("ses", region=settings.region, endpoint_url=settings.aws_endpoint_url)
    ses.verify_email_identity(EmailAddress=parseaddr(settings.mail_from)[1])


def streams_client(settings: Settings) -> Any:
    return create_client(
        "dynamodbstreams",
        region=settings.region,
        endpoint_url=settings.aws_endpoint_url,
        # botocore would otherwise route stream calls to an account endpoint moto ignores.
        config=BotoConfig(account_id_endpoint_mode="disabled"),
    )


def stream_bindings(app_module: ModuleType) -> list[StreamBinding]:
    """The same handler functions Lambda calls, on the same streams, with the same batch sizes."""
    return [
        StreamBinding("aggregate_progress", stream_arn(CounterShardItem),
                      app_module.aggregate_progress, batch_size=100),
        StreamBinding("notify_milestones", stream_arn(ChallengeEventItem),
                      app_module.notify_milestones, batch_size=1),
        StreamBinding("track_campaigns", stream_arn(PledgeItem),
                      app_module.track_campaigns, batch_size=100),
        StreamBinding("count_areas", stream_arn(PledgeItem),
                      app_module.count_areas, batch_size=1000),
        StreamBinding("count_teams", stream_arn(PledgeItem),
                      app_module.count_teams, batch_size=100),
    ]  # fmt: skip


@dataclass
class StartupTimings:
    """How long each step of the start took, in seconds, in order."""

    steps: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.steps[name] = time.perf_counter() - started

    @property
    def total(self) -> float:
        return sum(self.steps.values())

    def line(self) -> str:
        parts = ", ".join(f"{name} {seconds:.2f}" for name, seconds in self.steps.items())
        return f"started in {self.total:.2f} s ({parts})"


@dataclass
class LocalStack:
    """The API's socket, and once `start` has returned, everything behind it.

    `bind_stack` opens the port first: the API answers 503 while the rest starts. `start`
    then brings up the embedded AWS, creates the tables, loads the demo, delivers every stream
    record it made to the triggers, runs each schedule once and loads every route's code.
    Only then is `ready` set, and the API answers.
    """

    server: LocalDevServer
    ready: threading.Event
    stop_event: threading.Event = field(default_factory=threading.Event)
    aws: EmbeddedAws | None = None
    transport: InProcessAws | None = None
    container: Container | None = None
    clock: ShiftedClock | None = None
    pollers: list[StreamPoller] = field(default_factory=list)
    timings: StartupTimings = field(default_factory=StartupTimings)
    demo_records: int = 0  # stream records delivered before ready
    _threads: list[threading.Thread] = field(default_factory=list)
    _serving: threading.Thread | None = None

    @property
    def port(self) -> int:
        port: int = self.server.server.server_address[1]
        return port

    def serve_in_background(self) -> None:
        """Answer on the socket from another thread (503 until ready)."""
        self._serving = threading.Thread(
            target=self.server.server.serve_forever, name="http", daemon=True
        )
        self._serving.start()

    @property
    def serving(self) -> bool:
        return self._serving is not None and self._serving.is_alive()

    def start(self, aws_port: int = 0, *, demo: bool = True) -> None:
        interval = schedule_interval()  # a bad value stops the start here, before anything runs
        steps = self.timings
        with steps.step("embedded AWS"):
            aws = self.aws = EmbeddedAws(port=aws_port)
            aws.start()
            os.environ["CROWDACT_AWS_ENDPOINT_URL"] = aws.endpoint_url
            # Before any client exists: every client of the container's session answers in
            # process (see chalicelib.local.in_process_aws).
            self.transport = InProcessAws(aws.endpoint_url, MOTO_LOCK)
            self.transport.install(botocore_session())
        with steps.step("tables"):
            settings = Settings.from_env()
            # The demo writes its company weeks' first days with this clock set back.
            self.clock = ShiftedClock()
            container = self.container = build_container(settings, clock=self.clock)
            set_container(container)
            prepare_aws(settings)
        if demo:
            with steps.step("demo"):
                from chalicelib.local.demo import load_demo

                load_demo(container, clock=self.clock)
        import app as app_module

        # One poller per trigger, as Lambda has one event source mapping per function: a
        # busy trigger (the campaign one, in a burst) does not hold the counts back.
        client = SharedStreamReads(streams_client(settings))
        self.pollers = [StreamPoller(client, [binding]) for binding in stream_bindings(app_module)]
        with steps.step("stream records"):
            # The demo's figures come from the triggers, as a real pledge's do: all of its
            # records are delivered before the first user's pledge queues behind them.
            self.demo_records = drain_all(self.pollers)
        failed = sum(poller.given_up for poller in self.pollers)
        if failed:
            # A demo whose figures would be wrong is not ready: say so rather than serve it.
            raise RuntimeError(f"{failed} stream record(s) failed their trigger during the start")
        for poller in self.pollers:
            self._thread(
                f"stream-{poller.names[0]}", poller.run, self.stop_event, STREAM_POLL_INTERVAL
            )
        with steps.step("schedules"):
            # What EventBridge does in AWS: every @app.schedule of the app, every few seconds.
            runner = ScheduleRunner(
                schedule_bindings(app_module.app), interval=interval, region=settings.region
            )
            self._thread("schedules", runner.run, self.stop_event)
            if not runner.ran_once.wait(SCHEDULE_FIRST_RUN_TIMEOUT):
                raise RuntimeError(
                    f"the schedules did not run within {SCHEDULE_FIRST_RUN_TIMEOUT:g} s"
                )
        logger.info("schedules %s run every %gs", ", ".join(runner.names), interval)
        with steps.step("routes"):
            warm_up(container)
        self.ready.set()

    def _thread(self, name: str, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        """Stop serving, let the stream poller and a schedule run under way finish, stop AWS."""
        self.stop_event.set()
        if self.serving:
            self.server.shutdown()  # waits for serve_forever to return
        self.server.server.server_close()
        for thread in self._threads:
            thread.join(timeout=THREAD_STOP_TIMEOUT)
        if self.transport is not None:
            self.transport.uninstall()
        if self.aws is not None:
            self.aws.stop()


def drain_all(pollers: Sequence[StreamPoller], max_passes: int = DRAIN_MAX_PASSES) -> int:
    """Deliver every record of every stream, including those the triggers write while they
    run (a campaign trigger's counter writes feed the progress trigger): until a whole pass
    over the pollers delivers nothing. Returns the records acknowledged."""
    acknowledged = 0
    for _ in range(max_passes):
        delivered = sum(poller.drain(max_rounds=DRAIN_MAX_ROUNDS) for poller in pollers)
        if delivered == 0:
            return acknowledged
        acknowledged += delivered
    raise StreamNotDrainedError(f"records were still being delivered after {max_passes} passes")


def bind_stack(port: int, *, host: str = "127.0.0.1") -> LocalStack:
    """The API's port, open: it answers 503 until `LocalStack.start` is done."""
    for name, value in LOCAL_ENV.items():
        os.environ.setdefault(name, value)
    import app as app_module  # registers the routes; loads no application code yet

    ready = threading.Event()
    return LocalStack(gated_server(app_module.app, host, port, ready), ready)


def warm_up(container: Container) -> None:
    """Load now what the first request of each kind would otherwise load or build, so that it
    is answered as fast as the next (in Lambda each function stays lazy: see app.py).

    `tests/e2e/test_warm_start.py` (through `tests/e2e/first_requests.py`) sends one request
    of every route, and a pledge through every stream trigger, to a stack started with empty
    tables, and fails if any of them still loads a module.
    """
    load_all_routes()
    openapi_document()  # its first build also completes pydantic's schema generation
    container.idempotency.prepare()
    container.notifications.prepare()  # the e-mail templates, compiled
    # The sponsor's report: reportlab, its fonts and charts (~0.3 s; Lambda loads them only
    # for a report request), and the CSV zip's modules.
    from chalicelib.bilan import csv_export, pdf

    pdf.prepare()
    importlib.import_module(csv_export.__name__)
    # A meetup's calendar file: icalendar (Lambda loads it only for that route).
    from chalicelib.notify import calendar

    calendar.prepare()
    # The stream triggers' code, which the demo's records load when there is a demo.
    for module in ("chalicelib.streams", "chalicelib.schedules"):
        importlib.import_module(module)
    # moto looks for Lambda event source mappings on every stream record it writes, and
    # imports its Lambda backend (and what that needs) on the first one.
    importlib.import_module("moto.awslambda.models")


def _banner(stack: LocalStack, *, demo: bool) -> str:
    if stack.container is None or stack.aws is None:
        raise RuntimeError("the stack has not started")
    secret = stack.container.settings.jwt.hs256_secret or LOCAL_JWT_SECRET_DEFAULT
    return banner(
        f"http://127.0.0.1:{stack.port}", stack.aws.endpoint_url, secret=secret, demo=demo
    )


def _data_notice(*, demo: bool) -> str:
    """What happens to the stack's data: moto keeps it in this process's memory only."""
    if demo:
        return (
            "in memory only: everything (demo data included) is lost when this process stops;"
            " the demo data is recreated on each start"
        )
    return "in memory only: everything is lost when this process stops"


def banner(api: str, aws_endpoint: str, *, secret: str, demo: bool) -> str:
    """What `make run` prints once ready: where things are, tokens to try, what data lasts."""
    admin = mint_local_token(secret, "local-admin", groups=["admin"], name="Local admin")
    participant = mint_local_token(secret, "local-participant", name="Léa")
    employee = mint_local_token(secret, "humanis-employee", org_id="org_humanis", name="Sam")
    humanis_admin, grdf_admin = (
        mint_local_token(secret, f"{org}-csr", groups=["org-admin"], org_id=f"org_{org}", name=name)
        for org, name in (("humanis", "Humanis CSR team"), ("grdf", "GRDF CSR team"))
    )
    # A GRDF employee known by a verified e-mail in GRDF's domain, not by an org claim.
    grdf = mint_local_token(
        secret, "grdf-employee", name="Inès", email="ines@grdf.example", email_verified=True
    )
    return "\n".join([
        "",
        "crowdact local stack",
        f"  Web client:        {api}/   (open it in a browser; sign in with any name and role)",
        f"  API:               {api}   (try: curl {api}/challenges)",
        f"  embedded AWS:      {aws_endpoint}   (aws --endpoint-url "
        f"{aws_endpoint} dynamodb list-tables)",
        f"  Data:              {_data_notice(demo=demo)}.",
        f"  admin token:       {admin}",
        f"  participant token: {participant}",
        f"  Humanis employee:  {employee}",
        f"  GRDF employee:     {grdf}",
        f"  Humanis org-admin: {humanis_admin}",
        f"  GRDF org-admin:    {grdf_admin}",
        f"  Humanis week report (PDF): curl -H 'Authorization: Bearer <Humanis org-admin>' "
        f"-o bilan.pdf '{api}/admin/campaigns/cmp_humanis_mobility_week/report?format=pdf'",
        "  Ctrl-C stops everything.",
        "",
    ])  # fmt: skip


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.local", description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument(
        "--aws-port",
        type=int,
        default=int(os.environ.get("AWS_PORT", "0")),
        help="port of the embedded AWS endpoint (0: any free port)",
    )
    parser.add_argument("--no-demo", action="store_true", help="start with empty tables")
    args = parser.parse_args(argv)
    # Readable lines, with e-mails, tokens and secrets redacted as in AWS.
    logging.basicConfig(level=logging.INFO, handlers=[local_log_handler()])
    for noisy in ("botocore", "werkzeug", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    # Ctrl-C or SIGTERM during the start abandons it.
    signal.signal(signal.SIGTERM, _interrupt)
    stack = bind_stack(args.port)
    stack.serve_in_background()
    print(f"starting: http://127.0.0.1:{stack.port} (503 until ready)", flush=True)
    try:
        stack.start(args.aws_port, demo=not args.no_demo)
    except KeyboardInterrupt:
        stack.stop()
        print("crowdact local stack stopped before it was ready", flush=True)
        return 130
    except Exception:
        logger.exception("the local stack could not start")
        stack.stop()
        return 1
    logger.info("%s; %d stream records delivered", stack.timings.line(), stack.demo_records)

    # A flag, not an Event: a handler that set an Event the main thread is waiting on could
    # wait on that Event's own lock, held by the very thread it interrupted.
    stopping: list[int] = []

    def _stop(signum: int, frame: FrameType | None) -> None:
        stopping.append(signum)

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    print(_banner(stack, demo=not args.no_demo), flush=True)
    print(f"ready: http://127.0.0.1:{stack.port}", flush=True)
    while stack.serving and not stopping:
        time.sleep(SIGNAL_POLL_SECONDS)
    stack.stop()
    print("crowdact local stack stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
