"""`python -m tests.e2e.first_requests`: what the first requests of a ready stack still load.

Run in a process of its own by `test_warm_start.py`. It starts the local stack with empty
tables in this process, then sends one request of every route of the route table (and a few
answered with an error), pledges until a challenge is reached so that every stream trigger
runs, e-mails included, and prints one JSON line: the modules that all of this imported
after ready, the routes it could not exercise, and how the stack's own AWS calls travelled.
"""

from __future__ import annotations

import http.client
import json
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from chalicelib.api.routes import ROUTES
from chalicelib.domain.follows import FollowKind, FollowTarget, sign_unsubscribe
from chalicelib.local.stack import LocalStack, bind_stack
from chalicelib.local.tokens import mint_local_token
from chalicelib.settings import LOCAL_JWT_SECRET_DEFAULT, LOCAL_UNSUBSCRIBE_SECRET_DEFAULT

SETTLE_TIMEOUT_SECONDS = 30.0


class Client:
    def __init__(self, port: int) -> None:
        self.port = port
        self.admin = mint_local_token(LOCAL_JWT_SECRET_DEFAULT, "warm-admin", groups=["admin"])
        self.exercised: set[tuple[str, str]] = set()

    def call(
        self,
        route: tuple[str, str],
        path: str,
        *,
        token: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """One request of `route` (method, path template) to the concrete `path`."""
        method = route[0]
        sent = {**(headers or {})}
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, body=data, headers=sent)
            response = connection.getresponse()
            raw = response.read()
        finally:
            connection.close()
        self.exercised.add(route)
        try:
            return response.status, json.loads(raw) if raw else None
        except ValueError:
            return response.status, raw.decode(errors="replace")


def participant(name: str) -> str:
    return mint_local_token(LOCAL_JWT_SECRET_DEFAULT, subject(name))


def subject(name: str) -> str:
    return f"warm-{name}-{uuid.uuid4().hex[:6]}"


