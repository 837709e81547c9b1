"""Care systems submit referrals, follow them, may cancel them and withdraw the citizen's
consent; operators read and do any of it."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import Field, StrictBool, StringConstraints

from contracts.referrals import TimeOfDay
from referrals import services
from referrals.api.models import (
    CPR,
    FollowUpNumber,
    Lifecycle,
    ReasonedInput,
    ReferralPublic,
    StartUow,
    actor_of,
    refusals,
    responses,
)
from referrals.api.outcomes import ScoresCreate
from referrals.domain import (
    CancelReason,
    Consent,
    ConsentMethod,
    InvalidAnswer,
    InvalidPersonalNumber,
    NotEligible,
    Party,
)
from runtime.auth import Principal, Role, require
from runtime.http import (
    JSON_BOOLEAN,
    Day,
    IdempotencyKey,
    InputModel,
    Keyword,
    LanguageCode,
    LongText,
    Name,
    ShortText,
    answer_created,
)
from runtime.idempotency import IdempotencyConflict
from runtime.openapi import created_responses, rules
from runtime.problems import Problem

router = APIRouter(prefix="/referrals", tags=["referrals"])

CareOrOperator = Annotated[Principal, Depends(require(Role.CARE_SYSTEM, Role.OPERATOR))]

CareRecordReference = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$")
]
"""Printable ASCII without spaces, as a FHIR identifier's value in practice is."""

Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9][0-9 ]{4,18}[0-9]$")]
"""Digits, spaces between them, an optional leading `+`; refused, not trimmed, when padded."""


BIRTH_DATE_RULE = (
    "The personal number's birth date (DDMMYY, the century read from the seventh digit) "
    "is a 29 February only in a leap year, and is not in the future."
)
AGE_RULE = "The citizen is 65 or older today."
BASELINE_RULE = "A `baseline` is given only with `consent.follow_up_questions`."
CONSENT_RULE = (
    "The citizen's answers are recorded only if they consented to follow-up questions "
    "(`consent.follow_up_questions`) and have not withdrawn consent."
)


class CitizenCreate(InputModel):
    personal_number: str = Field(
        pattern=CPR,
        description="CPR number, DDMMYY-SSSS or ten digits. " + BIRTH_DATE_RULE,
        examples=["0101401234"],
    )
    name: Name
    address: Name | None = None
    phone: Phone | None = Field(default=None, examples=["+45 12 34 56 78"])


class ConsentCreate(InputModel):
    """What the citizen agreed to, as the care worker recorded it."""

    referral: Annotated[Literal[True], JSON_BOOLEAN] = Field(
        description="The citizen agreed to be referred to a civil-society partner: must be true."
    )
    share_contact_details: StrictBool = Field(
        default=False, description="The citizen lets the accepting partner see how to reach them."
    )
    follow_up_questions: StrictBool = Field(
        default=False, description="The citizen may be asked afterwards how they are."
    )
    share_outcome_with_care_system: StrictBool = Field(
        default=False, description="The care system may learn how the referral went."
    )
    given_on: Day = Field(description="The day the citizen gave this consent.")
    recorded_by: ShortText | None = Field(
        default=None,
        description="Who recorded the consent: the care worker's id in the care system.",
        examples=["cw-4711"],
    )
    how: ConsentMethod | None = Field(
        default=None, description="How the citizen gave it: `verbal` or `written`."
    )

    def consent(self) -> Consent:
        return Consent(
            given_on=self.given_on,
            recorded_by=self.recorded_by,
            how=self.how,
            share_contact_details=self.share_contact_details,
            follow_up_questions=self.follow_up_questions,
            share_outcome_with_care_system=self.share_outcome_with_care_system,
        )


Note = Annotated[LongText, StringConstraints(max_length=1000)]


