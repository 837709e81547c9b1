"""Who is told and how: a partner keeps its volunteers (who will meet the citizens); every
signed-in recipient sets how and when they want to be told."""

from __future__ import annotations

from datetime import time
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import BaseModel, Field, StrictBool, field_validator

from notifications import services
from notifications.api.inbox import Partner, StartUow
from notifications.channels.sms import InvalidPhoneNumber, normalise_phone_number
from notifications.domain import Language
from notifications.recipients import (
    InvalidPreferences,
    Preferences,
    QuietHours,
    Recipient,
    RecipientKind,
    Via,
)
from runtime.auth import Principal, Role, require
from runtime.http import JSON_INTEGER, InputModel, Name, ShortText
from runtime.openapi import rules
from runtime.problems import Problem

router = APIRouter()

LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL = rf"^[^@\s\x00-\x1f]{{1,64}}@{LABEL}(?:\.{LABEL})+$"
"""An address a mail server takes: a local part without spaces, a domain of labels."""
Email = Annotated[str, Field(pattern=EMAIL, max_length=254, examples=["lise@roedekors.dk"])]
Phone = Annotated[
    str,
    Field(
        pattern=r"^\+?[0-9][0-9 ]{6,18}[0-9]$",
        description="A Danish number of eight digits, or an international one with + or 00.",
        examples=["+45 12 34 56 78"],
    ),
]
PHONE_RULE = "`phone` is a Danish number of eight digits, or an international one with + or 00."
Offset = Annotated[int, Query(ge=0, le=1_000_000, description="How many to skip.")]
Limit = Annotated[int, Query(ge=1, le=200, description="At most this many.")]
HourOfDay = Annotated[int, Field(ge=0, le=23), JSON_INTEGER]
ClockTime = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", examples=["21:00"])]
Kind = Annotated[str, Field(pattern=r"^[a-z_]{1,40}$")]

NOT_FOUND = "Your organisation has no volunteer {id}."


def _phone(raw: str | None) -> str | None:
    if raw is None:
        return None
    try:
        return normalise_phone_number(raw)
    except InvalidPhoneNumber as error:
        raise Problem(422, f"phone: {error}.") from error


class VolunteerCreate(InputModel):
    """A visiting friend or walking buddy of the organisation: personal data, kept in
    notifications only, never on Kafka."""

    name: Name
    email: Email | None = None
    phone: Phone | None = None
    language: Language = Field(description="The language they are written to in.")
    active: StrictBool = Field(
        default=True, description="Only active volunteers are told anything."
    )


class VolunteerUpdate(InputModel):
    """Only the fields sent change; `null` clears `email` or `phone`."""

    name: Name | None = None
    email: Email | None = None
    phone: Phone | None = None
    language: Language | None = None
    active: StrictBool | None = None

    @field_validator("name", "language", "active")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may be left out, not null")
        return value


class VolunteerPublic(BaseModel):
    id: UUID = Field(description="Name them with this in referrals' `POST .../volunteer`.")
    name: str
    email: str | None
    phone: str | None = Field(description="In E.164.")
    language: Language
    active: bool

    @classmethod
    def of(cls, volunteer: Recipient) -> VolunteerPublic:
        assert volunteer.name is not None  # a volunteer is registered with a name
        return cls(
            id=volunteer.id,
            name=volunteer.name,
            email=volunteer.email,
            phone=volunteer.phone,
            language=Language(volunteer.language),
            active=volunteer.active,
        )


class VolunteersPublic(BaseModel):
    data: list[VolunteerPublic]
    total: int = Field(ge=0)
    offset: int = Field(ge=0)
    limit: int = Field(ge=1)


def _organization(principal: Principal) -> UUID:
    assert principal.organization_id is not None  # a partner token names its organisation
    return principal.organization_id


@router.get("/partner/volunteers", tags=["recipients"], summary="Your organisation's volunteers")
def list_volunteers(
    start_uow: StartUow, principal: Partner, offset: Offset = 0, limit: Limit = 50
) -> VolunteersPublic:
    """The first registered first."""
    found, total = services.volunteers(_organization(principal), offset, limit, start_uow)
    return VolunteersPublic(
        data=[VolunteerPublic.of(v) for v in found], total=total, offset=offset, limit=limit
    )


@router.post(
    "/partner/volunteers",
    tags=["recipients"],
    summary="Register a volunteer",
    status_code=status.HTTP_201_CREATED,
    responses={
        201: {
            "description": "Registered.",
            "headers": {"Location": {"schema": {"type": "string"}}},
        },
        **rules(PHONE_RULE),
    },
)
def register_volunteer(
    body: VolunteerCreate, start_uow: StartUow, principal: Partner, response: Response
) -> VolunteerPublic:
    command = services.RegisterVolunteer(
        organization_id=_organization(principal),
        name=body.name,
        language=body.language,
        email=body.email,
        phone=_phone(body.phone),
        active=body.active,
    )
    volunteer = services.register_volunteer(command, start_uow)
    response.headers["Location"] = f"/partner/volunteers/{volunteer.id}"
    return VolunteerPublic.of(volunteer)


VOLUNTEER_404: dict[int | str, dict[str, Any]] = {
    404: {"description": "Your organisation has no volunteer with this id."}
}