def exercise(client: Client) -> dict[str, int]:
    """Every route once, in an order that gives each one something to work on."""
    statuses: dict[str, int] = {}
    admin = client.admin

    def check(label: str, result: tuple[int, Any], expected: int) -> Any:
        status, body = result
        statuses[label] = status
        if status != expected:
            raise RuntimeError(f"{label}: {status} {body!r}")
        return body

    org = check("organization", client.call(("POST", "/admin/organizations"),
                "/admin/organizations", token=admin, body={"name": "Warm", "kind": "company"}),
                201)["id"]  # fmt: skip
    check("organizations", client.call(("GET", "/admin/organizations"),
          "/admin/organizations", token=admin), 200)  # fmt: skip
    organization = ("/admin/organizations/{organization_id}", f"/admin/organizations/{org}")
    check("organization profile", client.call(("PATCH", organization[0]), organization[1],
          token=admin, body={"slug": f"warm-{uuid.uuid4().hex[:6]}"}), 200)  # fmt: skip
    slug = check("organization get", client.call(("GET", organization[0]), organization[1],
                 token=admin), 200)["slug"]  # fmt: skip
    check("space", client.call(("GET", "/organizations/{slug}"), f"/organizations/{slug}"), 200)
    campaign = check("campaign", client.call(("POST", "/admin/campaigns"), "/admin/campaigns",
                     token=admin, body={"title": "Warm week", "organization_id": org}),
                     201)["id"]  # fmt: skip
    team = teams(client, check, org)
    draft = {
        "title": "Warm", "action": "I cycle", "campaign_id": campaign, "organization_id": org,
        "target": {"metric": "participants", "value": 2, "unit": "km"},
        "sponsor": {"name": "S", "email": "sponsor@warm.example"},
        "beneficiary": {"name": "B", "email": "beneficiary@warm.example"},
        "reward": "€1",
    }  # fmt: skip
    admin_challenges = ("POST", "/admin/challenges")
    check("invalid challenge", client.call(admin_challenges, "/admin/challenges", token=admin,
          body=b"{"), 400)  # fmt: skip
    cid = check("challenge", client.call(admin_challenges, "/admin/challenges", token=admin,
                body=draft), 201)["id"]  # fmt: skip
    one = ("/admin/challenges/{challenge_id}", f"/admin/challenges/{cid}")
    check("patch", client.call(("PATCH", one[0]), one[1], token=admin,
          body={"title": "Warm up"}), 200)  # fmt: skip
    check("publish", client.call(("POST", one[0] + "/publish"), one[1] + "/publish",
          token=admin), 200)  # fmt: skip
    check("admin list", client.call(("GET", "/admin/challenges"), "/admin/challenges",
          token=admin), 200)  # fmt: skip
    check("admin get", client.call(("GET", one[0]), one[1], token=admin), 200)
    check("list", client.call(("GET", "/challenges"), "/challenges"), 200)
    public = ("/challenges/{challenge_id}", f"/challenges/{cid}")
    check("get", client.call(("GET", public[0]), public[1]), 200)
    pledges = ("POST", public[0] + "/pledges")
    check("anonymous pledge", client.call(pledges, public[1] + "/pledges", body={}), 401)
    lea_sub = subject("lea")
    lea, hugo = mint_local_token(LOCAL_JWT_SECRET_DEFAULT, lea_sub), participant("hugo")
    mine = ("/me/teams/{organization_id}", f"/me/teams/{org}")
    check("my team", client.call(("GET", mine[0]), mine[1], token=lea), 200)
    check("join team", client.call(("PUT", mine[0]), mine[1], token=lea,
          body={"team_id": team, "display_name": "Léa"}), 200)  # fmt: skip
    check("my teams", client.call(("GET", "/me/teams"), "/me/teams", token=lea), 200)
    check("pledge", client.call(pledges, public[1] + "/pledges", token=lea,
          body={"display_name": "Léa", "location": {"lat": 48.9, "lon": 2.3}}), 201)  # fmt: skip
    check("keyed pledge", client.call(pledges, public[1] + "/pledges", token=hugo,
          body={"location": {"postal_code": "92110", "country": "FR"}},
          headers={"Idempotency-Key": "warm-1"}), 201)  # fmt: skip
    check("report", client.call(("POST", public[0] + "/reports"), public[1] + "/reports",
          token=lea, body={"quantity": 3.5}), 201)  # fmt: skip
    areas = ("GET", public[0] + "/areas")
    check("areas", client.call(areas, public[1] + "/areas"), 200)
    check("geojson", client.call(areas, public[1] + "/areas?format=geojson"), 200)
    nearby = ("GET", public[0] + "/nearby")
    check("nearby", client.call(nearby, public[1] + "/nearby?lat=48.9&lon=2.3"), 200)
    check("nearby postal", client.call(nearby, public[1] + "/nearby?postal_code=92110&country=FR"),
          200)  # fmt: skip
    check("campaign view", client.call(("GET", "/campaigns/{campaign_id}"),
          f"/campaigns/{campaign}"), 200)  # fmt: skip
    check("my pledges", client.call(("GET", "/me/pledges"), "/me/pledges", token=lea), 200)
    check("my reports", client.call(("GET", "/me/reports"), "/me/reports", token=lea), 200)
    settle(client, one, cid)
    check("notifications", client.call(("GET", one[0] + "/notifications"),
          one[1] + "/notifications", token=admin), 200)  # fmt: skip
    leaderboards(client, check, cid, campaign, team)
    check("leave team", client.call(("DELETE", mine[0]), mine[1], token=lea), 204)
    exercise_votes(client, check, draft)
    payouts = ("/admin/challenges/{challenge_id}/payouts", f"/admin/challenges/{cid}/payouts")
    check("payout", client.call(("POST", payouts[0]), payouts[1], token=admin,
          body={"amount": "1.00", "currency": "EUR", "paid_on": time.strftime("%Y-%m-%d"),
                "to": "beneficiary"}), 201)  # fmt: skip
    check("payouts", client.call(("GET", public[0] + "/payouts"), public[1] + "/payouts"), 200)
    moderated = ("/admin/challenges/{challenge_id}/pledges/{participant_id}",
                 f"/admin/challenges/{cid}/pledges/{lea_sub}")  # fmt: skip
    check("moderated pledge", client.call(("GET", moderated[0]), moderated[1], token=admin), 200)
    check("hide name", client.call(("POST", moderated[0] + "/hide-name"),
          moderated[1] + "/hide-name", token=admin, body={"reason": "warm"}), 200)  # fmt: skip
    check("remove", client.call(("POST", moderated[0] + "/remove"), moderated[1] + "/remove",
          token=admin, body={"reason": "warm"}), 200)  # fmt: skip
    follow_and_updates(client, cid, campaign, check)
    exercise_proposals(client, check, draft)
    meetups(client, cid, check)
    check("export", client.call(("GET", "/me/export"), "/me/export", token=lea), 200)
    check("erase", client.call(("DELETE", "/me"), "/me", token=lea), 204)
    check("withdraw", client.call(("DELETE", public[0] + "/pledges/me"),
          public[1] + "/pledges/me", token=hugo), 204)  # fmt: skip
    check("export", client.call(("GET", "/me/export"), "/me/export", token=lea), 200)
    check("erase", client.call(("DELETE", "/me"), "/me", token=hugo), 204)
    report = ("GET", one[0] + "/report")
    for query, accept in (("", None), ("?format=pdf", "*/*"), ("?format=csv", "*/*")):
        check(f"report{query}", client.call(report, one[1] + "/report" + query, token=admin,
              headers={"Accept": accept} if accept else None), 200)  # fmt: skip
    week = ("/admin/campaigns/{campaign_id}", f"/admin/campaigns/{campaign}")
    check("admin campaigns", client.call(("GET", "/admin/campaigns"), "/admin/campaigns",
          token=admin), 200)  # fmt: skip
    check("admin campaign", client.call(("GET", week[0]), week[1], token=admin), 200)
    check("campaign report", client.call(("GET", week[0] + "/report"),
          week[1] + "/report?format=pdf", token=admin, headers={"Accept": "application/pdf"}),
          200)  # fmt: skip
    check("close", client.call(("POST", one[0] + "/close"), one[1] + "/close", token=admin), 200)
    audit = check("audit", client.call(("GET", "/admin/audit"), "/admin/audit?limit=100",
                  token=admin), 200)  # fmt: skip
    if "challenge.close" not in {entry["action"] for entry in audit["items"]}:
        raise RuntimeError(f"audit: the admin writes are not in the trail: {audit!r}")
    check("unknown route", client.call(("GET", "/nowhere"), "/nowhere"), 404)
    check("health", client.call(("GET", "/health"), "/health"), 200)
    check("openapi", client.call(("GET", "/openapi.json"), "/openapi.json"), 200)
    return statuses


