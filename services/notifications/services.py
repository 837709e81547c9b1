"""Use cases of the notifications service: one function each, the only place that commits."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol
from uuid import UUID, uuid4

from sqlalchemy.exc import IntegrityError

from contracts import (
    ApplicationDecided,
    ConsentWithdrawn,
    FollowUpDue,
    FollowUpEscalated,
    FollowUpOverdue,
    IntegrationEvent,
    OfferExpired,
    OfferWithdrawn,
    PoolOpened,
    ReferralErased,
    ReferralEscalated,
    ReferralOffered,
    ReportOverdue,
    VolunteerNamed,
)
from contracts.partners import PARTNER_EVENTS, partner_topic
from contracts.referrals import CareSystemEvent, ReferralEvent
from notifications import events, rendering
from notifications.domain import (
    Audience,
    Channel,
    DeletionCause,
    Delivery,
    DeliveryStatus,
    Language,
    Message,
    Reader,
    SourceEvent,
    Template,
    follow_up_path,
    partner_is_waited_for,
    report_path,
)
from notifications.recipients import Preferences, Recipient, RecipientKind, Via, is_urgent
from notifications.sealing import SecretBox
from notifications.store import (
    DeliveryRepository,
    MessageRepository,
    RecipientRepository,
    WebhookRepository,
)
from notifications.webhooks import (
    Owner,
    WebhookEndpoint,
    check_webhook_url,
    new_secret,
    webhook_body,
)
from runtime.logs import get_logger
from runtime.storage import ConsumedEvent, utcnow

log = get_logger(component="notifications")


class PartnerFeeds(Protocol):
    def organizations(self) -> frozenset[UUID]:
        """The partner organisations that read their events on a Kafka topic of their own."""
        ...


class UnitOfWork(Protocol):
    @property
    def messages(self) -> MessageRepository: ...

    @property
    def webhooks(self) -> WebhookRepository: ...

    @property
    def deliveries(self) -> DeliveryRepository: ...

    @property
    def recipients(self) -> RecipientRepository: ...

    @property
    def partner_feeds(self) -> PartnerFeeds: ...

    @property
    def consumed(self) -> ConsumedEvent | None:
        """The event being consumed in this transaction, if any."""
        ...

    def publish(self, event: IntegrationEvent) -> None: ...

    def forward(self, event: IntegrationEvent, topic: str) -> None:
        """The event being consumed, with `event` as its data, to `topic` (see
        `runtime.storage.UnitOfWork.forward`)."""
        ...

    def commit(self) -> None: ...


UnitOfWorkFactory = Callable[[], AbstractContextManager[UnitOfWork]]

Clock = Callable[[], datetime]
"""The time now, timezone-aware UTC: a dependency, so that tests can set and move it."""


class MessageNotFound(Exception):
    """Its text never names the reader: an operator's token subject may name a person."""


class WebhookNotFound(Exception):
    pass


def notify_referral_offered(
    event: ReferralOffered, uow: UnitOfWork, language: Language, clock: Clock = utcnow
) -> None:
    """Tell the offered organisation: in its inbox, its coordinators as they chose, and by
    webhook where it registered one. Urgent when the offer lapses within a day.

    The message says only what the event says, and the event never says who the citizen is.
    """
    fields = {
        "age_band": event.age_band,
        "district": event.district,
        "interests": event.interests,
        "expires": event.expires_at,
    }
    _tell_organization(
        uow, event.organization_id, event, "referral_offered", fields, language, clock()
    )
    uow.commit()


def notify_offer_withdrawn(
    event: OfferWithdrawn, uow: UnitOfWork, language: Language, clock: Clock = utcnow
) -> None:
    """Tell the organisation that held the offer that it was taken back (the referral was
    cancelled or given to another), so that it does not act on it."""
    fields = {"referral_id": event.referral_id, "reason": event.reason}
    _tell_organization(
        uow, event.organization_id, event, "offer_withdrawn", fields, language, clock()
    )
    uow.commit()


