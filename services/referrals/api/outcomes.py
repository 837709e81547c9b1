"""The outcome measures and follow-ups as the API takes and shows them: UCLA-3 and WHO-5
with each item's wording in Danish, Swedish and English, so that a care system can ask them
as validated."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field

from contracts.referrals import ScoreChangePublic
from referrals.domain import (
    FollowUp,
    Outcome,
    Part,
    Participation,
    ParticipationStatus,
    Scores,
    Ucla3,
    Who5,
)
from referrals.domain.outcomes import (
    ANSWERS_UCLA3,
    ANSWERS_WHO5,
    ITEMS_UCLA3,
    ITEMS_WHO5,
    WHO5_PERIOD,
    Wording,
)
from runtime.http import JSON_INTEGER, InputModel, LongText

LANGUAGES = ("da", "sv", "en")


def _in_three_languages(text: Wording) -> str:
    return " / ".join(f"{language}: {text[language]}" for language in LANGUAGES)


def _answers(answers: dict[int, Wording]) -> str:
    return "; ".join(f"{value} = {_in_three_languages(text)}" for value, text in answers.items())


def _item(wording: Wording) -> Any:
    return Field(description=_in_three_languages(wording))


Ucla3Answer = Annotated[int, Field(ge=Ucla3.LOWEST, le=Ucla3.HIGHEST), JSON_INTEGER]
Who5Answer = Annotated[int, Field(ge=Who5.LOWEST, le=Who5.HIGHEST), JSON_INTEGER]


class Ucla3Create(InputModel):
    model_config = ConfigDict(
        json_schema_extra={
            "description": "The UCLA 3-item loneliness scale (Hughes et al. 2004): all three "
            f"items, each answered {_answers(ANSWERS_UCLA3)}. The total (3 to 9) is higher the "
            "lonelier."
        }
    )

    lack_companionship: Ucla3Answer = _item(ITEMS_UCLA3["lack_companionship"])
    left_out: Ucla3Answer = _item(ITEMS_UCLA3["left_out"])
    isolated: Ucla3Answer = _item(ITEMS_UCLA3["isolated"])


class Who5Create(InputModel):
    model_config = ConfigDict(
        json_schema_extra={
            "description": "The WHO-5 well-being index (Psychiatric Research Unit, Hillerød): "
            f"all five items, {_in_three_languages(WHO5_PERIOD)}, each answered "
            f"{_answers(ANSWERS_WHO5)}. The raw total times 4 is the index (0 to 100), higher "
            "the better."
        }
    )

    cheerful: Who5Answer = _item(ITEMS_WHO5["cheerful"])
    calm: Who5Answer = _item(ITEMS_WHO5["calm"])
    active: Who5Answer = _item(ITEMS_WHO5["active"])
    rested: Who5Answer = _item(ITEMS_WHO5["rested"])
    interested: Who5Answer = _item(ITEMS_WHO5["interested"])


class ScoresCreate(InputModel):
    """The citizen's answers: either instrument, both, or neither (the citizen was asked
    and did not want to answer). An instrument is answered whole: every item, each in range.
    Recorded only when the citizen consented to follow-up questions."""

    ucla3: Ucla3Create | None = None
    who5: Who5Create | None = None

    def scores(self) -> Scores:
        return Scores(
            ucla3=Ucla3(**self.ucla3.model_dump()) if self.ucla3 else None,
            who5=Who5(**self.who5.model_dump()) if self.who5 else None,
        )


class ParticipationCreate(InputModel):
    """The partner's report at a follow-up."""

    status: ParticipationStatus = Field(
        description="`taking_part`: the citizen still takes part; `paused`: on a break and "
        "expected back (ill, away); `stopped`."
    )
    times_last_month: Annotated[int, Field(ge=0, le=Participation.MOST_TIMES), JSON_INTEGER] = (
        Field(description="How many times the citizen came in the last month.")
    )
    note: LongText | None = Field(
        default=None, description="In words, if useful; stays in referrals."
    )

    def participation(self) -> Participation:
        return Participation(self.status, self.times_last_month, self.note)


