"""Beneficiary vote bodies: the candidates a challenge is created with, a participant's vote,
and the tallies."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    UrlConstraints,
    field_validator,
)

from chalicelib.api.schemas.common import Instant, Text, Timestamp, _Body
from chalicelib.domain.votes import (
    CANDIDATE_ID_PATTERN,
    MAX_CANDIDATES,
    MIN_CANDIDATES,
    BeneficiaryChoice,
    Candidate,
    Vote,
    VoteTallies,
)

CandidateId = Annotated[str, StringConstraints(pattern=CANDIDATE_ID_PATTERN)]
HttpsUrl = Annotated[AnyHttpUrl, UrlConstraints(max_length=2048, allowed_schemes=["https"])]


class CandidateIn(_Body):
    id: CandidateId = Field(description="Lower-case letters, digits, - and _; unique in the vote.")
    name: Annotated[Text, StringConstraints(max_length=120)]
    email: EmailStr
    description: Annotated[str, StringConstraints(max_length=1000)] = ""
    url: (
        Annotated[AnyHttpUrl, UrlConstraints(max_length=2048, allowed_schemes=["https"])] | None
    ) = None

    def to_domain(self) -> Candidate:
        return Candidate(
            id=self.id,
            name=self.name,
            email=str(self.email),
            description=self.description,
            url=str(self.url) if self.url else None,
        )


class BeneficiaryChoiceIn(_Body):
    """Instead of one `beneficiary`: the participants choose among these candidates."""

    candidates: list[CandidateIn] = Field(min_length=MIN_CANDIDATES, max_length=MAX_CANDIDATES)
    closes_at: Instant | None = Field(
        default=None,
        description="When the vote closes at the latest; it also closes when the challenge "
        "reaches its target or ends.",
    )

    @field_validator("candidates")
    @classmethod
    def _unique_ids(cls, candidates: list[CandidateIn]) -> list[CandidateIn]:
        ids = [candidate.id for candidate in candidates]
        if len(set(ids)) != len(ids):
            raise ValueError("candidate ids must be unique")
        return candidates

    def to_domain(self) -> BeneficiaryChoice:
        return BeneficiaryChoice(
            candidates=tuple(c.to_domain() for c in self.candidates), closes_at=self.closes_at
        )


class VoteIn(_Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"candidate_id": "solicycle"}]})

    candidate_id: CandidateId


# --- responses ---------------------------------------------------------------------------------


class CandidateOut(BaseModel):
    id: str
    name: str
    description: str
    url: str | None


class AdminCandidateOut(CandidateOut):
    email: str


class BeneficiaryChoiceOut(BaseModel):
    status: Literal["open", "closed"]
    candidates: list[CandidateOut]
    closes_at: Timestamp | None
    closed_at: Timestamp | None
    winner_id: str | None

    @classmethod
    def from_choice(cls, choice: BeneficiaryChoice) -> BeneficiaryChoiceOut:
        return cls(
            status="closed" if choice.closed else "open",
            candidates=[
                CandidateOut(id=c.id, name=c.name, description=c.description, url=c.url)
                for c in choice.candidates
            ],
            closes_at=choice.closes_at,
            closed_at=choice.closed_at,
            winner_id=choice.winner_id,
        )


class AdminBeneficiaryChoiceOut(BeneficiaryChoiceOut):
    candidates: list[AdminCandidateOut]  # type: ignore[assignment]

    @classmethod
    def from_choice(cls, choice: BeneficiaryChoice) -> AdminBeneficiaryChoiceOut:
        public = BeneficiaryChoiceOut.from_choice(choice).model_dump()
        public["candidates"] = [
            AdminCandidateOut(
                id=c.id, name=c.name, description=c.description, url=c.url, email=c.email
            )
            for c in choice.candidates
        ]
        return cls(**public)


class VoteOut(BaseModel):
    challenge_id: str
    candidate_id: str
    cast_at: Timestamp

    @classmethod
    def from_vote(cls, vote: Vote) -> VoteOut:
        return cls(
            challenge_id=vote.challenge_id, candidate_id=vote.candidate_id, cast_at=vote.cast_at
        )


class CandidateTally(BaseModel):
    id: str
    name: str
    votes: int


class VoteTalliesOut(BaseModel):
    challenge_id: str
    status: Literal["open", "closed"]
    closes_at: Timestamp | None
    closed_at: Timestamp | None
    winner_id: str | None
    total: int
    candidates: list[CandidateTally] = Field(
        description="In the order the challenge lists them (ties go to the first listed)."
    )

    @classmethod
    def from_tallies(cls, tallies: VoteTallies) -> VoteTalliesOut:
        choice = tallies.choice
        return cls(
            challenge_id=tallies.challenge_id,
            status="closed" if choice.closed else "open",
            closes_at=choice.closes_at,
            closed_at=choice.closed_at,
            winner_id=choice.winner_id,
            total=tallies.total,
            candidates=[
                CandidateTally(id=c.id, name=c.name, votes=int(tallies.votes.get(c.id, 0)))
                for c in choice.candidates
            ],
        )