def notify_offer_expired(
    event: OfferExpired, uow: UnitOfWork, language: Language, clock: Clock = utcnow
) -> None:
    """Tell the organisation that held the offer that it lapsed unanswered."""
    fields = {"referral_id": event.referral_id, "expired": event.expired_at}
    _tell_organization(
        uow, event.organization_id, event, "offer_expired", fields, language, clock()
    )
    uow.commit()


def request_deletion_after_withdrawal(
    event: ConsentWithdrawn, uow: UnitOfWork, language: Language, clock: Clock = utcnow
) -> None:
    """The citizen withdrew consent: every organisation the referral was offered to is
    told to delete what it holds about it. The messages about the referral stay: they say
    nothing about who the citizen is."""
    _request_deletion(event, DeletionCause.CONSENT_WITHDRAWN, uow, language, clock)
    uow.commit()


def erase_referral(
    event: ReferralErased, uow: UnitOfWork, language: Language, clock: Clock = utcnow
) -> None:
    """The citizen's data was erased: forget the referral here, then tell every
    organisation it was offered to to delete what it holds about it.

    Forgotten: every message about the referral, whoever it was to, with its read marks,
    and every delivery of the referral not yet made. A finished delivery keeps its record
    (to whom, how, the outcome, when, the id and type of the event it came of), which the
    delivery history and the published `delivery.recorded` refer to, but loses its body,
    the event as it was sent.
    """
    messages = uow.messages.remove_about_referral(event.referral_id)
    unsent = uow.deliveries.remove_unfinished_of_referral(event.referral_id)
    bodies = uow.deliveries.drop_bodies_of_referral(event.referral_id)
    log.info("referral.erased", messages=messages, unsent_deliveries=unsent, bodies=bodies)
    _request_deletion(event, DeletionCause.ERASED, uow, language, clock)
    uow.commit()


def _request_deletion(
    event: ConsentWithdrawn | ReferralErased,
    cause: DeletionCause,
    uow: UnitOfWork,
    language: Language,
    clock: Clock,
) -> None:
    fields = {"referral_id": event.referral_id, "cause": cause.value}
    now = clock()
    for organization_id in dict.fromkeys(event.organization_ids):
        # Each is sent the event naming only itself: which other organisations were
        # offered the citizen's referral is none of its business.
        own = event.model_copy(update={"organization_ids": [organization_id]})
        _tell_organization(uow, organization_id, own, "deletion_requested", fields, language, now)


def notify_operators_of_escalation(
    event: ReferralEscalated, uow: UnitOfWork, language: Language, clock: Clock = utcnow
) -> None:
    """Nothing (more) can be offered: a message in the operators' inbox, naming the
    district, why and the interests, for an operator to find a community by hand; and
    the operators of the district as they chose."""
    fields = {
        "referral_id": event.referral_id,
        "district": event.district,
        "reason": event.reason,
        "interests": event.interests,
    }
    _tell_operators(
        uow, _consumed(uow), event.referral_id, "referral_escalated", fields, language, clock()
    )
    uow.commit()


def notify_follow_up_due(
    event: FollowUpDue, uow: UnitOfWork, language: Language, clock: Clock = utcnow
) -> None:
    """Tell the accepting organisation that a follow-up is due, and where to report whether
    the citizen still takes part."""
    _tell_organization(
        uow,
        event.organization_id,
        event,
        "follow_up_due",
        _partners_follow_up_fields(event),
        language,
        clock(),
    )
    uow.commit()


def remind_of_overdue_follow_up(
    event: FollowUpOverdue, uow: UnitOfWork, language: Language, clock: Clock = utcnow
) -> None:
    """Remind the accepting organisation of a follow-up while its participation report is
    missing, as `notify_follow_up_due` told it. The reminder comes once per event: a
    redelivery is skipped by the consumer's inbox. When only the care system's answers are
    missing, nothing is sent (referrals reminds the care system itself) and the event is
    handled all the same."""
    if partner_is_waited_for(event.waiting_for):
        # Its own part only: whether the care system has asked the citizen is not its business.
        own = event.model_copy(update={"waiting_for": ["participation"]})
        _tell_organization(
            uow,
            event.organization_id,
            own,
            "follow_up_overdue",
            _partners_follow_up_fields(event),
            language,
            clock(),
        )
    else:
        log.info("follow_up.overdue.not_the_partners", follow_up=event.follow_up)
    uow.commit()


