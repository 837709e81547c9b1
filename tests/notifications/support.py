"""What the notifications tests share: the readers, the time, and the real consumer path to
consume events through."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from uuid import UUID, uuid4

from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from contracts import (
    ApplicationDecided,
    ConsentWithdrawn,
    FollowUpDue,
    FollowUpEscalated,
    FollowUpOverdue,
    ReferralErased,
    ReportOverdue,
)
from contracts.referrals import (
    CareFollowUpDue,
    FollowUpPart,
    ReferralStatusChanged,
    VolunteerNamed,
)
from notifications import consumers, sending, services
from notifications.channels.webhook import Resolve
from notifications.dispatcher import Dispatcher, Senders
from notifications.domain import (
    Channel,
    Delivery,
    Language,
    OperatorReader,
    PartnerReader,
    RetryPolicy,
)
from notifications.recipients import Preferences, RecipientKind
from notifications.sealing import SecretBox
from notifications.services import Clock, UnitOfWorkFactory
from notifications.store import NotificationsUnitOfWork
from notifications.webhooks import Owner, WebhookEndpoint
from runtime.consumer import EventConsumer, IncomingRecord
from runtime.storage import UnitOfWork, utcnow
from tests.conftest import TEST_SECRETS

ORG = uuid4()
OTHER_ORG = uuid4()
PARTNER = PartnerReader(ORG)
OTHER_PARTNER = PartnerReader(OTHER_ORG)
OPERATOR = OperatorReader("operator-anna")
OTHER_OPERATOR = OperatorReader("operator-bo")
NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
LEASE = timedelta(seconds=30)
BOX = SecretBox.parse(TEST_SECRETS["NOTIFICATIONS_WEBHOOK_SECRET_KEYS"])
"""The keys the services under test seal webhook secrets with."""
LINKS = sending.Links("https://brobygger.example.dk")
DISABLE_AFTER = timedelta(days=3)
"""How long an endpoint of the tests fails before it is disabled."""
CARE_SYSTEM = "care-system-a"


def add_webhook(
    start_uow: UnitOfWorkFactory,
    url: str = "https://partner.example/hook",
    organization_id: UUID = ORG,
    *,
    allow_private_targets: bool = True,
    clock: Clock = utcnow,
) -> tuple[WebhookEndpoint, str]:
    """An endpoint of the organisation's, wanting everything: it and its plain secret."""
    command = services.AddWebhook(Owner(organization_id=organization_id), url)
    return services.add_webhook(
        command, start_uow, BOX, allow_private_targets=allow_private_targets, clock=clock
    )


def claim_webhooks(
    start_uow: UnitOfWorkFactory, clock: Clock, *, limit: int = 10
) -> list[sending.WebhookAttempt]:
    """One dispatcher's claim of the due webhook deliveries, each held for LEASE."""
    attempts = sending.claim_due(
        start_uow, channels=[Channel.WEBHOOK], links=LINKS, lease=LEASE, limit=limit, clock=clock
    )
    webhooks = [a for a in attempts if isinstance(a, sending.WebhookAttempt)]
    assert webhooks == attempts, "only webhooks were claimed"
    return webhooks


def record_outcome(
    start_uow: UnitOfWorkFactory,
    delivery_id: UUID,
    error: str | None,
    *,
    policy: RetryPolicy,
    clock: Clock,
    language: Language = Language.DA,
) -> Delivery | None:
    """Record one attempt as the dispatcher does: None when it worked, else `error`."""
    return sending.record_outcome(
        sending.RecordOutcome(delivery_id, error),
        start_uow,
        policy,
        disable_webhooks_after=DISABLE_AFTER,
        language=language,
        clock=clock,
    )


def webhook_dispatcher(
    start_uow: UnitOfWorkFactory,
    clock: Clock,
    *,
    policy: RetryPolicy,
    resolve: Resolve,
    box: SecretBox = BOX,
    allow_private_targets: bool = True,
    timeout_seconds: float = 5,
) -> Dispatcher:
    """A dispatcher with no mail server or SMS gateway: it sends webhooks only, on the
    test's clock, opening their secrets with `box` and resolving names with `resolve`."""
    return Dispatcher(
        start_uow,
        Senders(box=box, resolve=resolve),
        policy=policy,
        links=LINKS,
        language=Language.DA,
        disable_webhooks_after=DISABLE_AFTER,
        poll_seconds=0.05,
        timeout_seconds=timeout_seconds,
        allow_private_targets=allow_private_targets,
        clock=clock,
    )


def consent_withdrawn(referral_id: UUID, *organization_ids: UUID) -> ConsentWithdrawn:
    """The citizen withdrew consent to the referral, offered to `organization_ids`."""
    return ConsentWithdrawn(
        referral_id=referral_id, organization_ids=list(organization_ids), withdrawn_at=NOW
    )


def referral_erased(referral_id: UUID, *organization_ids: UUID) -> ReferralErased:
    """The citizen's data was erased; the referral was offered to `organization_ids`."""
    return ReferralErased(
        referral_id=referral_id, organization_ids=list(organization_ids), erased_at=NOW
    )


DUE_AT = datetime(2026, 12, 20, 9, 0, tzinfo=UTC)
"""When the follow-ups of the tests fell due: 20.12.2026 10:00 on Copenhagen's clock."""


def follow_up_due(
    organization_id: UUID = ORG,
    *,
    referral_id: UUID | None = None,
    follow_up: int = 1,
    wellbeing_expected: bool = True,
) -> FollowUpDue:
    """Follow-up `follow_up` of a referral the organisation accepted fell due at DUE_AT."""
    return FollowUpDue(
        referral_id=referral_id or uuid4(),
        organization_id=organization_id,
        service_id=uuid4(),
        follow_up=follow_up,
        due_at=DUE_AT,
        wellbeing_expected=wellbeing_expected,
    )