@router.get(
    "/partner/volunteers/{volunteer_id}",
    tags=["recipients"],
    summary="Read a volunteer",
    responses=VOLUNTEER_404,
)
def read_volunteer(volunteer_id: UUID, start_uow: StartUow, principal: Partner) -> VolunteerPublic:
    try:
        return VolunteerPublic.of(
            services.volunteer(_organization(principal), volunteer_id, start_uow)
        )
    except services.VolunteerNotFound as error:
        raise Problem(404, NOT_FOUND.format(id=volunteer_id)) from error


@router.patch(
    "/partner/volunteers/{volunteer_id}",
    tags=["recipients"],
    summary="Change a volunteer",
    responses={**VOLUNTEER_404, **rules(PHONE_RULE)},
)
def change_volunteer(
    volunteer_id: UUID, body: VolunteerUpdate, start_uow: StartUow, principal: Partner
) -> VolunteerPublic:
    """E.g. `{"active": false}` when they stop: they are told nothing more."""
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    if "phone" in changes:
        changes["phone"] = _phone(changes["phone"])
    if "language" in changes:
        changes["language"] = changes["language"].value
    try:
        changed = services.change_volunteer(
            _organization(principal), volunteer_id, changes, start_uow
        )
    except services.VolunteerNotFound as error:
        raise Problem(404, NOT_FOUND.format(id=volunteer_id)) from error
    return VolunteerPublic.of(changed)


# --- preferences ----------------------------------------------------------------------------


class QuietHoursModel(InputModel):
    """Copenhagen wall-clock times; an `end` before `start` spans midnight."""

    start: ClockTime
    end: ClockTime


class PreferencesModel(InputModel):
    """How and when the caller is told. A message that is not urgent waits out the quiet
    hours; with a digest hour, the day's non-urgent e-mails come as one e-mail then. Urgent
    messages (an escalation, an offer about to lapse) bypass both."""

    email: Email | None = None
    phone: Phone | None = None
    language: Language
    channels: dict[Kind, list[Via]] = Field(
        default_factory=dict,
        description="Per kind of message (`referral_offered`, `follow_up_due`, ...), the "
        "channels to use; a kind not named goes by the defaults (inbox and e-mail).",
    )
    quiet_hours: QuietHoursModel | None = None
    digest_hour: HourOfDay | None = Field(
        default=None, description="The hour (Copenhagen) of the daily digest e-mail."
    )
    districts: list[ShortText] = Field(
        default_factory=list,
        max_length=20,
        description="Operators: only escalations from these districts; empty, all.",
    )

    @classmethod
    def of(cls, recipient: Recipient) -> PreferencesModel:
        preferences = recipient.preferences
        quiet = preferences.quiet_hours
        return cls(
            email=recipient.email,
            phone=recipient.phone,
            language=Language(recipient.language),
            channels={k: sorted(v) for k, v in sorted(preferences.channels.items())},
            quiet_hours=QuietHoursModel(
                start=quiet.start.strftime("%H:%M"), end=quiet.end.strftime("%H:%M")
            )
            if quiet
            else None,
            digest_hour=preferences.digest_hour,
            districts=sorted(recipient.districts),
        )


Caller = Annotated[Principal, Depends(require(Role.PARTNER, Role.OPERATOR, Role.CARE_SYSTEM))]
KIND_OF = {
    Role.PARTNER: RecipientKind.COORDINATOR,
    Role.OPERATOR: RecipientKind.OPERATOR,
    Role.CARE_SYSTEM: RecipientKind.CARE_SYSTEM,
}


def _caller(principal: Principal) -> services.SignedIn:
    return services.SignedIn(KIND_OF[principal.role], principal.subject, principal.organization_id)


@router.get("/preferences", tags=["recipients"], summary="How you are told")
def read_preferences(request: Request, start_uow: StartUow, principal: Caller) -> PreferencesModel:
    """The defaults until you set them: the service's language, inbox and e-mail."""
    return PreferencesModel.of(
        services.preferences_of(_caller(principal), start_uow, request.app.state.language)
    )


@router.put(
    "/preferences",
    tags=["recipients"],
    summary="Set how you are told",
    responses=rules(PHONE_RULE, "Quiet hours start and end at different times."),
)
def set_preferences(
    body: PreferencesModel, request: Request, start_uow: StartUow, principal: Caller
) -> PreferencesModel:
    try:
        quiet = (
            QuietHours(
                time.fromisoformat(body.quiet_hours.start), time.fromisoformat(body.quiet_hours.end)
            )
            if body.quiet_hours
            else None
        )
        preferences = Preferences(
            channels={kind: frozenset(vias) for kind, vias in body.channels.items()},
            quiet_hours=quiet,
            digest_hour=body.digest_hour,
        )
    except InvalidPreferences as error:
        raise Problem(422, f"{error}.") from error
    contact: dict[str, Any] = {
        "email": body.email,
        "phone": _phone(body.phone),
        "language": body.language.value,
        "districts": frozenset(body.districts),
    }
    recipient = services.set_preferences(
        _caller(principal), contact, preferences, start_uow, request.app.state.language
    )
    return PreferencesModel.of(recipient)