def notify_operators_of_follow_up_escalation(
    event: FollowUpEscalated, uow: UnitOfWork, language: Language, clock: Clock = utcnow
) -> None:
    """A follow-up is still unanswered after the reminder: the operators are told the
    district, which follow-up and what is missing, for an operator to step in."""
    fields = {
        **_follow_up_fields(event),
        "district": event.district,
        "waiting_for": event.waiting_for,
    }
    _tell_operators(
        uow, _consumed(uow), event.referral_id, "follow_up_escalated", fields, language, clock()
    )
    uow.commit()


def notify_volunteer_named(
    event: VolunteerNamed, uow: UnitOfWork, language: Language, clock: Clock = utcnow
) -> None:
    """Tell the volunteer the organisation named that they are to meet a citizen, as they
    (their organisation) chose: what they need to prepare, and no more. A volunteer who is
    unknown, another organisation's or no longer active is not told; the event is handled
    all the same."""
    found = uow.recipients.get(event.volunteer_id)
    if (
        found is None
        or found.kind is not RecipientKind.VOLUNTEER
        or found.organization_id != event.organization_id
    ):
        log.warning("volunteer_named.unknown_volunteer", volunteer_id=str(event.volunteer_id))
    else:
        fields = {
            "district": event.district,
            "preferred_times": event.preferred_times,
            "needs_accompaniment": event.needs_accompaniment,
        }
        _tell_person(
            uow, found, _consumed(uow), "volunteer_named", fields, clock(), event.referral_id
        )
    uow.commit()


def _follow_up_fields(event: FollowUpDue | FollowUpOverdue | FollowUpEscalated) -> Fields:
    return {"referral_id": event.referral_id, "follow_up": event.follow_up, "due": event.due_at}


def _partners_follow_up_fields(event: FollowUpDue | FollowUpOverdue) -> Fields:
    """What a partner is told of a follow-up, with where in the API to answer it."""
    return {
        **_follow_up_fields(event),
        "path": follow_up_path(event.referral_id, event.follow_up),
    }


def announce_pool(
    event: PoolOpened, uow: UnitOfWork, language: Language, clock: Clock = utcnow
) -> None:
    """A grant pool opened: a broadcast in every partner's inbox, a webhook to each partner
    endpoint that wants it, the event on every partner's topic, and every coordinator as
    they chose."""
    source = _consumed(uow)
    now = clock()
    fields = {
        "name": event.name,
        "budget_dkk": event.budget_dkk,
        "opens_on": event.opens_on,
        "closes_on": event.closes_on,
        "criteria": event.criteria,
    }
    _put_in_inbox(uow, Audience.PARTNERS, None, source, "pool_opened", fields, language, now)
    for endpoint in uow.webhooks.partners_enabled():
        if endpoint.wants(source.type):
            _queue_webhook(uow, endpoint, source, event, now)
    for organization_id in sorted(uow.partner_feeds.organizations()):
        uow.forward(event, partner_topic(organization_id))
    for coordinator in uow.recipients.coordinators(None):
        _tell_person(uow, coordinator, source, "pool_opened", fields, now)
    uow.commit()


def send_decision_letter(event: ApplicationDecided, uow: UnitOfWork, clock: Clock = utcnow) -> None:
    """An application was decided: the letter to the organisation that applied, naming the
    pool, the outcome, the amount granted and why. The reasons are the operator's words for
    the applicant: they go into the letter, never into a log line."""
    fields = {
        "pool_name": event.pool_name,
        "outcome": event.outcome,
        "amount_dkk": event.amount_dkk,
        "reasons": event.reasons,
    }
    _write_to_applicant(uow, event, "grant_decided", fields, clock())
    uow.commit()