def teams(client: Client, check: Callable[[str, tuple[int, Any], int], Any], org: str) -> str:
    """Two teams of the organisation and their list; the first one's id."""
    route = ("/admin/organizations/{organization_id}/teams", f"/admin/organizations/{org}/teams")
    first = check("team", client.call(("POST", route[0]), route[1], token=client.admin,
                  body={"name": "Warm Lyon"}), 201)["id"]  # fmt: skip
    check("team again", client.call(("POST", route[0]), route[1], token=client.admin,
          body={"name": "Warm Paris"}), 201)  # fmt: skip
    check("teams", client.call(("GET", route[0]), route[1], token=client.admin), 200)
    return str(first)


def leaderboards(
    client: Client, check: Callable[[str, tuple[int, Any], int], Any], cid: str, campaign: str,
    team: str,
) -> None:  # fmt: skip
    """Until the pledges stream has counted Léa's pledge for her team; the campaign's too."""
    board = ("GET", "/challenges/{challenge_id}/leaderboard")

    def counted() -> bool:
        _, body = client.call(board, f"/challenges/{cid}/leaderboard")
        return any(t["team_id"] == team and t["participants"] == 1 for t in body["teams"])

    wait_for(counted, f"the leaderboard of {cid}")
    check("leaderboard", client.call(board, f"/challenges/{cid}/leaderboard?by=quantity"), 200)
    check("campaign leaderboard", client.call(("GET", "/campaigns/{campaign_id}/leaderboard"),
          f"/campaigns/{campaign}/leaderboard"), 200)  # fmt: skip