def follow_up_overdue(
    *waiting_for: FollowUpPart, organization_id: UUID = ORG, follow_up: int = 1
) -> FollowUpOverdue:
    """The reminder of follow-up `follow_up`, due at DUE_AT, still `waiting_for` parts."""
    return FollowUpOverdue(
        referral_id=uuid4(),
        organization_id=organization_id,
        service_id=uuid4(),
        follow_up=follow_up,
        due_at=DUE_AT,
        waiting_for=list(waiting_for),
    )


def follow_up_escalated(
    *waiting_for: FollowUpPart, district: str = "Nørrebro", follow_up: int = 2
) -> FollowUpEscalated:
    """Follow-up `follow_up`, due at DUE_AT, still `waiting_for` parts after the reminder."""
    return FollowUpEscalated(
        referral_id=uuid4(),
        organization_id=ORG,
        service_id=uuid4(),
        district=district,
        follow_up=follow_up,
        due_at=DUE_AT,
        waiting_for=list(waiting_for),
    )


def referral_status_changed(care_system: str = CARE_SYSTEM) -> ReferralStatusChanged:
    """A referral the care system submitted was offered."""
    return ReferralStatusChanged(
        referral_id=uuid4(),
        care_system=care_system,
        care_record_reference="EPJ-1234",
        status="offered",
        previous_status="submitted",
        reason=None,
        changed_at=NOW,
    )


def care_follow_up_due(care_system: str = CARE_SYSTEM) -> CareFollowUpDue:
    """The first follow-up of a referral the care system submitted fell due at DUE_AT."""
    return CareFollowUpDue(
        referral_id=uuid4(),
        care_system=care_system,
        care_record_reference=None,
        follow_up=1,
        due_at=DUE_AT,
        wellbeing_expected=True,
    )


def people_to_tell(start_uow: UnitOfWorkFactory) -> dict[RecipientKind, UUID]:
    """A coordinator of ORG and an operator of every district, each with an e-mail address
    and the default preferences: their ids."""
    ids = {}
    for kind, subject, organization_id in (
        (RecipientKind.COORDINATOR, "coordinator-1", ORG),
        (RecipientKind.OPERATOR, "operator-1", None),
    ):
        caller = services.SignedIn(kind, subject, organization_id)
        contact = {"email": f"{subject}@example.dk"}
        person = services.set_preferences(caller, contact, Preferences(), start_uow, Language.DA)
        ids[kind] = person.id
    return ids


StartUow = Callable[[], NotificationsUnitOfWork]


def units_of_work(engine: Engine) -> StartUow:
    """Units of work on `engine`'s (migrated) notifications database."""
    factory = sessionmaker(engine, class_=Session, expire_on_commit=False)
    return lambda: NotificationsUnitOfWork(factory, "/brobygger/notifications")


async def consume(
    start_uow: Callable[[], UnitOfWork], *records: IncomingRecord, clock: Clock = utcnow
) -> list[str]:
    """Run records through the runtime's consumer, the handlers reading `clock`; returns
    the reasons of any dead letters."""
    dead_letters: list[str] = []

    async def publish_raw(
        topic: str, key: bytes | None, value: bytes, headers: dict[str, str]
    ) -> None:
        dead_letters.append(headers["dlq_reason"])

    consumer = EventConsumer(
        group_id="brobygger-notifications",
        handlers=consumers.handlers(Language.DA, clock),
        uow_factory=start_uow,
        dead_letter_topic="notifications.deadletter.v1",
        publish_raw=publish_raw,
        max_attempts=1,
    )
    for record in records:
        await consumer.handle(record)
    return dead_letters


def volunteer_named(volunteer_id: UUID, organization_id: UUID = ORG) -> VolunteerNamed:
    """The organisation named the volunteer to meet a citizen of Nørrebro, in the morning."""
    return VolunteerNamed(
        referral_id=uuid4(),
        organization_id=organization_id,
        service_id=uuid4(),
        volunteer_id=volunteer_id,
        district="Nørrebro",
        languages=["da"],
        needs_accompaniment=True,
        preferred_times=["morning"],
        named_at=NOW,
    )


ApplicationLanguage = Literal["da", "sv", "en"]
POOL_NAME = "Nye fællesskaber 2026"
REASONS = "Ett starkt projekt; budgeten för förtäring har minskats."
"""An operator's reasons for a decision, in the language the application was written in."""
REPORT_DUE_ON = date(2027, 6, 1)


def application_decided(
    organization_id: UUID = ORG,
    *,
    language: ApplicationLanguage = "sv",
    outcome: Literal["approved", "partly_approved", "rejected"] = "partly_approved",
    amount_dkk: int = 45_000,
) -> ApplicationDecided:
    """The organisation's application to POOL_NAME, written in `language`, was decided at
    NOW, for REASONS."""
    return ApplicationDecided(
        application_id=uuid4(),
        pool_id=uuid4(),
        organization_id=organization_id,
        outcome=outcome,
        amount_dkk=amount_dkk,
        reasons=REASONS,
        decided_at=NOW,
        pool_name=POOL_NAME,
        language=language,
    )


def report_overdue(
    organization_id: UUID = ORG, *, language: ApplicationLanguage = "da"
) -> ReportOverdue:
    """The report on the organisation's grant from POOL_NAME, due on REPORT_DUE_ON, is late."""
    return ReportOverdue(
        application_id=uuid4(),
        pool_id=uuid4(),
        organization_id=organization_id,
        report_due_on=REPORT_DUE_ON,
        pool_name=POOL_NAME,
        language=language,
    )