def remind_of_overdue_report(event: ReportOverdue, uow: UnitOfWork, clock: Clock = utcnow) -> None:
    """A grant's report did not come by its due day: the organisation is reminded of the
    pool and the day, that the report blocks its next application until it arrives, and
    where to send it."""
    fields = {
        "pool_name": event.pool_name,
        "due_on": event.report_due_on,
        "path": report_path(event.application_id),
    }
    _write_to_applicant(uow, event, "grant_report_overdue", fields, clock())
    uow.commit()


def forward_to_care_system(event: CareSystemEvent, uow: UnitOfWork, clock: Clock = utcnow) -> None:
    """A referral's status changed (or a follow-up is due for the care system's answers):
    the event, as referrals published it, to each webhook endpoint of the care system that
    submitted the referral and wants it. No other care system hears of it."""
    source = _consumed(uow)
    now = clock()
    for endpoint in uow.webhooks.of_care_system(event.care_system):
        if endpoint.wants(source.type):
            _queue_webhook(uow, endpoint, source, event, now, event.referral_id)
    uow.commit()


Fields = dict[str, Any]
"""A message's template fields: codes, times and ids, never a citizen's personal data."""


def _tell_organization(
    uow: UnitOfWork,
    organization_id: UUID,
    event: ReferralEvent,
    kind: str,
    fields: Fields,
    language: Language,
    now: datetime,
) -> None:
    """The organisation gets the message about the event's referral in its inbox, its
    coordinators as each chose, and the event by webhook at each endpoint that wants it
    and on its topic."""
    source = _consumed(uow)
    _tell_organization_people(
        uow, organization_id, source, kind, fields, language, now, event.referral_id
    )
    _send_event_to_organization(uow, organization_id, source, event, now, event.referral_id)


def _write_to_applicant(
    uow: UnitOfWork,
    event: ApplicationDecided | ReportOverdue,
    kind: str,
    fields: Fields,
    now: datetime,
) -> None:
    """A letter about a grant application to the organisation that applied: in its inbox in
    the language the application was written in (not the service's), to its coordinators
    each in their own, and the event by webhook at each of its endpoints that wants it and
    on its topic."""
    source = _consumed(uow)
    language = Language(event.language)
    _tell_organization_people(uow, event.organization_id, source, kind, fields, language, now)
    _send_event_to_organization(uow, event.organization_id, source, event, now)


def _send_event_to_organization(
    uow: UnitOfWork,
    organization_id: UUID,
    source: SourceEvent,
    event: IntegrationEvent,
    now: datetime,
    referral_id: UUID | None = None,
) -> None:
    """The event, as the organisation may see it, to each of its webhook endpoints that
    wants it and, when it reads Kafka, on its own topic: the same data both ways."""
    for endpoint in uow.webhooks.of_organization(organization_id):
        if endpoint.wants(source.type):
            _queue_webhook(uow, endpoint, source, event, now, referral_id)
    if organization_id in uow.partner_feeds.organizations():
        uow.forward(event, partner_topic(organization_id))


def _tell_organization_people(
    uow: UnitOfWork,
    organization_id: UUID,
    source: SourceEvent,
    kind: str,
    fields: Fields,
    language: Language,
    now: datetime,
    referral_id: UUID | None = None,
) -> None:
    """The message in the organisation's inbox, and to its coordinators as each chose."""
    _put_in_inbox(
        uow,
        Audience.ORGANIZATION,
        organization_id,
        source,
        kind,
        fields,
        language,
        now,
        referral_id,
    )
    for coordinator in uow.recipients.coordinators(organization_id):
        _tell_person(uow, coordinator, source, kind, fields, now, referral_id)


def _tell_operators(
    uow: UnitOfWork,
    source: SourceEvent,
    referral_id: UUID | None,
    kind: str,
    fields: Fields,
    language: Language,
    now: datetime,
) -> None:
    """The operators get the message in the inbox they share; each operator who asked for
    the district (or for all) as they chose."""
    _put_in_inbox(uow, Audience.OPERATORS, None, source, kind, fields, language, now, referral_id)
    district = fields.get("district")
    for operator in uow.recipients.operators():
        if not operator.districts or district is None or district in operator.districts:
            _tell_person(uow, operator, source, kind, fields, now, referral_id)


