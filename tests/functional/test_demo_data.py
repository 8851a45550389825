"""The demo's proposals and meetup through the app: an approved proposal one support short of
the city's threshold, one pending for an admin, and a nearly full repair session."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.local.demo import (
    CLICHY_ORG,
    CLICHY_SUPPORT_THRESHOLD,
    DEMO_PROPOSALS,
    REPAIR_SESSION,
    REPAIR_SESSION_CAPACITY,
    load_demo,
)
from tests.functional.conftest import ADMIN, Api, bearer

COMPOST = next(demo.draft.title for demo in DEMO_PROPOSALS if demo.key == "compost")
SCHOOL_STREET = next(demo.draft.title for demo in DEMO_PROPOSALS if demo.key == "school-street")


def ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.body
    result: dict[str, Any] = json.loads(response.body)
    return result


def test_the_demo_holds_a_proposal_near_its_threshold_a_pending_one_and_a_nearly_full_meetup(
    api: Api,
) -> None:
    ids = load_demo(api.container)

    [compost] = ok(api.request("GET", "/proposals?status=open"))["items"]
    assert compost["title"] == COMPOST
    assert compost["organization_id"] == CLICHY_ORG
    assert (compost["supports"], compost["support_threshold"], compost["threshold_reached"]) == (
        CLICHY_SUPPORT_THRESHOLD - 1, CLICHY_SUPPORT_THRESHOLD, False,
    )  # fmt: skip
    pending = ok(api.request("GET", "/admin/proposals?status=pending", None, ADMIN))["items"]
    assert [p["title"] for p in pending] == [SCHOOL_STREET]

    [session] = ok(api.request("GET", f"/challenges/{ids['repair-cafe']}/events"))["items"]
    assert session["title"] == REPAIR_SESSION
    assert (session["capacity"], session["confirmed"], session["waitlisted"]) == (
        REPAIR_SESSION_CAPACITY, REPAIR_SESSION_CAPACITY - 1, 0,
    )  # fmt: skip

    # A visitor's support takes the proposal over the city's threshold.
    supported = api.request("PUT", f"/proposals/{compost['id']}/support", None, bearer("visitor"))
    after = ok(supported)["proposal"]
    assert (after["supports"], after["threshold_reached"]) == (CLICHY_SUPPORT_THRESHOLD, True)