def exercise_votes(client: Client, check: Callable[..., Any], draft: dict[str, Any]) -> None:
    """A beneficiary vote: cast, read, tallied, and closed by reaching the target."""
    candidates = [{"id": f"c{n}", "name": f"C{n}", "email": f"c{n}@warm.example"} for n in (1, 2)]
    body = {k: v for k, v in draft.items() if k not in ("beneficiary", "campaign_id")}
    body.update(beneficiary_choice={"candidates": candidates}, publish=True,
                target={"metric": "participants", "value": 1})  # fmt: skip
    vid = check("vote challenge", client.call(("POST", "/admin/challenges"), "/admin/challenges",
                token=client.admin, body=body), 201)["id"]  # fmt: skip
    voter = participant("voter")
    route = "/challenges/{challenge_id}"
    check("vote pledge", client.call(("POST", route + "/pledges"), f"/challenges/{vid}/pledges",
          token=voter), 201)  # fmt: skip
    check("vote", client.call(("PUT", route + "/vote"), f"/challenges/{vid}/vote", token=voter,
          body={"candidate_id": "c2"}), 200)  # fmt: skip
    check("my vote", client.call(("GET", route + "/vote"), f"/challenges/{vid}/vote",
          token=voter), 200)  # fmt: skip

    def closed() -> bool:
        _, tallies = client.call(("GET", route + "/votes"), f"/challenges/{vid}/votes")
        return bool(tallies["status"] == "closed" and tallies["winner_id"] == "c2")

    wait_for(closed, f"the vote of {vid}")


def follow_and_updates(
    client: Client, cid: str, campaign: str, check: Callable[[str, tuple[int, Any], int], Any]
) -> None:
    """Follow, post an update, until its e-mail is sent; the feed, unsubscribe, unfollow."""
    zoe_sub = subject("zoe")
    zoe = mint_local_token(
        LOCAL_JWT_SECRET_DEFAULT, zoe_sub, email="zoe@warm.example", email_verified=True
    )
    follow = ("/challenges/{challenge_id}/follow", f"/challenges/{cid}/follow")
    campaign_follow = ("/campaigns/{campaign_id}/follow", f"/campaigns/{campaign}/follow")
    check("follow", client.call(("PUT", follow[0]), follow[1], token=zoe), 200)
    check("follow campaign", client.call(("PUT", campaign_follow[0]), campaign_follow[1],
          token=zoe), 200)  # fmt: skip
    check("follows", client.call(("GET", "/me/follows"), "/me/follows", token=zoe), 200)
    updates = ("/challenges/{challenge_id}/updates", f"/challenges/{cid}/updates")
    check("post update", client.call(("POST", "/admin" + updates[0]), "/admin" + updates[1],
          token=client.admin, body={"title": "Warm news", "body": "Hot", "locale": "en"}),
          201)  # fmt: skip
    check("updates", client.call(("GET", updates[0]), updates[1]), 200)
    check("feed", client.call(("GET", "/me/feed"), "/me/feed", token=zoe), 200)

    def mailed() -> bool:
        _, body = client.call(("GET", "/me/export"), "/me/export", token=zoe)
        return [e["status"] for e in body["update_emails"]] == ["sent"]

    wait_for(mailed, "the update's e-mail")
    target = FollowTarget(FollowKind.CHALLENGE, cid)
    token = sign_unsubscribe(LOCAL_UNSUBSCRIBE_SECRET_DEFAULT.encode(), zoe_sub, target)
    link = f"/unsubscribe?token={token}"
    check("unsubscribe link", client.call(("GET", "/unsubscribe"), link), 200)
    check("unsubscribe", client.call(("POST", "/unsubscribe"), link), 200)
    check("unfollow", client.call(("DELETE", follow[0]), follow[1], token=zoe), 204)
    check("unfollow campaign", client.call(("DELETE", campaign_follow[0]), campaign_follow[1],
          token=zoe), 204)  # fmt: skip
    check("stop follow", client.call(("DELETE", "/me/follows/{kind}/{target_id}"),
          f"/me/follows/campaigns/{campaign}", token=zoe), 204)  # fmt: skip