def _tell_person(
    uow: UnitOfWork,
    recipient: Recipient,
    source: SourceEvent,
    kind: str,
    fields: Fields,
    now: datetime,
    referral_id: UUID | None = None,
) -> None:
    """An e-mail and an SMS to one person, each when their preferences say (or recorded as
    skipped when they leave it out), rendered in their language when sent."""
    if not recipient.active:
        return
    plan = {
        planned.via: planned
        for planned in recipient.preferences.plan(
            kind, recipient.kind, urgent=is_urgent(kind, fields, now), now=now
        )
    }
    for via, channel in ((Via.EMAIL, Channel.EMAIL), (Via.SMS, Channel.SMS)):
        if channel.value not in rendering.KINDS[kind] or not recipient.reachable_by(via):
            continue
        planned = plan.get(via)
        delivery = Delivery.to_person(
            recipient.id,
            recipient.organization_id,
            channel,
            kind,
            fields,
            source,
            now,
            at=planned.at if planned else None,
            digest=planned.digest if planned else False,
            referral_id=referral_id,
        )
        uow.deliveries.add(delivery)
        if delivery.status is DeliveryStatus.SKIPPED:
            uow.publish(events.delivery_recorded(delivery, recipient.kind.value))


def tell_about_webhook(
    uow: UnitOfWork,
    endpoint: WebhookEndpoint,
    kind: str,
    source: SourceEvent,
    language: Language,
    now: datetime,
) -> None:
    """Something happened to a webhook endpoint (it was disabled): its organisation and the
    operators are told, naming the owner and since when it failed."""
    owner = str(endpoint.organization_id or endpoint.care_system)
    fields = {"organization": owner, "failing_since": endpoint.failing_since or now}
    if endpoint.organization_id is not None:
        _tell_organization_people(
            uow, endpoint.organization_id, source, kind, fields, language, now
        )
    _tell_operators(uow, source, None, kind, fields, language, now)


def _consumed(uow: UnitOfWork) -> SourceEvent:
    if uow.consumed is None:
        raise RuntimeError("a consumer handler ran outside the transaction of a consumed event")
    return SourceEvent(UUID(uow.consumed.id), uow.consumed.type)


def _put_in_inbox(
    uow: UnitOfWork,
    audience: Audience,
    organization_id: UUID | None,
    source: SourceEvent,
    kind: str,
    fields: Fields,
    language: Language,
    now: datetime,
    referral_id: UUID | None = None,
) -> None:
    """The message, in `language` (the service's, or the one a letter is written in), in the
    audience's inbox: delivered (and the delivery published) as it is stored."""
    text = rendering.render(kind, rendering.INBOX, language, **fields).text
    message = Message(
        uuid4(),
        audience,
        organization_id,
        Template(kind),
        language,
        text,
        source,
        now,
        referral_id=referral_id,
    )
    uow.messages.add(message)
    delivery = Delivery.to_inbox(message)
    uow.deliveries.add(delivery)
    uow.publish(events.delivery_recorded(delivery, message.audience.value))


def _queue_webhook(
    uow: UnitOfWork,
    endpoint: WebhookEndpoint,
    source: SourceEvent,
    event: IntegrationEvent,
    now: datetime,
    referral_id: UUID | None = None,
) -> None:
    body = webhook_body(source.type, now, event.model_dump(mode="json"))
    uow.deliveries.add(
        Delivery.to_webhook(endpoint.id, endpoint.organization_id, source, body, now, referral_id)
    )


def inbox(
    reader: Reader,
    start_uow: UnitOfWorkFactory,
    *,
    unread_only: bool,
    limit: int,
    offset: int = 0,
) -> list[Message]:
    with start_uow() as uow:
        return uow.messages.for_reader(reader, unread_only=unread_only, limit=limit, offset=offset)


