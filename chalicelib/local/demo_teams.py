"""The demo's Humanis teams: four offices, every employee of the demo's mobility week in one
of them before the week's first pledge, and one who moved office half-way (their earlier
pledges stay with their first team). The leaderboards then show a team named by its
members, teams under 5 people without names, and the per-team table of the report."""

from __future__ import annotations

from datetime import timedelta

from chalicelib.domain.access import PLATFORM
from chalicelib.domain.model import Principal
from chalicelib.local.clock import ShiftedClock
from chalicelib.wiring import Container

# (team, description, how many of the week's employees, in order)
HUMANIS_TEAMS = (
    ("Siège (Paris)", "Malakoff head office", 7),
    ("Lyon", "Lyon Part-Dieu office", 5),
    ("Marseille", "Marseille Euroméditerranée", 3),
    ("Nantes", "Nantes Île de Nantes", 3),
)
# The names the employees chose to show on leaderboards (some chose none).
SHOWN_NAMES = (
    "Léa", "Hugo", None, "Chloé", "Karim", "Inès", "Thomas", "Sarah", None,
    "Mehdi", "Julie", "Lucas", "Emma", "Nassim", None, "Manon", "Yanis", "Camille",
)  # fmt: skip
# Employee 3 moves from the head office to Lyon half-way through the week.
MOVER, MOVED_AFTER = 3, timedelta(days=2)


def humanis_employee_id(number: int) -> str:
    """The same ids as the demo's Humanis pledgers (demo.humanis_employee)."""
    return f"demo-humanis-{number:04d}"


def create_humanis_teams(
    container: Container, clock: ShiftedClock, organization_id: str, week_started: timedelta
) -> dict[str, str]:
    """The teams and memberships, dated before the week's first pledge (and the move half-way);
    the team ids by name."""
    teams = {
        name: container.teams.create(organization_id, name, description, PLATFORM).id
        for name, description, _ in HUMANIS_TEAMS
    }
    clock.offset = week_started + timedelta(hours=1)
    number = 0
    for name, _, size in HUMANIS_TEAMS:
        for _ in range(size):
            container.teams.join(
                Principal(sub=humanis_employee_id(number), org_id=organization_id),
                organization_id,
                teams[name],
                SHOWN_NAMES[number],
            )
            number += 1
    clock.offset = week_started - MOVED_AFTER
    container.teams.join(
        Principal(sub=humanis_employee_id(MOVER), org_id=organization_id),
        organization_id,
        teams["Lyon"],
        SHOWN_NAMES[MOVER],
    )
    return teams
