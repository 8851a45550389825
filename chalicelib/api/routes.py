"""The route table: which module serves each path and method, importable without loading it.

`app.py` registers every route from this table at import time, but a route's module (and so
pydantic, PynamoDB, PyJWT, Powertools) is imported only when a request first reaches it. A
Lambda container therefore loads what its own requests need: the stream triggers never load
the HTTP layer, and `/health` loads nothing heavy. `tests/unit/test_routes.py` checks that
this table and the `@endpoint` declarations in the modules agree exactly.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from chalice.app import CORSConfig

PUBLIC = "chalicelib.api.public"
PARTICIPANT = "chalicelib.api.participant"
ADMIN = "chalicelib.api.admin"
ADMIN_REPORTS = "chalicelib.api.admin_reports"  # loads reportlab only for its own requests
VOTES = "chalicelib.api.votes"
PAYOUTS = "chalicelib.api.payouts"
FOLLOWS = "chalicelib.api.follows"
PROPOSALS = "chalicelib.api.proposals"
EVENTS = "chalicelib.api.events"
TEAMS = "chalicelib.api.teams"
MODULES = (
    PUBLIC,
    PARTICIPANT,
    ADMIN,
    ADMIN_REPORTS,
    VOTES,
    PAYOUTS,
    FOLLOWS,
    PROPOSALS,
    EVENTS,
    TEAMS,
)

# What a route's module registers for it: called with Chalice's current request, the Lambda
# context and the path parameters.
Handler = Callable[..., Any]


@dataclass(frozen=True)
class Route:
    path: str
    method: str
    module: str

    @property
    def cors(self) -> bool:
        # Browsers call the public and participant API; the admin API is not offered to them.
        return not self.is_admin

    @property
    def is_admin(self) -> bool:
        return self.path.startswith("/admin/")

    @property
    def name(self) -> str:
        """A unique view name, as Chalice wants one per route."""
        words = [w.strip("{}") for w in self.path.split("/") if w]
        return "_".join([self.method.lower(), *words]).replace(".", "_").replace("-", "_")

    def handler(self) -> Handler:
        importlib.import_module(self.module)
        from chalicelib.api.routing import HANDLERS

        return HANDLERS[(self.method, self.path)]


# The browser origin the deployed API answers CORS for (the web client's CloudFront URL, set
# by infra/stack.py); only the local stage falls back to any origin.
ALLOWED_ORIGIN_VARIABLE = "CROWDACT_ALLOWED_ORIGIN"
# Beyond Chalice's defaults (Authorization, Content-Type, ...): what a browser client sends and
# must be able to read.
CORS_REQUEST_HEADERS = ("Idempotency-Key",)
CORS_RESPONSE_HEADERS = ("Retry-After",)


def cors_config(env: Mapping[str, str]) -> CORSConfig | None:
    """The CORS answer of the browser routes, or None (no CORS) when a deployed stage
    names no origin: failing closed rather than answering every origin."""
    origin = env.get(ALLOWED_ORIGIN_VARIABLE) or (
        "*" if env.get("CROWDACT_STAGE", "local") == "local" else None
    )
    if origin is None:
        return None
    return CORSConfig(
        allow_origin=origin,
        allow_headers=list(CORS_REQUEST_HEADERS),
        expose_headers=list(CORS_RESPONSE_HEADERS),
    )


ROUTES: tuple[Route, ...] = (
    Route("/health", "GET", PUBLIC),
    Route("/openapi.json", "GET", PUBLIC),
    Route("/challenges", "GET", PUBLIC),
    Route("/challenges/{challenge_id}", "GET", PUBLIC),
    Route("/challenges/{challenge_id}/areas", "GET", PUBLIC),
    Route("/challenges/{challenge_id}/nearby", "GET", PUBLIC),
    Route("/challenges/{challenge_id}/pledges", "POST", PARTICIPANT),
    Route("/challenges/{challenge_id}/pledges/me", "DELETE", PARTICIPANT),
    Route("/campaigns/{campaign_id}", "GET", PUBLIC),
    Route("/challenges/{challenge_id}/vote", "PUT", VOTES),
    Route("/challenges/{challenge_id}/vote", "GET", VOTES),
    Route("/challenges/{challenge_id}/votes", "GET", VOTES),
    Route("/me/pledges", "GET", PARTICIPANT),
    Route("/challenges/{challenge_id}/reports", "POST", PARTICIPANT),
    Route("/me/reports", "GET", PARTICIPANT),
    Route("/me/export", "GET", PARTICIPANT),
    Route("/me", "DELETE", PARTICIPANT),
    Route("/admin/challenges", "POST", ADMIN),
    Route("/admin/challenges", "GET", ADMIN),
    Route("/admin/challenges/{challenge_id}", "GET", ADMIN),
    Route("/admin/challenges/{challenge_id}", "PATCH", ADMIN),
    Route("/admin/challenges/{challenge_id}/publish", "POST", ADMIN),
    Route("/admin/challenges/{challenge_id}/close", "POST", ADMIN),
    Route("/admin/challenges/{challenge_id}/notifications", "GET", ADMIN),
    Route("/admin/challenges/{challenge_id}/report", "GET", ADMIN_REPORTS),
    Route("/admin/challenges/{challenge_id}/pledges/{participant_id}", "GET", ADMIN),
    Route("/admin/challenges/{challenge_id}/pledges/{participant_id}/hide-name", "POST", ADMIN),
    Route("/admin/challenges/{challenge_id}/pledges/{participant_id}/remove", "POST", ADMIN),
    Route("/admin/organizations", "POST", ADMIN),
    Route("/admin/organizations", "GET", ADMIN),
    Route("/admin/organizations/{organization_id}", "GET", ADMIN),
    Route("/admin/organizations/{organization_id}", "PATCH", ADMIN),
    Route("/admin/campaigns", "POST", ADMIN),
    Route("/admin/campaigns", "GET", ADMIN),
    Route("/admin/campaigns/{campaign_id}", "GET", ADMIN),
    Route("/admin/campaigns/{campaign_id}/report", "GET", ADMIN_REPORTS),
    Route("/admin/audit", "GET", ADMIN),
    Route("/organizations/{slug}", "GET", PUBLIC),
    Route("/challenges/{challenge_id}/payouts", "GET", PAYOUTS),
    Route("/admin/challenges/{challenge_id}/payouts", "POST", PAYOUTS),
    Route("/challenges/{challenge_id}/follow", "PUT", FOLLOWS),
    Route("/challenges/{challenge_id}/follow", "DELETE", FOLLOWS),
    Route("/campaigns/{campaign_id}/follow", "PUT", FOLLOWS),
    Route("/campaigns/{campaign_id}/follow", "DELETE", FOLLOWS),
    Route("/challenges/{challenge_id}/updates", "GET", FOLLOWS),
    Route("/admin/challenges/{challenge_id}/updates", "POST", FOLLOWS),
    Route("/me/follows", "GET", FOLLOWS),
    Route("/me/follows/{kind}/{target_id}", "DELETE", FOLLOWS),
    Route("/me/feed", "GET", FOLLOWS),
    Route("/unsubscribe", "GET", FOLLOWS),
    Route("/unsubscribe", "POST", FOLLOWS),
    Route("/proposals", "POST", PROPOSALS),
    Route("/proposals", "GET", PROPOSALS),
    Route("/proposals/{proposal_id}", "GET", PROPOSALS),
    Route("/proposals/{proposal_id}/support", "PUT", PROPOSALS),
    Route("/proposals/{proposal_id}/support", "DELETE", PROPOSALS),
    Route("/admin/proposals", "GET", PROPOSALS),
    Route("/admin/proposals/{proposal_id}/approve", "POST", PROPOSALS),
    Route("/admin/proposals/{proposal_id}/reject", "POST", PROPOSALS),
    Route("/admin/proposals/{proposal_id}/adopt", "POST", PROPOSALS),
    Route("/admin/challenges/{challenge_id}/events", "POST", EVENTS),
    Route("/admin/proposals/{proposal_id}/events", "POST", EVENTS),
    Route("/admin/events/{event_id}", "PATCH", EVENTS),
    Route("/challenges/{challenge_id}/events", "GET", EVENTS),
    Route("/proposals/{proposal_id}/events", "GET", EVENTS),
    Route("/events/{event_id}", "GET", EVENTS),
    Route("/events/{event_id}/calendar.ics", "GET", EVENTS),
    Route("/events/{event_id}/rsvp", "PUT", EVENTS),
    Route("/events/{event_id}/rsvp", "GET", EVENTS),
    Route("/events/{event_id}/rsvp", "DELETE", EVENTS),
    Route("/admin/organizations/{organization_id}/teams", "POST", TEAMS),
    Route("/admin/organizations/{organization_id}/teams", "GET", TEAMS),
    Route("/me/teams", "GET", TEAMS),
    Route("/me/teams/{organization_id}", "GET", TEAMS),
    Route("/me/teams/{organization_id}", "PUT", TEAMS),
    Route("/me/teams/{organization_id}", "DELETE", TEAMS),
    Route("/challenges/{challenge_id}/leaderboard", "GET", TEAMS),
    Route("/campaigns/{campaign_id}/leaderboard", "GET", TEAMS),
)


def load_all() -> None:
    """Import every route module (for the OpenAPI document, which describes them all)."""
    for module in MODULES:
        importlib.import_module(module)
