"""crowdact's Lambda entry points: the HTTP API and the stream triggers (wiring only)."""

from __future__ import annotations

import os
from typing import Any

from chalice.app import Chalice, DynamoDBEvent

from chalicelib.api.admin import admin
from chalicelib.api.participant import participant
from chalicelib.api.problems import shape_chalice_errors
from chalicelib.api.public import public
from chalicelib.wiring import get_container

app = Chalice(app_name="crowdact")
app.api.cors = False
app.register_middleware(shape_chalice_errors, "http")
app.register_blueprint(public)
app.register_blueprint(participant)
app.register_blueprint(admin)

# Chalice needs literal ARNs when it packages the app; the infrastructure sets the real ones.
_PLACEHOLDER_ARN = "arn:aws:dynamodb:eu-west-3:000000000000:table/{name}/stream/local"
COUNTERS_STREAM_ARN = os.environ.get(
    "CROWDACT_COUNTERS_STREAM_ARN", _PLACEHOLDER_ARN.format(name="counters")
)
EVENTS_STREAM_ARN = os.environ.get(
    "CROWDACT_EVENTS_STREAM_ARN", _PLACEHOLDER_ARN.format(name="challenge_events")
)


@app.on_dynamodb_record(
    stream_arn=COUNTERS_STREAM_ARN,
    batch_size=100,
    starting_position="TRIM_HORIZON",
    maximum_batching_window_in_seconds=0,
)
def aggregate_progress(event: DynamoDBEvent) -> dict[str, Any]:
    from chalicelib.streams import aggregate_progress as handle

    return handle(event.to_dict(), event.context, get_container())


@app.on_dynamodb_record(
    stream_arn=EVENTS_STREAM_ARN,
    batch_size=10,
    starting_position="TRIM_HORIZON",
)
def notify_milestones(event: DynamoDBEvent) -> dict[str, Any]:
    from chalicelib.streams import notify_milestones as handle

    return handle(event.to_dict(), event.context, get_container())
