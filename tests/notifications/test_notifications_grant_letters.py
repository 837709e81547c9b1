"""Letters about grant applications, on fakes: the decision letter and the reminder of an
overdue report reach the organisation that applied, in the language it applied in, its
coordinators each in their own, and its webhook endpoints; nobody else."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from uuid import UUID, uuid4

import pytest

from contracts import (
    ApplicationDecided,
    ApplicationSubmitted,
    DeliveryRecorded,
    IntegrationEvent,
    PoolOpened,
    ReportOverdue,
)
from notifications import consumers, sending, services
from notifications.domain import (
    Audience,
    Channel,
    DeliveryStatus,
    Language,
    Message,
    Reader,
    RetryPolicy,
    Template,
)
from notifications.recipients import Preferences, QuietHours, Recipient, RecipientKind
from notifications.rendering import EMAIL, INBOX, render
from notifications.webhooks import Owner, WebhookEndpoint, new_secret
from runtime.logs import configure_logging
from tests.conftest import log_events
from tests.fakes import FakeClock
from tests.kit import record_of
from tests.notifications.fakes import FakeUnitOfWork
from tests.notifications.support import (
    BOX,
    NOW,
    ORG,
    OTHER_ORG,
    OTHER_PARTNER,
    PARTNER,
    POOL_NAME,
    REASONS,
    ApplicationLanguage,
    application_decided,
    consume,
    report_overdue,
)

LINKS = sending.Links("https://brobygger.example.dk")
NIGHT = datetime(2026, 11, 22, 22, 30, tzinfo=UTC)  # 23:30 in Copenhagen
MORNING = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)  # 07:00 in Copenhagen
POLICY = RetryPolicy(max_attempts=3, first_delay=timedelta(minutes=1))


def coordinator(
    organization_id: UUID = ORG, *, language: str = "da", preferences: Preferences | None = None
) -> Recipient:
    return Recipient(
        id=uuid4(),
        kind=RecipientKind.COORDINATOR,
        language=language,
        organization_id=organization_id,
        subject=f"coordinator-{uuid4()}",
        email=f"{uuid4().hex[:8]}@example.dk",
        preferences=preferences or Preferences(),
    )


def webhook(
    uow: FakeUnitOfWork, organization_id: UUID = ORG, event_types: frozenset[str] = frozenset()
) -> WebhookEndpoint:
    endpoint_id = uuid4()
    endpoint = WebhookEndpoint(
        id=endpoint_id,
        url="https://partner.example/hook",
        secret=BOX.seal(new_secret(), endpoint_id),
        created_at=NOW - timedelta(days=1),
        organization_id=organization_id,
        event_types=event_types,
    )
    uow.webhooks.add(endpoint)
    return endpoint


def with_people(*people: Recipient) -> FakeUnitOfWork:
    uow = FakeUnitOfWork()
    for one in people:
        uow.recipients.add(one, now=NOW)
    return uow


def handle(event: IntegrationEvent, uow: FakeUnitOfWork, now: datetime = NOW) -> FakeUnitOfWork:
    """Consume `event` through its subscriber, the service's own language being Danish."""
    consuming = uow.consuming(event.event_type)
    consumers.handlers(Language.DA, FakeClock(now))[type(event)](event, consuming)
    return consuming


def inbox_of(uow: FakeUnitOfWork, reader: Reader = PARTNER) -> list[Message]:
    return uow.messages.for_reader(reader, unread_only=False, limit=10)


def emails(uow: FakeUnitOfWork, now: datetime = NOW) -> list[sending.EmailAttempt]:
    attempts = sending.claim_due(
        uow,
        channels=[Channel.EMAIL],
        links=LINKS,
        lease=timedelta(minutes=2),
        limit=50,
        clock=FakeClock(now),
    )
    sent = [a for a in attempts if isinstance(a, sending.EmailAttempt)]
    assert sent == attempts
    return sent


def webhook_data(uow: FakeUnitOfWork) -> list[tuple[UUID | None, str, object]]:
    return [
        (d.organization_id, json.loads(d.body)["type"], json.loads(d.body)["data"])
        for d in uow.deliveries.of_channel(Channel.WEBHOOK)
        if d.body
    ]


# --- the decision letter ---------------------------------------------------------------------


