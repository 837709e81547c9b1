"""Webhook endpoints: a partner's for its organisation's events, a care system's for the
status changes of its own referrals. Each endpoint has its own event-type filter and its
own signing secret, shown once; another owner's endpoints are not found."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import BaseModel, Field, StringConstraints, field_validator

from notifications import services
from notifications.api.inbox import StartUow
from notifications.webhooks import InvalidWebhookUrl, Owner, WebhookEndpoint
from runtime.auth import Principal, Role, require
from runtime.http import HTTP_URL, JSON_BOOLEAN, InputModel
from runtime.openapi import LOCATION, rules
from runtime.problems import Problem

router = APIRouter(tags=["webhooks"])

Caller = Annotated[Principal, Depends(require(Role.PARTNER, Role.CARE_SYSTEM))]

WebhookUrl = Annotated[
    str,
    Field(
        max_length=2083,
        pattern=HTTP_URL,
        json_schema_extra={"format": "uri"},
        description="Where to POST, an http(s) address with a host name, kept as sent; it "
        "receives Standard Webhooks signed JSON.",
        examples=["https://partner.example/brobygger/webhook"],
    ),
]
EventType = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200, pattern=r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$"),
]
EVENT_TYPES = (
    "The CloudEvents types (`ce_type`) to send, e.g. "
    "`dk.brobygger.referrals.referral.offered.v1`; empty: every type you can receive. A "
    "partner can receive what notifications tells partner organisations: offers, their "
    "withdrawal or expiry, follow-ups due and overdue, deletion requests, grant pools "
    "opened, decisions on its grant applications and reminders of overdue grant reports. "
    "A care system can receive the `referrals.status.v1` events of its own referrals."
)

PUBLIC_TARGET = (
    "The URL's host is not this machine, nor (as written) a private, loopback or "
    "link-local address, unless this installation allows private targets."
)
KNOWN_TYPES = "Every event type is one you can receive (see `event_types`)."
AT_MOST = f"You have at most {services.MAX_WEBHOOKS} webhook endpoints."
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "You have no webhook endpoint with this id."}
}


class WebhookCreate(InputModel):
    url: WebhookUrl
    event_types: list[EventType] = Field(
        default_factory=list, max_length=50, description=EVENT_TYPES
    )


class WebhookChange(InputModel):
    """Only the fields sent change."""

    url: WebhookUrl | None = None
    event_types: list[EventType] | None = Field(
        default=None, max_length=50, description=EVENT_TYPES
    )
    enabled: Annotated[Literal[True], JSON_BOOLEAN] | None = Field(
        default=None,
        description="`true` turns an endpoint disabled for failing on again (the time it "
        "failed before no longer counts).",
    )

    @field_validator("url", "event_types", "enabled")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may be left out, not null")
        return value


class WebhookPublic(BaseModel):
    """An endpoint, never its secret."""

    id: UUID
    url: str
    event_types: list[str] = Field(description="Empty: every type you can receive.")
    created_at: datetime
    enabled: bool = Field(
        description="False once the endpoint has failed for a while with no success in "
        "between (`disabled_at`): nothing is sent to it until you set `enabled` again."
    )
    failing_since: datetime | None = Field(
        description="The first failed attempt since the last success; null while it works."
    )
    disabled_at: datetime | None
    previous_secret_valid_until: datetime | None = Field(
        description="After a rotation, until when the previous secret also signs; null if "
        "the secret was never rotated."
    )

    @classmethod
    def of(cls, endpoint: WebhookEndpoint) -> WebhookPublic:
        return cls(**_public_fields(endpoint))


class WebhookWithSecret(WebhookPublic):
    secret: str = Field(
        description="Verifies `webhook-signature` (Standard Webhooks, `whsec_...`). Shown "
        "only in this answer: keep it; `rotate-secret` makes a new one."
    )

    @classmethod
    def with_secret(cls, endpoint: WebhookEndpoint, secret: str) -> WebhookWithSecret:
        return cls(**_public_fields(endpoint), secret=secret)


class WebhooksPublic(BaseModel):
    data: list[WebhookPublic]
    count: int


def _public_fields(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "event_types": sorted(endpoint.event_types),
        "created_at": endpoint.created_at,
        "enabled": endpoint.enabled,
        "failing_since": endpoint.failing_since,
        "disabled_at": endpoint.disabled_at,
        "previous_secret_valid_until": endpoint.previous_secret_until,
    }


def _owner(principal: Principal) -> Owner:
    if principal.role is Role.PARTNER:
        # `require` admits no partner token without its organisation.
        return Owner(organization_id=principal.organization_id)
    return Owner(care_system=principal.subject)


def _not_found(webhook_id: UUID) -> Problem:
    # Not 403: another owner's endpoint must not even be confirmed to exist.
    return Problem(404, f"You have no webhook endpoint {webhook_id}.")


@router.post(
    "/webhooks",
    summary="Add a webhook endpoint",
    status_code=status.HTTP_201_CREATED,
    responses={
        201: {"description": "Added; its secret is in this answer only.", "headers": LOCATION},
        **rules(PUBLIC_TARGET, KNOWN_TYPES, AT_MOST),
    },
)
def add_webhook(
    body: WebhookCreate,
    request: Request,
    response: Response,
    start_uow: StartUow,
    principal: Caller,
) -> WebhookWithSecret:
    command = services.AddWebhook(_owner(principal), body.url, frozenset(body.event_types))
    try:
        endpoint, secret = services.add_webhook(
            command,
            start_uow,
            request.app.state.secret_box,
            allow_private_targets=request.app.state.allow_private_webhook_targets,
        )
    except InvalidWebhookUrl as error:
        raise Problem(422, f"url: {error}.") from error
    except services.UnknownEventType as error:
        raise Problem(422, f"event_types: {error}.") from error
    except services.TooManyWebhooks as error:
        raise Problem(422, f"{AT_MOST} Remove one first.") from error
    response.headers["Location"] = f"/webhooks/{endpoint.id}"
    return WebhookWithSecret.with_secret(endpoint, secret)


@router.get("/webhooks", summary="Your webhook endpoints, the oldest first")
def list_webhooks(start_uow: StartUow, principal: Caller) -> WebhooksPublic:
    found = services.webhooks_of(_owner(principal), start_uow)
    return WebhooksPublic(data=[WebhookPublic.of(e) for e in found], count=len(found))


@router.get("/webhooks/{webhook_id}", summary="Read a webhook endpoint", responses=NOT_FOUND)
def read_webhook(webhook_id: UUID, start_uow: StartUow, principal: Caller) -> WebhookPublic:
    try:
        return WebhookPublic.of(services.webhook_of(_owner(principal), webhook_id, start_uow))
    except services.WebhookNotFound as error:
        raise _not_found(webhook_id) from error


@router.patch(
    "/webhooks/{webhook_id}",
    summary="Change a webhook endpoint, or enable it again",
    responses={**NOT_FOUND, **rules(PUBLIC_TARGET, KNOWN_TYPES)},
)
def change_webhook(
    webhook_id: UUID, body: WebhookChange, request: Request, start_uow: StartUow, principal: Caller
) -> WebhookPublic:
    """E.g. `{"enabled": true}` once the endpoint works again after it was disabled."""
    change = services.ChangeWebhook(
        url=body.url,
        event_types=None if body.event_types is None else frozenset(body.event_types),
        enable=body.enabled is True,
    )
    try:
        endpoint = services.change_webhook(
            _owner(principal),
            webhook_id,
            change,
            start_uow,
            allow_private_targets=request.app.state.allow_private_webhook_targets,
        )
    except InvalidWebhookUrl as error:
        raise Problem(422, f"url: {error}.") from error
    except services.UnknownEventType as error:
        raise Problem(422, f"event_types: {error}.") from error
    except services.WebhookNotFound as error:
        raise _not_found(webhook_id) from error
    return WebhookPublic.of(endpoint)


@router.delete(
    "/webhooks/{webhook_id}",
    summary="Remove a webhook endpoint",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=NOT_FOUND,
)
def remove_webhook(webhook_id: UUID, start_uow: StartUow, principal: Caller) -> None:
    """Deliveries still waiting for it are not sent."""
    try:
        services.remove_webhook(_owner(principal), webhook_id, start_uow)
    except services.WebhookNotFound as error:
        raise _not_found(webhook_id) from error


@router.post(
    "/webhooks/{webhook_id}/rotate-secret",
    summary="Give a webhook endpoint a new secret",
    responses=NOT_FOUND,
)
def rotate_webhook_secret(
    webhook_id: UUID, request: Request, start_uow: StartUow, principal: Caller
) -> WebhookWithSecret:
    """The new secret, in this answer only, signs from now on. Until
    `previous_secret_valid_until` the one before signs too (two signatures in
    `webhook-signature`), so the receiver can switch without losing a delivery. Rotating
    again within that time ends the older secret's overlap at once."""
    try:
        endpoint, secret = services.rotate_webhook_secret(
            _owner(principal),
            webhook_id,
            start_uow,
            request.app.state.secret_box,
            timedelta(hours=request.app.state.webhook_secret_overlap_hours),
        )
    except services.WebhookNotFound as error:
        raise _not_found(webhook_id) from error
    return WebhookWithSecret.with_secret(endpoint, secret)
