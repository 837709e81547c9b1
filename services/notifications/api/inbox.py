"""Partners read their inbox; operators read theirs and watch deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from notifications import services
from notifications.domain import (
    Channel,
    Delivery,
    DeliveryStatus,
    Language,
    Message,
    OperatorReader,
    PartnerReader,
    Reader,
    Template,
)
from runtime.auth import Principal, Role, require
from runtime.http import unit_of_work_factory
from runtime.problems import Problem

router = APIRouter()

Partner = Annotated[Principal, Depends(require(Role.PARTNER))]
InboxReader = Annotated[Principal, Depends(require(Role.PARTNER, Role.OPERATOR))]
Limit = Annotated[int, Query(ge=1, le=200, description="At most this many, newest first.")]
StartUow = Annotated[services.UnitOfWorkFactory, Depends(unit_of_work_factory)]


class MessagePublic(BaseModel):
    id: UUID
    organization_id: UUID | None = Field(
        description="The organisation it is for; None for a broadcast to every partner and "
        "for the operators' messages."
    )
    kind: Template = Field(
        description="What it is about, for programs: `referral_offered`, `offer_withdrawn`, "
        "`offer_expired` (to the organisation holding the offer), `follow_up_due`, "
        "`follow_up_overdue` (to the organisation that accepted the referral: report whether "
        "the citizen still takes part), `referral_escalated`, `follow_up_escalated` (to the "
        "operators), `pool_opened` (to every partner), `deletion_requested` (to every "
        "organisation the referral was offered to, when the citizen withdrew consent or their "
        "data was erased: delete what you hold about the referral; the text says which), "
        "`grant_decided`, `grant_report_overdue` (to the organisation that applied for a "
        "grant, in the language it applied in: the decision letter; the reminder of a report "
        "that is overdue)."
    )
    referral_id: UUID | None = Field(
        description="The referral it is about; None for messages about no referral. When "
        "the citizen's data is erased, every message about the referral is deleted, and "
        "a `deletion_requested` message takes their place."
    )
    language: Language
    text: str
    created_at: datetime
    read_at: datetime | None = Field(
        description="When it was marked read: by your organisation (partners), or by you "
        "(operators)."
    )

    @classmethod
    def of(cls, message: Message) -> MessagePublic:
        return cls(
            id=message.id,
            organization_id=message.organization_id,
            kind=message.template,
            referral_id=message.referral_id,
            language=message.language,
            text=message.text,
            created_at=message.created_at,
            read_at=message.read_at,
        )


class MessagesPublic(BaseModel):
    data: list[MessagePublic]
    count: int = Field(description="How many messages this page holds.")
    total: int = Field(description="How many the inbox holds (unread only, if asked).")
    offset: int = Field(description="How many newer ones come before this page.")


class DeliveryPublic(BaseModel):
    id: UUID
    organization_id: UUID | None = Field(
        description="None for an inbox message to every partner or to the operators."
    )
    channel: Channel
    status: DeliveryStatus
    message_id: UUID | None = Field(
        description="The inbox message it delivered, None for a webhook. The message is gone "
        "if its referral was erased since."
    )
    source_event_id: UUID
    source_event_type: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    recorded_at: datetime | None = Field(
        description="When its status became final: delivered, sent, failed, skipped or merged."
    )
    recipient_id: UUID | None = Field(
        description="The person an e-mail or SMS is for (a coordinator, volunteer or operator)."
    )
    webhook_id: UUID | None = Field(description="The endpoint a webhook delivery is for.")
    kind: str | None = Field(description="What an e-mail or SMS says, e.g. `referral_offered`.")
    digest: bool = Field(description="An e-mail that waits for the recipient's daily digest.")
    merged_into: UUID | None = Field(
        description="A merged e-mail's: the delivery of the digest that carried it."
    )

    @classmethod
    def of(cls, delivery: Delivery) -> DeliveryPublic:
        return cls(
            id=delivery.id,
            organization_id=delivery.organization_id,
            channel=delivery.channel,
            status=delivery.status,
            message_id=delivery.message_id,
            source_event_id=delivery.source.id,
            source_event_type=delivery.source.type,
            attempts=delivery.attempts,
            next_attempt_at=delivery.next_attempt_at,
            last_error=delivery.last_error,
            created_at=delivery.created_at,
            recorded_at=delivery.recorded_at,
            recipient_id=delivery.recipient_id,
            webhook_id=delivery.webhook_id,
            kind=delivery.kind,
            digest=delivery.digest,
            merged_into=delivery.merged_into,
        )


class DeliveriesPublic(BaseModel):
    data: list[DeliveryPublic]
    count: int


def _organization(principal: Principal) -> UUID:
    # `require(Role.PARTNER)` admits no partner token without its organisation.
    assert principal.organization_id is not None
    return principal.organization_id


def _reader(principal: Principal) -> Reader:
    if principal.role is Role.OPERATOR:
        return OperatorReader(principal.subject)
    return PartnerReader(_organization(principal))


@router.get("/inbox", tags=["inbox"], summary="Your messages, newest first")
def read_inbox(
    start_uow: StartUow,
    principal: InboxReader,
    limit: Limit = 50,
    offset: Annotated[
        int, Query(ge=0, le=100_000, description="Skip this many newer messages: the page.")
    ] = 0,
    unread_only: Annotated[bool, Query(description="Only what is not marked read.")] = False,
) -> MessagesPublic:
    """A partner reads its organisation's messages and the broadcasts to every partner,
    with the organisation's read marks. An operator reads the operators' messages
    (escalated referrals), which no partner sees; the messages are shared by all
    operators, the read marks are each operator's own (by the token's subject)."""
    reader = _reader(principal)
    messages = services.inbox(
        reader, start_uow, unread_only=unread_only, limit=limit, offset=offset
    )
    total = services.inbox_size(reader, start_uow, unread_only=unread_only)
    return MessagesPublic(
        data=[MessagePublic.of(m) for m in messages],
        count=len(messages),
        total=total,
        offset=offset,
    )


@router.post(
    "/inbox/{message_id}/read",
    tags=["inbox"],
    summary="Mark a message read",
    responses={
        404: {
            "description": "Your inbox has no message with this id: a partner's holds its "
            "organisation's messages and the broadcasts, an operator's the operators' messages."
        }
    },
)
def mark_read(message_id: UUID, start_uow: StartUow, principal: InboxReader) -> MessagePublic:
    """Marking it again keeps the time it was first marked read. A partner marks it read
    for the whole organisation, an operator only for themselves."""
    try:
        message = services.mark_read(message_id, _reader(principal), start_uow)
    except services.MessageNotFound as error:
        # Not 403: another organisation's message must not even be confirmed to exist.
        raise Problem(404, f"There is no message {message_id} in your inbox.") from error
    return MessagePublic.of(message)


@router.get("/deliveries", tags=["deliveries"], summary="Recent deliveries, newest first")
def list_deliveries(
    start_uow: StartUow,
    _principal: Annotated[Principal, Depends(require(Role.OPERATOR))],
    limit: Limit = 50,
    delivery_status: Annotated[
        DeliveryStatus | None, Query(alias="status", description="Only deliveries in this state.")
    ] = None,
    channel: Annotated[
        Channel | None, Query(description="Only deliveries on this channel.")
    ] = None,
) -> DeliveriesPublic:
    """When a citizen's data is erased, the deliveries of their referrals still pending are
    deleted; the finished ones keep their record here (to whom, how, the outcome, when,
    which event), but what they sent is forgotten."""
    deliveries = services.recent_deliveries(
        start_uow, status=delivery_status, channel=channel, limit=limit
    )
    return DeliveriesPublic(data=[DeliveryPublic.of(d) for d in deliveries], count=len(deliveries))