class ReferralCreate(InputModel):
    citizen: CitizenCreate
    district: ShortText = Field(examples=["Nørrebro"])
    interests: list[Keyword] = Field(
        min_length=1,
        max_length=20,
        description="Stored in lower case, each once.",
        examples=[["walking"]],
    )
    languages: list[LanguageCode] = Field(
        min_length=1,
        max_length=10,
        description="ISO 639-1 codes, each stored once.",
        examples=[["da"]],
    )
    needs: list[Keyword] = Field(
        default_factory=list,
        max_length=20,
        description="Stored in lower case, each once.",
        examples=[["wheelchair_access"]],
    )
    needs_accompaniment: StrictBool = Field(
        default=False,
        description="The citizen needs someone (staff, a volunteer, a relative) to come along "
        "the first time; the partner sees this.",
    )
    preferred_times: list[TimeOfDay] = Field(
        default_factory=list,
        max_length=3,
        description="When in the day the citizen would go: `morning`, `afternoon`, `evening`; "
        "each stored once. Empty: any time.",
        examples=[["morning"]],
    )
    note: Note | None = Field(
        default=None,
        description="The care worker's words to the partner, e.g. \"hard of hearing, loves "
        'singing". Encrypted; only the organisation that accepts reads it '
        "(`GET /partner/referrals/{id}/note`), and it never leaves referrals otherwise.",
    )
    consent: ConsentCreate
    care_record_reference: CareRecordReference | None = Field(
        default=None,
        description="The care system's own reference for this referral (e.g. its care "
        "record's id); it comes back in everything the care system sees: the referral, the "
        "changes feed, the status topic and FHIR.",
        examples=["EOJ-2026-004711"],
    )
    baseline: ScoresCreate | None = Field(
        default=None,
        description="The citizen's answers at intake (UCLA-3, WHO-5), asked by the care "
        "worker; only with `consent.follow_up_questions` (422 otherwise).",
    )


class CancelCreate(ReasonedInput):
    reason: CancelReason


class WithdrawalCreate(InputModel):
    """Who recorded the withdrawal and how the citizen said so, as at intake; both optional."""

    recorded_by: ShortText | None = Field(
        default=None,
        description="Who recorded the withdrawal: the care worker's id in the care system.",
        examples=["cw-4711"],
    )
    how: ConsentMethod | None = Field(
        default=None, description="How the citizen withdrew it: `verbal` or `written`."
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Submit a referral",
    responses={
        **created_responses(ReferralPublic, "referral"),
        409: {"description": "The Idempotency-Key was used before with another body."},
        **rules(BIRTH_DATE_RULE, AGE_RULE, BASELINE_RULE),
    },
)
def submit_referral(
    body: ReferralCreate,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(require(Role.CARE_SYSTEM))],
    lifecycle: Lifecycle,
    idempotency_key: IdempotencyKey = None,
) -> ReferralPublic:
    """A care system that retries must not create a second referral, so every submission
    names itself with an `Idempotency-Key` (e.g. the care record's id for this referral).

    Refused with 422: a personal number that holds no real birth date, or one in the future;
    a citizen under 65 today."""
    if idempotency_key is None:
        raise Problem(
            400,
            "The Idempotency-Key header is required: send a key unique to this referral, "
            "and the same key when retrying.",
        )
    command = services.SubmitReferral(
        submitted_by=principal.subject,
        personal_number=body.citizen.personal_number,
        name=body.citizen.name,
        address=body.citizen.address,
        phone=body.citizen.phone,
        district=body.district,
        interests=body.interests,
        languages=body.languages,
        needs=body.needs,
        consent=body.consent.consent(),
        note=body.note,
        needs_accompaniment=body.needs_accompaniment,
        preferred_times=body.preferred_times,
        care_record_reference=body.care_record_reference,
        baseline=body.baseline.scores() if body.baseline else None,
        idempotency_key=idempotency_key,
    )
    try:
        referral, created = services.submit_referral(
            command, lifecycle.start_uow, request.app.state.vault, lifecycle.clock
        )
    except InvalidPersonalNumber as error:
        raise Problem(422, f"citizen.personal_number: {error}.") from error
    except (NotEligible, InvalidAnswer) as error:
        raise Problem(422, f"{str(error)[0].upper()}{str(error)[1:]}.") from error
    except IdempotencyConflict as error:
        raise Problem(409, f"{error}.") from error
    answer_created(response, f"/referrals/{referral.id}", created)
    return ReferralPublic.of(referral, Party.CARE_SYSTEM)