def test_the_letter_is_in_the_organisations_inbox_in_swedish_when_the_application_was() -> None:
    uow = handle(application_decided(language="sv"), FakeUnitOfWork())

    [letter] = inbox_of(uow)

    assert letter.text == (
        f"Beslut om er ansökan till bidragspotten {POOL_NAME}: den har delvis beviljats, och "
        f"ni får 45\N{NO-BREAK SPACE}000 kr i bidrag. Motivering: {REASONS}"
    )
    assert (letter.language, letter.template, letter.audience) == (
        Language.SV,
        Template.GRANT_DECIDED,
        Audience.ORGANIZATION,
    )
    assert (letter.organization_id, letter.referral_id, letter.created_at) == (ORG, None, NOW)
    [recorded] = uow.committed_events
    assert isinstance(recorded, DeliveryRecorded)
    assert (recorded.organization_id, recorded.channel, recorded.source_event_type) == (
        ORG,
        "inbox",
        ApplicationDecided.event_type,
    )
    assert uow.commits == 1


def test_a_coordinator_gets_the_letter_by_e_mail_in_their_own_language() -> None:
    english = coordinator(language="en")
    uow = handle(application_decided(language="sv"), with_people(english))

    [email] = emails(uow)

    assert email.to == english.email
    assert email.subject == f"Decision on your application to {POOL_NAME}"
    assert email.text.startswith(
        f"Your application to the grant pool {POOL_NAME} has been partly approved, and you are "
        "granted DKK 45,000.\n\n"
        f"Reasons: {REASONS}\n\n"
    )
    assert f"<{LINKS.app_url}/inbox>" in email.text


def test_a_rejection_says_so_kindly_with_its_reasons_and_no_amount() -> None:
    uow = handle(
        application_decided(language="da", outcome="rejected", amount_dkk=0), FakeUnitOfWork()
    )

    [letter] = inbox_of(uow)

    assert letter.text == (
        f"Afgørelse på jeres ansøgning til puljen {POOL_NAME}: den er desværre ikke imødekommet. "
        f"Begrundelse: {REASONS}"
    )


def test_another_organisation_hears_nothing_of_the_decision() -> None:
    ours, theirs = coordinator(), coordinator(OTHER_ORG)
    uow = with_people(ours, theirs)
    webhook(uow)
    webhook(uow, OTHER_ORG)
    event = application_decided()

    handle(event, uow)

    assert inbox_of(uow, OTHER_PARTNER) == []
    told = {d.recipient_id for d in uow.deliveries.rows.values() if d.recipient_id}
    assert told == {ours.id}
    assert webhook_data(uow) == [(ORG, event.event_type, event.model_dump(mode="json"))]


def test_the_decision_goes_only_to_the_organisations_endpoints_that_want_it() -> None:
    uow = FakeUnitOfWork()
    wants = webhook(uow, event_types=frozenset({ApplicationDecided.event_type}))
    webhook(uow, event_types=frozenset({PoolOpened.event_type}))

    handle(application_decided(), uow)

    [queued] = uow.deliveries.of_channel(Channel.WEBHOOK)
    assert (queued.webhook_id, queued.status, queued.referral_id) == (
        wants.id,
        DeliveryStatus.PENDING,
        None,
    )


def test_a_partner_can_have_its_endpoint_sent_decisions_and_reminders() -> None:
    receivable = services.receivable_event_types(Owner(organization_id=ORG))
    assert {ApplicationDecided.event_type, ReportOverdue.event_type} <= receivable


async def test_a_redelivered_decision_does_not_make_a_second_letter() -> None:
    uow = with_people(coordinator())
    webhook(uow)
    record = record_of(application_decided())

    for _ in range(2):
        assert await consume(uow, record, clock=FakeClock(NOW)) == []  # type: ignore[arg-type]

    assert [m.template for m in uow.messages.rows.values()] == [Template.GRANT_DECIDED]
    assert len(uow.deliveries.of_channel(Channel.EMAIL)) == 1
    assert len(uow.deliveries.of_channel(Channel.WEBHOOK)) == 1
    assert [
        e.source_event_type for e in uow.committed_events if isinstance(e, DeliveryRecorded)
    ] == [ApplicationDecided.event_type]


async def test_an_application_submitted_is_let_pass_without_a_message_or_a_dead_letter() -> None:
    uow = with_people(coordinator())
    webhook(uow)
    submitted = ApplicationSubmitted(
        application_id=uuid4(),
        pool_id=uuid4(),
        organization_id=ORG,
        amount_dkk=45_000,
        short_form=False,
        eligible=True,
        failed_rules=[],
        submitted_at=NOW,
    )

    record = record_of(submitted)
    assert await consume(uow, record, clock=FakeClock(NOW)) == []  # type: ignore[arg-type]

    assert uow.messages.rows == {}
    assert uow.deliveries.rows == {}


