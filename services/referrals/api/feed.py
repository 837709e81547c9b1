"""The care systems' feed of changes: every step of their referrals, in the order it was
committed, read with a cursor that never skips one."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from contracts.referrals import ScoreChangePublic
from referrals import services
from referrals.api.models import StartUow, actor_of
from referrals.domain import Outcome, ReferralStatus
from referrals.store import Change
from runtime.auth import Principal, Role, require

router = APIRouter(prefix="/referrals", tags=["referrals"])

CURSOR = r"^(0|[1-9][0-9]{0,17})$"


class ChangePublic(BaseModel):
    """One step of a referral. No free text; how a completed referral ended only with the
    citizen's consent to share it."""

    cursor: str = Field(pattern=CURSOR, description="Pass as `after` to read what follows.")
    referral_id: UUID
    care_record_reference: str | None = Field(
        description="The care system's own reference, given at intake."
    )
    at: datetime
    action: str = Field(
        description="The step, as in the referral's history (`submit`, `offer`, `accept`, "
        "`first_meeting`, `follow_up_due`, `record_participation`, `complete`, ...), or "
        "`erased`: the referral and everything about it is gone."
    )
    status: ReferralStatus | None = Field(description="The status after it; null once erased.")
    previous_status: ReferralStatus | None
    reason: str | None = Field(
        description="The reason code, where the step has one (why it was escalated, put on "
        "hold, failed or cancelled)."
    )
    follow_up: int | None = Field(description="The follow-up the step was about, if any.")
    outcome: Outcome | None = Field(
        description="For `complete` after follow-ups, with the citizen's consent."
    )
    ucla3_change: ScoreChangePublic | None = Field(description="As `outcome`, if answered.")
    who5_change: ScoreChangePublic | None = Field(description="As `outcome`, if answered.")

    @classmethod
    def of(cls, change: Change) -> ChangePublic:
        scores = change.score_changes or {}
        ucla3, who5 = scores.get("ucla3"), scores.get("who5")
        return cls(
            cursor=str(change.seq),
            referral_id=change.referral_id,
            care_record_reference=change.care_record_reference,
            at=change.at,
            action=change.action,
            status=ReferralStatus(change.status) if change.status else None,
            previous_status=ReferralStatus(change.previous_status)
            if change.previous_status
            else None,
            reason=change.reason,
            follow_up=change.follow_up,
            outcome=Outcome(change.outcome) if change.outcome else None,
            ucla3_change=ScoreChangePublic(**ucla3) if ucla3 else None,
            who5_change=ScoreChangePublic(**who5) if who5 else None,
        )


class ChangesPage(BaseModel):
    data: list[ChangePublic] = Field(description="Oldest first.")
    next: str = Field(
        pattern=CURSOR,
        description="The cursor to pass as `after` next time: the last change's, or the "
        "`after` given when there was nothing new.",
    )


@router.get("/changes", summary="Read what changed in the care system's referrals")
def list_changes(
    start_uow: StartUow,
    principal: Annotated[Principal, Depends(require(Role.CARE_SYSTEM, Role.OPERATOR))],
    after: Annotated[
        str,
        Query(
            pattern=CURSOR,
            description="Only changes after this cursor; `0` (the default) from the start.",
        ),
    ] = "0",
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many.")] = 100,
) -> ChangesPage:
    """Every step of the care system's own referrals (an operator's: of all), in the order
    it was committed: a change committed after a reader passed its place is numbered after
    that place, so reading on from `next` never skips one. Poll with the last `next`."""
    found = services.changes(actor_of(principal), int(after), limit, start_uow)
    return ChangesPage(
        data=[ChangePublic.of(change) for change in found],
        next=str(found[-1].seq) if found else after,
    )
