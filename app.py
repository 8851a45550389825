"""crowdact's Lambda entry points: the HTTP API, the stream triggers and the schedule (wiring only).

Importing this module registers every route and trigger but loads no application code: each
route's module is imported by its first request (see `chalicelib.api.routes`), and each
trigger imports its handler when first invoked. Chalice deploys the API and each trigger as
separate Lambda functions, so none of them pays for code only another one runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from chalice.app import Chalice, CloudWatchEvent, DynamoDBEvent, Rate, Response

from chalicelib.api.problems import shape_chalice_errors
from chalicelib.api.routes import ROUTES, Route, cors_config

app = Chalice(app_name="crowdact")
app.api.cors = False
# The sponsor's report as a PDF (application/zip is already one of Chalice's binary types);
# API Gateway gets the list as its binaryMediaTypes.
app.api.binary_types.append("application/pdf")
app.register_middleware(shape_chalice_errors, "http")


def _view(route: Route) -> Callable[..., Response]:
    def view(**path_params: str) -> Response:
        request, context = app.current_request, app.lambda_context
        response: Response = route.handler()(request, context, **path_params)
        return response

    view.__name__ = view.__qualname__ = route.name
    return view


# Read when the app is imported: by Lambda at cold start, and by `chalice package`, which
# writes the same value into the CORS preflight API Gateway answers itself.
_CORS = cors_config(os.environ)
for _route in ROUTES:
    app.route(
        _route.path,
        methods=[_route.method],
        cors=(_CORS or False) if _route.cors else False,
        name=_route.name,
    )(_view(_route))

# Chalice needs literal ARNs when it packages the app; the infrastructure (infra/triggers.py)
# sets the real ones, and finds each trigger's table in the placeholder: keep its format.
_PLACEHOLDER_ARN = "arn:aws:dynamodb:eu-west-3:000000000000:table/{name}/stream/local"
COUNTERS_STREAM_ARN = os.environ.get(
    "CROWDACT_COUNTERS_STREAM_ARN", _PLACEHOLDER_ARN.format(name="counters")
)
EVENTS_STREAM_ARN = os.environ.get(
    "CROWDACT_EVENTS_STREAM_ARN", _PLACEHOLDER_ARN.format(name="challenge_events")
)
PLEDGES_STREAM_ARN = os.environ.get(
    "CROWDACT_PLEDGES_STREAM_ARN", _PLACEHOLDER_ARN.format(name="pledges")
)


@app.on_dynamodb_record(
    stream_arn=COUNTERS_STREAM_ARN,
    batch_size=100,
    starting_position="TRIM_HORIZON",
    maximum_batching_window_in_seconds=0,
)
def aggregate_progress(event: DynamoDBEvent) -> dict[str, Any]:
    from chalicelib.streams import aggregate_progress as handle
    from chalicelib.wiring import get_container

    return handle(event.to_dict(), event.context, get_container())


# One record per invocation: a participant e-mail chunk sends up to
# CROWDACT_PARTICIPANT_EMAIL_CHUNK e-mails, and a batch of chunks would add theirs up
# beyond the 30 s timeout (all of a challenge's chunks share its key, so one shard).
@app.on_dynamodb_record(
    stream_arn=EVENTS_STREAM_ARN,
    batch_size=1,
    starting_position="TRIM_HORIZON",
)
def notify_milestones(event: DynamoDBEvent) -> dict[str, Any]:
    from chalicelib.streams import notify_milestones as handle
    from chalicelib.wiring import get_container

    return handle(event.to_dict(), event.context, get_container())


@app.on_dynamodb_record(
    stream_arn=PLEDGES_STREAM_ARN,
    batch_size=100,
    starting_position="TRIM_HORIZON",
)
def track_campaigns(event: DynamoDBEvent) -> dict[str, Any]:
    from chalicelib.streams import track_campaigns as handle
    from chalicelib.wiring import get_container

    return handle(event.to_dict(), event.context, get_container())


@app.schedule(Rate(1, unit=Rate.MINUTES))
def end_due_challenges(event: CloudWatchEvent) -> dict[str, Any]:
    from chalicelib.schedules import end_due_challenges as handle
    from chalicelib.wiring import get_container

    return handle(event.to_dict(), event.context, get_container())


# Counts pledges from the same stream: the challenge's participants on its counter shards,
# per area and per hour, so the pledge path writes the pledge alone. Big batches make few
# writes: a burst of pledges is one counter, area and hour write per batch. No batching
# window: a pledge is counted within the contract's 2 s (this trigger, then the aggregator).
@app.on_dynamodb_record(
    stream_arn=PLEDGES_STREAM_ARN,
    batch_size=1000,
    starting_position="TRIM_HORIZON",
)
def count_areas(event: DynamoDBEvent) -> dict[str, Any]:
    from chalicelib.streams import count_areas as handle
    from chalicelib.wiring import get_container

    return handle(event.to_dict(), event.context, get_container())


# Keeps the teams' leaderboards from the same stream: the pledge path writes nothing for
# teams. A person's records come in order (one partition key, one shard), which a
# withdrawal's attribution relies on.
@app.on_dynamodb_record(
    stream_arn=PLEDGES_STREAM_ARN,
    batch_size=100,
    starting_position="TRIM_HORIZON",
    maximum_batching_window_in_seconds=1,
)
def count_teams(event: DynamoDBEvent) -> dict[str, Any]:
    from chalicelib.streams import count_teams as handle
    from chalicelib.wiring import get_container

    return handle(event.to_dict(), event.context, get_container())