@router.get("/{referral_id}", summary="Read a referral's status", responses=responses(404, 410))
def get_referral(
    referral_id: UUID, start_uow: StartUow, principal: CareOrOperator
) -> ReferralPublic:
    """A care system reads the referrals it submitted; an operator reads any. The history
    shows every step, with the reasons and texts given."""
    with refusals(referral_id):
        actor = actor_of(principal)
        return ReferralPublic.of(services.get_referral(referral_id, actor, start_uow), actor.party)


@router.post(
    "/{referral_id}/cancel",
    summary="Cancel a referral",
    responses=responses(404, 409, 410),
)
def cancel_referral(
    referral_id: UUID, body: CancelCreate, principal: CareOrOperator, lifecycle: Lifecycle
) -> ReferralPublic:
    """The care system that submitted it, or an operator, calls the referral off in any
    state that is not final (409 when completed, failed or cancelled already). An open
    offer is withdrawn and its organisation told; a place taken is given back."""
    command = services.CancelReferral(body.reason, body.text)
    actor = actor_of(principal)
    with refusals(referral_id):
        return ReferralPublic.of(
            services.cancel(referral_id, command, actor, lifecycle), actor.party
        )


@router.post(
    "/{referral_id}/consent/withdraw",
    summary="Withdraw the citizen's consent",
    responses={
        **responses(404, 410),
        409: {
            "description": "Consent to this referral was withdrawn already (or the referral "
            "changed at the same moment); nothing changed."
        },
    },
)
def withdraw_consent(
    referral_id: UUID,
    principal: CareOrOperator,
    lifecycle: Lifecycle,
    body: WithdrawalCreate | None = None,
) -> ReferralPublic:
    """The citizen no longer consents: a referral not yet completed, failed or cancelled is
    cancelled (reason `consent_withdrawn`; an open offer is withdrawn, a place taken given
    back); every organisation it was offered to is told to delete what it holds about it;
    its contact details and note are no longer shared; nothing more happens to it on its
    own. The consent record shows the withdrawal. Once only: 409 the second time. The care
    system that submitted the referral, or an operator; audited."""
    command = (
        services.WithdrawConsent(body.recorded_by, body.how) if body else services.WithdrawConsent()
    )
    actor = actor_of(principal)
    with refusals(referral_id):
        return ReferralPublic.of(
            services.withdraw_consent(referral_id, command, actor, lifecycle), actor.party
        )


@router.post(
    "/{referral_id}/follow-ups/{number}",
    summary="Record the citizen's answers at a follow-up",
    responses={
        **responses(404, 409, 410),
        403: {"description": "Only the care system that submitted the referral records them."},
        404: {
            "description": "There is no referral with this id that the token may see, or "
            "it has no follow-up of this number (follow-ups are scheduled at the first "
            "meeting)."
        },
        409: {
            "description": "The follow-up is not due yet, was answered already with other "
            "answers, or the referral is no longer held by an organisation (or changed at "
            "the same moment); nothing changed."
        },
        **rules(CONSENT_RULE),
    },
)
def record_wellbeing(
    referral_id: UUID,
    number: FollowUpNumber,
    body: ScoresCreate,
    principal: Annotated[Principal, Depends(require(Role.CARE_SYSTEM))],
    lifecycle: Lifecycle,
) -> ReferralPublic:
    """The citizen's answers to UCLA-3 and WHO-5 at follow-up `number`, once it is due; an
    empty body records that the citizen was asked and did not want to answer. Sending the
    same answers again changes nothing. The last answer of the last follow-up completes the
    referral with its outcome."""
    command = services.RecordWellbeing(number, body.scores())
    actor = actor_of(principal)
    with refusals(referral_id):
        referral = services.record_wellbeing(referral_id, command, actor, lifecycle)
    return ReferralPublic.of(referral, actor.party)