def inbox_size(reader: Reader, start_uow: UnitOfWorkFactory, *, unread_only: bool) -> int:
    """How many messages the reader's inbox holds (unread only, or all)."""
    with start_uow() as uow:
        return uow.messages.count_for_reader(reader, unread_only=unread_only)


def mark_read(
    message_id: UUID, reader: Reader, start_uow: UnitOfWorkFactory, clock: Clock = utcnow
) -> Message:
    """Mark a message read for the reader (an organisation, or one operator). The first
    time stands: whoever marks it again, later or at the same moment, gets that time back."""
    with start_uow() as uow:
        message = uow.messages.get_for_reader(message_id, reader)
        if message is None:
            raise MessageNotFound(f"no message {message_id} in the reader's inbox")
        if message.read_at is not None:
            return message
        uow.messages.mark_read(message_id, reader, clock())
        with contextlib.suppress(IntegrityError):  # a concurrent request marked it first
            uow.commit()
    # Read back the time that stands: a concurrent request may have marked the message
    # between this one's read and its write, and then the repository wrote nothing.
    with start_uow() as uow:
        marked = uow.messages.get_for_reader(message_id, reader)
    if marked is None:
        raise MessageNotFound(f"no message {message_id} in the reader's inbox")
    return marked


# --- webhook endpoints: a partner's or a care system's ------------------------------------

MAX_WEBHOOKS = 10
"""Endpoints per owner."""

PARTNER_EVENT_TYPES = frozenset(event.event_type for event in PARTNER_EVENTS)
"""What a partner's endpoint can be sent: what its topic carries."""


def _care_system_events(base: type[CareSystemEvent]) -> frozenset[str]:
    return frozenset(
        kind
        for sub in base.__subclasses__()
        for kind in (sub.event_type, *_care_system_events(sub))
    )


CARE_SYSTEM_EVENT_TYPES = _care_system_events(CareSystemEvent)
"""What a care system's endpoint can be sent: the status changes of its own referrals."""


def receivable_event_types(owner: Owner) -> frozenset[str]:
    return PARTNER_EVENT_TYPES if owner.organization_id is not None else CARE_SYSTEM_EVENT_TYPES


class UnknownEventType(ValueError):
    """Names the types its owner can never be sent; they are codes, not anyone's data."""


class TooManyWebhooks(Exception):
    pass


@dataclass(frozen=True)
class AddWebhook:
    owner: Owner
    url: str
    event_types: frozenset[str] = frozenset()
    """Empty: every type its owner can receive."""