async def test_the_reasons_reach_the_letter_and_never_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    configure_logging("notifications-test")
    caplog.set_level("DEBUG")
    uow = with_people(coordinator())
    webhook(uow)

    record = record_of(application_decided())
    assert await consume(uow, record, clock=FakeClock(NOW)) == []  # type: ignore[arg-type]
    [email] = emails(uow)
    sending.record_outcome(
        sending.RecordOutcome(email.delivery_id, None),
        uow,
        POLICY,
        disable_webhooks_after=timedelta(days=3),
        language=Language.DA,
        clock=FakeClock(NOW),
    )

    assert REASONS in email.text
    assert "consumer.processed" in [line["event"] for line in log_events(caplog)]
    assert "förtäring" not in caplog.text


def test_a_letter_is_not_urgent_it_waits_for_quiet_hours_and_the_digest() -> None:
    quiet = coordinator(preferences=Preferences(quiet_hours=QuietHours(time(22), time(7))))
    digest = coordinator(preferences=Preferences(digest_hour=8))
    uow = with_people(quiet, digest)

    handle(application_decided(), uow, NIGHT)
    handle(report_overdue(), uow, NIGHT)

    assert emails(uow, NIGHT) == []
    by_recipient = {
        (d.recipient_id, d.kind): (d.next_attempt_at, d.digest)
        for d in uow.deliveries.of_channel(Channel.EMAIL)
    }
    eight = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)  # 08:00 in Copenhagen
    assert by_recipient == {
        (quiet.id, "grant_decided"): (MORNING, False),
        (quiet.id, "grant_report_overdue"): (MORNING, False),
        (digest.id, "grant_decided"): (eight, True),
        (digest.id, "grant_report_overdue"): (eight, True),
    }


# --- the reminder of an overdue report --------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "text"),
    [
        (
            "da",
            f"Påmindelse: rapporten om jeres tilskud fra puljen {POOL_NAME} skulle være sendt "
            "senest 01.06.2027. Indtil den er kommet, kan I ikke søge tilskud igen. Send den her: "
            "POST /applications/{id}/report",
        ),
        (
            "sv",
            f"Påminnelse: rapporten om ert bidrag från bidragspotten {POOL_NAME} skulle ha "
            "skickats senast 2027-06-01. Tills den har kommit in kan ni inte söka bidrag igen. "
            "Skicka den här: POST /applications/{id}/report",
        ),
        (
            "en",
            f"Reminder: the report on your grant from the grant pool {POOL_NAME} was due on "
            "1 June 2027. Until it arrives, you cannot apply for another grant. Send it here: "
            "POST /applications/{id}/report",
        ),
    ],
)
def test_the_reminder_names_the_due_day_that_it_blocks_the_next_application_and_where_to_send(
    language: ApplicationLanguage, text: str
) -> None:
    event = report_overdue(language=language)
    uow = handle(event, FakeUnitOfWork())

    [reminder] = inbox_of(uow)

    assert reminder.text == text.format(id=event.application_id)
    assert (reminder.language, reminder.template) == (
        Language(language),
        Template.GRANT_REPORT_OVERDUE,
    )
    assert uow.commits == 1


def test_the_reminder_reaches_the_organisations_coordinators_and_endpoints_only() -> None:
    ours, theirs = coordinator(language="sv"), coordinator(OTHER_ORG)
    uow = with_people(ours, theirs)
    webhook(uow)
    webhook(uow, OTHER_ORG)
    event = report_overdue(language="en")

    handle(event, uow)

    [email] = emails(uow)
    assert email.to == ours.email
    assert email.subject == f"Påminnelse: rapporten om ert bidrag från {POOL_NAME}"
    assert "senast 2027-06-01" in email.text
    told = {d.recipient_id for d in uow.deliveries.rows.values() if d.recipient_id}
    assert told == {ours.id}
    assert inbox_of(uow, OTHER_PARTNER) == []
    assert webhook_data(uow) == [(ORG, event.event_type, event.model_dump(mode="json"))]


# --- the templates ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "granted"),
    [
        (Language.DA, "og I får 1.234.567 kr. i tilskud."),
        (Language.SV, "och ni får 1\N{NO-BREAK SPACE}234\N{NO-BREAK SPACE}567 kr i bidrag."),
        (Language.EN, "and you are granted DKK 1,234,567."),
    ],
)
@pytest.mark.parametrize("outcome", ["approved", "partly_approved"])
def test_a_grant_is_written_as_each_language_writes_amounts_in_the_inbox_and_the_e_mail(
    language: Language, granted: str, outcome: str
) -> None:
    fields = {
        "pool_name": POOL_NAME,
        "outcome": outcome,
        "amount_dkk": 1_234_567,
        "reasons": REASONS,
        "url": f"{LINKS.app_url}/inbox",
    }
    for channel in (INBOX, EMAIL):
        rendered = render("grant_decided", channel, language, **fields)
        assert granted in rendered.text
        assert REASONS in rendered.text
        assert POOL_NAME in rendered.text