class Ucla3Public(BaseModel):
    lack_companionship: int
    left_out: int
    isolated: int
    total: int = Field(description="3 to 9, higher the lonelier.")


class Who5Public(BaseModel):
    cheerful: int
    calm: int
    active: int
    rested: int
    interested: int
    index: int = Field(description="The raw total times 4: 0 to 100, higher the better.")


class ScoresPublic(BaseModel):
    ucla3: Ucla3Public | None
    who5: Who5Public | None

    @classmethod
    def of(cls, scores: Scores) -> ScoresPublic:
        return cls(
            ucla3=Ucla3Public(**vars(scores.ucla3), total=scores.ucla3.total)
            if scores.ucla3
            else None,
            who5=Who5Public(**vars(scores.who5), index=scores.who5.index) if scores.who5 else None,
        )


class ParticipationPublic(BaseModel):
    status: ParticipationStatus
    times_last_month: int
    note: str | None


class PartnerFollowUpPublic(BaseModel):
    """A follow-up as the accepting organisation sees it: its own report, never the
    citizen's answers."""

    number: int = Field(description="1 for the first, counted from the first meeting.")
    due_at: datetime = Field(description="When it falls (or fell) due.")
    fell_due_at: datetime | None = Field(description="When it was announced as due.")
    participation: ParticipationPublic | None = Field(
        description="The partner's report, once given."
    )
    participation_recorded_at: datetime | None
    reminded_at: datetime | None = Field(description="When those it waited for were reminded.")

    @classmethod
    def of(cls, follow_up: FollowUp) -> Self:
        return cls(**_follow_up_fields(follow_up, follow_up.participation))


class FollowUpPublic(PartnerFollowUpPublic):
    """A follow-up after the first meeting and the answers to it."""

    participation: ParticipationPublic | None = Field(
        description="The partner's report, once given; for a care system, only if the "
        "citizen consented to share how the referral went."
    )
    wellbeing: ScoresPublic | None = Field(
        description="The citizen's answers as the care system recorded them; both null when "
        "the citizen did not want to answer."
    )
    wellbeing_recorded_at: datetime | None
    waiting_for: list[Part] = Field(
        description="What is still to be answered, while an organisation holds the referral."
    )
    escalated_at: datetime | None = Field(description="When operators were asked to step in.")

    @classmethod
    def shown(
        cls, follow_up: FollowUp, waited_for: bool, wellbeing_expected: bool, outcome_shared: bool
    ) -> Self:
        """`waited_for`: the referral is held, so its follow-ups' answers are still asked;
        `outcome_shared`: the partner's report is shown."""
        waiting = follow_up.missing(wellbeing_expected) if follow_up.fell_due_at else []
        return cls(
            **_follow_up_fields(follow_up, follow_up.participation if outcome_shared else None),
            wellbeing=ScoresPublic.of(follow_up.wellbeing) if follow_up.wellbeing else None,
            wellbeing_recorded_at=follow_up.wellbeing_recorded_at,
            waiting_for=waiting if waited_for else [],
            escalated_at=follow_up.escalated_at,
        )


def _follow_up_fields(follow_up: FollowUp, participation: Participation | None) -> dict[str, Any]:
    return {
        "number": follow_up.number,
        "due_at": follow_up.due_at,
        "fell_due_at": follow_up.fell_due_at,
        "participation": ParticipationPublic(**vars(participation)) if participation else None,
        "participation_recorded_at": follow_up.participation_recorded_at,
        "reminded_at": follow_up.reminded_at,
    }


class OutcomePublic(BaseModel):
    """How a referral that was followed up ended."""

    outcome: Outcome | None = Field(
        description="`participating` (still taking part, or on a break, at the last "
        "follow-up), `stopped` (took part, then stopped), `never_started` (never came again "
        "after the first meeting); null if completed before any follow-up was answered."
    )
    ucla3_change: ScoreChangePublic | None = Field(
        description="UCLA-3 total at intake and at the last follow-up that asked it."
    )
    who5_change: ScoreChangePublic | None = Field(
        description="WHO-5 index at intake and at the last follow-up that asked it."
    )