def add_webhook(
    command: AddWebhook,
    start_uow: UnitOfWorkFactory,
    box: SecretBox,
    *,
    allow_private_targets: bool,
    clock: Clock = utcnow,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint with a new secret; returns it with the plain secret, which is shown
    once and stored only sealed."""
    check_webhook_url(command.url, allow_private=allow_private_targets)
    _check_event_types(command.owner, command.event_types)
    plain = new_secret()
    endpoint_id = uuid4()
    endpoint = WebhookEndpoint(
        id=endpoint_id,
        url=command.url,
        secret=box.seal(plain, endpoint_id),
        created_at=clock(),
        organization_id=command.owner.organization_id,
        care_system=command.owner.care_system,
        event_types=command.event_types,
    )
    with start_uow() as uow:
        # Two additions at the same moment may both pass at one below the cap: the cap is
        # against a partner's mistake, not a race it could win only against itself.
        if len(_endpoints_of(uow, command.owner)) >= MAX_WEBHOOKS:
            raise TooManyWebhooks(f"an owner has at most {MAX_WEBHOOKS} webhook endpoints")
        uow.webhooks.add(endpoint)
        uow.commit()
    log.info("webhook.added", webhook_id=str(endpoint.id))
    return endpoint, plain


def webhooks_of(owner: Owner, start_uow: UnitOfWorkFactory) -> list[WebhookEndpoint]:
    """The owner's endpoints, the oldest first."""
    with start_uow() as uow:
        return _endpoints_of(uow, owner)


def webhook_of(owner: Owner, webhook_id: UUID, start_uow: UnitOfWorkFactory) -> WebhookEndpoint:
    with start_uow() as uow:
        return _own_webhook(uow, owner, webhook_id)


@dataclass(frozen=True)
class ChangeWebhook:
    """Only what is given changes."""

    url: str | None = None
    event_types: frozenset[str] | None = None
    enable: bool = False
    """Turn a disabled endpoint on again."""


def change_webhook(
    owner: Owner,
    webhook_id: UUID,
    change: ChangeWebhook,
    start_uow: UnitOfWorkFactory,
    *,
    allow_private_targets: bool,
) -> WebhookEndpoint:
    if change.url is not None:
        check_webhook_url(change.url, allow_private=allow_private_targets)
    if change.event_types is not None:
        _check_event_types(owner, change.event_types)
    with start_uow() as uow:
        endpoint = _own_webhook(uow, owner, webhook_id)
        if change.url is not None:
            endpoint.url = change.url
        if change.event_types is not None:
            endpoint.event_types = change.event_types
        if change.enable:
            endpoint.enable()
        uow.webhooks.save(endpoint)
        uow.commit()
    log.info("webhook.changed", webhook_id=str(webhook_id), enabled=endpoint.enabled)
    return endpoint


def rotate_webhook_secret(
    owner: Owner,
    webhook_id: UUID,
    start_uow: UnitOfWorkFactory,
    box: SecretBox,
    overlap: timedelta,
    clock: Clock = utcnow,
) -> tuple[WebhookEndpoint, str]:
    """A new secret signs from now on, the one before too for `overlap`; returns the
    endpoint with the new plain secret, shown once."""
    plain = new_secret()
    with start_uow() as uow:
        endpoint = _own_webhook(uow, owner, webhook_id)
        endpoint.rotate(box.seal(plain, endpoint.id), clock(), overlap)
        uow.webhooks.save(endpoint)
        uow.commit()
    log.info("webhook.secret_rotated", webhook_id=str(webhook_id))
    return endpoint, plain


def remove_webhook(owner: Owner, webhook_id: UUID, start_uow: UnitOfWorkFactory) -> None:
    """Forget the endpoint; deliveries still pending to it fail at their next attempt."""
    with start_uow() as uow:
        _own_webhook(uow, owner, webhook_id)
        uow.webhooks.remove(webhook_id)
        uow.commit()
    log.info("webhook.removed", webhook_id=str(webhook_id))


def seal_legacy_secrets(start_uow: UnitOfWorkFactory, box: SecretBox) -> int:
    """Seal the secrets that migration 0006 moved over in the clear (it has no key); how
    many. Run at start-up: until then those endpoints are not used."""
    with start_uow() as uow:
        legacy = uow.webhooks.legacy_secrets()
        for endpoint_id, plain in legacy:
            uow.webhooks.seal_legacy(endpoint_id, box.seal(plain, endpoint_id))
        uow.commit()
    return len(legacy)


def _endpoints_of(uow: UnitOfWork, owner: Owner) -> list[WebhookEndpoint]:
    if owner.organization_id is not None:
        return uow.webhooks.of_organization(owner.organization_id)
    assert owner.care_system is not None  # an owner is one or the other
    return uow.webhooks.of_care_system(owner.care_system)


def _own_webhook(uow: UnitOfWork, owner: Owner, webhook_id: UUID) -> WebhookEndpoint:
    found = uow.webhooks.get(webhook_id)
    if found is None or not owner.owns(found):
        # The same for another owner's: whether it exists is none of the caller's business.
        raise WebhookNotFound(f"no webhook endpoint {webhook_id}")
    return found


def _check_event_types(owner: Owner, event_types: frozenset[str]) -> None:
    unknown = sorted(event_types - receivable_event_types(owner))
    if unknown:
        raise UnknownEventType(
            f"not an event type you can receive: {', '.join(unknown)}; see the description "
            "of `event_types`"
        )


def recent_deliveries(
    start_uow: UnitOfWorkFactory,
    *,
    status: DeliveryStatus | None,
    limit: int,
    channel: Channel | None = None,
) -> list[Delivery]:
    with start_uow() as uow:
        return uow.deliveries.recent(status, limit, channel)


# --- recipients: volunteers and everyone's preferences ------------------------------------


class VolunteerNotFound(Exception):
    """No such volunteer of this organisation; the text never names another's."""


@dataclass(frozen=True)
class RegisterVolunteer:
    organization_id: UUID
    name: str
    language: Language
    email: str | None = None
    phone: str | None = None
    """E.164."""
    active: bool = True


def register_volunteer(
    command: RegisterVolunteer, start_uow: UnitOfWorkFactory, clock: Clock = utcnow
) -> Recipient:
    volunteer = Recipient(
        id=uuid4(),
        kind=RecipientKind.VOLUNTEER,
        language=command.language.value,
        organization_id=command.organization_id,
        name=command.name,
        email=command.email,
        phone=command.phone,
        active=command.active,
    )
    with start_uow() as uow:
        uow.recipients.add(volunteer, now=clock())
        uow.commit()
    return volunteer


def volunteer(organization_id: UUID, volunteer_id: UUID, start_uow: UnitOfWorkFactory) -> Recipient:
    with start_uow() as uow:
        return _own_volunteer(uow, organization_id, volunteer_id)


def volunteers(
    organization_id: UUID, offset: int, limit: int, start_uow: UnitOfWorkFactory
) -> tuple[list[Recipient], int]:
    with start_uow() as uow:
        return uow.recipients.volunteers(organization_id, offset, limit)


def change_volunteer(
    organization_id: UUID,
    volunteer_id: UUID,
    changes: dict[str, Any],
    start_uow: UnitOfWorkFactory,
) -> Recipient:
    """Only the fields in `changes` (name, email, phone, language, active); `None` clears
    e-mail or phone."""
    with start_uow() as uow:
        changed = replace(_own_volunteer(uow, organization_id, volunteer_id), **changes)
        uow.recipients.save(changed)
        uow.commit()
    return changed


def _own_volunteer(uow: UnitOfWork, organization_id: UUID, volunteer_id: UUID) -> Recipient:
    found = uow.recipients.get(volunteer_id)
    if (
        found is None
        or found.kind is not RecipientKind.VOLUNTEER
        or found.organization_id != organization_id
    ):
        raise VolunteerNotFound(f"no volunteer {volunteer_id}")
    return found


@dataclass(frozen=True)
class SignedIn:
    """Whoever calls: a coordinator of an organisation, an operator or a care system."""

    kind: RecipientKind
    subject: str
    organization_id: UUID | None = None


def preferences_of(caller: SignedIn, start_uow: UnitOfWorkFactory, language: Language) -> Recipient:
    """The caller's own recipient record; as the defaults say until they set it."""
    with start_uow() as uow:
        found = uow.recipients.by_subject(caller.kind, caller.subject)
    return found or _new_recipient(caller, language)


def set_preferences(
    caller: SignedIn,
    contact: dict[str, Any],
    preferences: Preferences,
    start_uow: UnitOfWorkFactory,
    language: Language,
    clock: Clock = utcnow,
) -> Recipient:
    """Replace how the caller is reached (e-mail, phone, language, districts) and their
    preferences; the first time, the record is made."""
    with start_uow() as uow:
        found = uow.recipients.by_subject(caller.kind, caller.subject)
        updated = replace(found or _new_recipient(caller, language), **contact)
        updated.preferences = preferences
        if found is None:
            uow.recipients.add(updated, now=clock())
        else:
            uow.recipients.save(updated)
        uow.commit()
    return updated


def _new_recipient(caller: SignedIn, language: Language) -> Recipient:
    return Recipient(
        id=uuid4(),
        kind=caller.kind,
        language=language.value,
        organization_id=caller.organization_id,
        subject=caller.subject,
    )