def exercise_proposals(
    client: Client, check: Callable[[str, tuple[int, Any], int], Any], draft: dict[str, Any]
) -> None:
    """Propose, reject one and approve another, support, adopt, publish: until the proposer's
    e-mails (approved, then live) are sent."""
    ada = mint_local_token(
        LOCAL_JWT_SECRET_DEFAULT, subject("ada"), email="ada@warm.example", email_verified=True
    )
    body = {"title": "Warm café", "action": "I repair", "location": {"lat": 48.9, "lon": 2.3},
            "suggested_target": {"metric": "participants", "value": 5}}  # fmt: skip
    proposals = ("POST", "/proposals")
    pid = check("propose", client.call(proposals, "/proposals", token=ada, body=body), 201)["id"]
    rid = check("propose again", client.call(proposals, "/proposals", token=ada, body=body),
                201)["id"]  # fmt: skip
    admin = "/admin/proposals/{proposal_id}"
    check("admin proposals", client.call(("GET", "/admin/proposals"), "/admin/proposals",
          token=client.admin), 200)  # fmt: skip
    check("reject", client.call(("POST", admin + "/reject"), f"/admin/proposals/{rid}/reject",
          token=client.admin, body={"reason": "twice"}), 200)  # fmt: skip
    check("approve", client.call(("POST", admin + "/approve"), f"/admin/proposals/{pid}/approve",
          token=client.admin, body={}), 200)  # fmt: skip
    check("proposals", client.call(("GET", "/proposals"), "/proposals?status=open"), 200)
    check("proposals near", client.call(("GET", "/proposals"), "/proposals?near=48.9,2.3"), 200)
    check("proposal", client.call(("GET", "/proposals/{proposal_id}"), f"/proposals/{pid}"), 200)
    starts = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() + 86_400))
    meetup = {"title": "Warm proposal café", "starts_at": starts, "place": "Here", "capacity": 5}
    check("proposal event", client.call(("POST", admin + "/events"),
          f"/admin/proposals/{pid}/events", token=client.admin, body=meetup), 201)  # fmt: skip
    check("proposal events", client.call(("GET", "/proposals/{proposal_id}/events"),
          f"/proposals/{pid}/events"), 200)  # fmt: skip
    support = ("/proposals/{proposal_id}/support", f"/proposals/{pid}/support")
    bob = participant("bob")
    check("support", client.call(("PUT", support[0]), support[1], token=bob), 200)
    check("unsupport", client.call(("DELETE", support[0]), support[1], token=bob), 200)
    check("support again", client.call(("PUT", support[0]), support[1], token=bob), 200)
    adoption = {k: draft[k] for k in ("sponsor", "beneficiary", "reward")}
    adopted = check("adopt", client.call(("POST", admin + "/adopt"),
                    f"/admin/proposals/{pid}/adopt", token=client.admin, body=adoption),
                    201)  # fmt: skip
    challenge = adopted["challenge"]["id"]
    check("publish adopted", client.call(("POST", "/admin/challenges/{challenge_id}/publish"),
          f"/admin/challenges/{challenge}/publish", token=client.admin), 200)  # fmt: skip

    def told() -> bool:
        _, document = client.call(("GET", "/me/export"), "/me/export", token=ada)
        return [e["status"] for e in document["proposal_emails"]].count("sent") == 3

    wait_for(told, "the proposal e-mails")  # rejected, approved, then live


def meetups(client: Client, cid: str, check: Callable[[str, tuple[int, Any], int], Any]) -> None:
    """Create a meetup, change its capacity, sign up (a seat, then the waitlist), read, list,
    the calendar file, cancel (a promotion, e-mailed)."""
    starts = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() + 86_400))
    event = check("event", client.call(("POST", "/admin/challenges/{challenge_id}/events"),
                  f"/admin/challenges/{cid}/events", token=client.admin,
                  body={"title": "Warm café", "starts_at": starts, "place": "Here",
                        "capacity": 2}), 201)["id"]  # fmt: skip
    check("capacity", client.call(("PATCH", "/admin/events/{event_id}"), f"/admin/events/{event}",
          token=client.admin, body={"capacity": 1}), 200)  # fmt: skip
    rsvp = ("/events/{event_id}/rsvp", f"/events/{event}/rsvp")
    ana, ben = (
        mint_local_token(LOCAL_JWT_SECRET_DEFAULT, subject(name), email=f"{name}@warm.example",
                         email_verified=True)
        for name in ("ana", "ben")
    )  # fmt: skip
    check("rsvp", client.call(("PUT", rsvp[0]), rsvp[1], token=ana), 200)
    check("rsvp waitlisted", client.call(("PUT", rsvp[0]), rsvp[1], token=ben), 200)
    check("my rsvp", client.call(("GET", rsvp[0]), rsvp[1], token=ben), 200)
    check("event get", client.call(("GET", "/events/{event_id}"), f"/events/{event}"), 200)
    check("events", client.call(("GET", "/challenges/{challenge_id}/events"),
          f"/challenges/{cid}/events"), 200)  # fmt: skip
    check("calendar", client.call(("GET", "/events/{event_id}/calendar.ics"),
          f"/events/{event}/calendar.ics"), 200)  # fmt: skip
    check("cancel rsvp", client.call(("DELETE", rsvp[0]), rsvp[1], token=ana), 204)

    def promoted() -> bool:
        _, body = client.call(("GET", rsvp[0]), rsvp[1], token=ben)
        return bool(body["status"] == "confirmed")

    wait_for(promoted, "the promotion")


def settle(client: Client, route: tuple[str, str], challenge_id: str) -> None:
    """Until the stream triggers have counted, reached and e-mailed (sponsor, beneficiary)."""

    def sent() -> bool:
        _, body = client.call(("GET", route[0] + "/notifications"), route[1] + "/notifications",
                              token=client.admin)  # fmt: skip
        statuses: list[str] = [item["status"] for item in body["items"]]
        return statuses.count("sent") >= 2

    wait_for(sent, f"the e-mails of {challenge_id}")


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not done within {SETTLE_TIMEOUT_SECONDS:.0f} s")
        time.sleep(0.05)


def main() -> int:
    stack: LocalStack = bind_stack(0)
    stack.serve_in_background()
    stack.start(0, demo=False)
    try:
        client = Client(stack.port)
        before = set(sys.modules)
        statuses = exercise(client)
        loaded = sorted(set(sys.modules) - before)
        every = {(route.method, route.path) for route in ROUTES}
        assert stack.aws is not None
        assert stack.transport is not None
        print(json.dumps({
            "loaded_after_ready": loaded,
            "routes_not_exercised": sorted(map(list, every - client.exercised)),
            "statuses": statuses,
            "aws_calls_over_http": stack.aws.http_requests,
            "aws_calls_in_process": stack.transport.answered,
            "aws_calls_passed_on": stack.transport.passed_on,
        }))  # fmt: skip
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
