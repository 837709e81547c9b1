"""E-mails and SMS to people, on fakes: who is told of what, when their preferences say
(quiet hours, the daily digest, channels left out), rendered in their language when sent,
retried with back-off; and the delivery events of each."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from uuid import UUID, uuid4

import pytest

from contracts import DeliveryRecorded, IntegrationEvent
from notifications import consumers, sending
from notifications.domain import Channel, Delivery, DeliveryStatus, Language, RetryPolicy
from notifications.recipients import Preferences, QuietHours, Recipient, RecipientKind, Via
from tests.events import referral_escalated, referral_offered
from tests.fakes import FakeClock
from tests.notifications.fakes import FakeUnitOfWork
from tests.notifications.support import ORG, OTHER_ORG, volunteer_named

# 23:30 in Copenhagen (CET): inside quiet hours of 22:00-07:00.
NIGHT = datetime(2026, 11, 22, 22, 30, tzinfo=UTC)
MORNING = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)  # 07:00 in Copenhagen
DAY = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)  # 10:30 in Copenhagen
LINKS = sending.Links("https://brobygger.example.dk")
LEASE = timedelta(minutes=2)
POLICY = RetryPolicy(max_attempts=3, first_delay=timedelta(minutes=1), jitter=0.2)
EMAIL_AND_SMS = frozenset({Channel.EMAIL, Channel.SMS})


def person(
    kind: RecipientKind,
    *,
    language: str = "da",
    organization_id: UUID | None = ORG,
    preferences: Preferences | None = None,
    phone: str | None = None,
    districts: frozenset[str] = frozenset(),
) -> Recipient:
    return Recipient(
        id=uuid4(),
        kind=kind,
        language=language,
        organization_id=organization_id,
        subject=None if kind is RecipientKind.VOLUNTEER else f"{kind}-{uuid4()}",
        name="Kirsten Madsen",
        email=f"{uuid4().hex[:8]}@example.dk",
        phone=phone,
        districts=districts,
        preferences=preferences or Preferences(),
    )


def with_people(*people: Recipient) -> FakeUnitOfWork:
    uow = FakeUnitOfWork()
    for one in people:
        uow.recipients.add(one, now=DAY)
    return uow


def handle(event: IntegrationEvent, uow: FakeUnitOfWork, now: datetime) -> None:
    consuming = uow.consuming(event.event_type)
    consumers.handlers(Language.DA, FakeClock(now))[type(event)](event, consuming)


def claim(uow: FakeUnitOfWork, now: datetime) -> list[sending.Attempt]:
    return sending.claim_due(
        uow, channels=EMAIL_AND_SMS, links=LINKS, lease=LEASE, limit=50, clock=FakeClock(now)
    )


def record(
    uow: FakeUnitOfWork, delivery_id: UUID, now: datetime, error: str | None = None, **kw: bool
) -> Delivery | None:
    return sending.record_outcome(
        sending.RecordOutcome(delivery_id, error, **kw),
        uow,
        POLICY,
        disable_webhooks_after=timedelta(days=3),
        language=Language.DA,
        clock=FakeClock(now),
    )


def personal(uow: FakeUnitOfWork) -> list[Delivery]:
    return [d for d in uow.deliveries.rows.values() if d.channel in EMAIL_AND_SMS]


def recorded(uow: FakeUnitOfWork) -> list[DeliveryRecorded]:
    return [e for e in uow.committed_events if isinstance(e, DeliveryRecorded)]


# --- volunteers -------------------------------------------------------------------------------


def test_a_named_volunteer_is_emailed_in_their_language_and_told_nothing_of_the_citizen() -> None:
    volunteer = person(RecipientKind.VOLUNTEER, language="sv")
    uow = with_people(volunteer)
    handle(volunteer_named(volunteer.id), uow, DAY)

    [email] = claim(uow, DAY)

    assert isinstance(email, sending.EmailAttempt)
    assert email.to == volunteer.email
    assert email.subject == "Du ska träffa en person"
    assert "samordnare" in email.text
    for detail in ("Nørrebro", "morgon", "Kirsten"):
        assert detail not in email.text and detail not in email.html
    assert "https://brobygger.example.dk/referrals/" in email.text


def test_a_volunteer_of_another_organisation_or_no_longer_active_is_not_told() -> None:
    theirs = person(RecipientKind.VOLUNTEER, organization_id=OTHER_ORG)
    retired = person(RecipientKind.VOLUNTEER)
    retired.active = False
    uow = with_people(theirs, retired)

    handle(volunteer_named(theirs.id), uow, DAY)
    handle(volunteer_named(retired.id), uow, DAY)
    handle(volunteer_named(uuid4()), uow, DAY)

    assert personal(uow) == []
    assert uow.commits == 3, "each event is handled all the same"


def test_a_volunteer_with_a_phone_who_chose_sms_gets_an_sms_with_no_detail() -> None:
    volunteer = person(
        RecipientKind.VOLUNTEER,
        language="en",
        phone="+4512345678",
        preferences=Preferences(channels={"volunteer_named": frozenset({Via.SMS})}),
    )
    uow = with_people(volunteer)
    handle(volunteer_named(volunteer.id), uow, DAY)

    [sms] = claim(uow, DAY)

    assert isinstance(sms, sending.SmsAttempt)
    assert sms.to == "+4512345678"
    assert sms.text.startswith("Brobygger: You are to meet a citizen.")
    assert "Nørrebro" not in sms.text
    [skipped] = [d for d in personal(uow) if d.channel is Channel.EMAIL]
    assert skipped.status is DeliveryStatus.SKIPPED


# --- when: quiet hours, urgency, digests ------------------------------------------------------


QUIET = Preferences(quiet_hours=QuietHours(time(22), time(7)))


def test_quiet_hours_hold_an_email_until_they_end_in_the_morning() -> None:
    coordinator = person(RecipientKind.COORDINATOR, preferences=QUIET)
    uow = with_people(coordinator)
    offer = referral_offered(organization_id=ORG, expires_at=NIGHT + timedelta(days=3))
    handle(offer, uow, NIGHT)

    assert claim(uow, NIGHT) == []
    assert claim(uow, MORNING - timedelta(seconds=1)) == []
    [email] = claim(uow, MORNING)

    assert isinstance(email, sending.EmailAttempt) and email.to == coordinator.email


def test_an_offer_lapsing_within_a_day_is_urgent_and_goes_in_quiet_hours() -> None:
    coordinator = person(RecipientKind.COORDINATOR, preferences=QUIET)
    uow = with_people(coordinator)
    handle(
        referral_offered(organization_id=ORG, expires_at=NIGHT + timedelta(hours=20)), uow, NIGHT
    )

    [email] = claim(uow, NIGHT)

    assert isinstance(email, sending.EmailAttempt)


def test_an_escalation_reaches_the_districts_operators_at_once_and_no_others() -> None:
    norrebro = person(
        RecipientKind.OPERATOR,
        organization_id=None,
        preferences=QUIET,
        districts=frozenset({"Nørrebro"}),
    )
    everywhere = person(RecipientKind.OPERATOR, organization_id=None, language="en")
    amager = person(RecipientKind.OPERATOR, organization_id=None, districts=frozenset({"Amager"}))
    uow = with_people(norrebro, everywhere, amager)
    handle(referral_escalated(district="Nørrebro"), uow, NIGHT)

    emails = claim(uow, NIGHT)

    assert sorted(e.to for e in emails if isinstance(e, sending.EmailAttempt)) == sorted(
        [norrebro.email, everywhere.email]
    )


def test_a_digest_merges_the_days_messages_into_one_email_at_the_chosen_hour() -> None:
    coordinator = person(
        RecipientKind.COORDINATOR, language="en", preferences=Preferences(digest_hour=8)
    )
    uow = with_people(coordinator)
    far = DAY + timedelta(days=5)
    for hours in (0, 2, 4):
        handle(
            referral_offered(organization_id=ORG, expires_at=far), uow, DAY + timedelta(hours=hours)
        )
    eight = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)  # 08:00 in Copenhagen, the next day

    assert claim(uow, eight - timedelta(seconds=1)) == []
    [digest] = claim(uow, eight)
    assert isinstance(digest, sending.EmailAttempt)
    assert digest.subject == "Brobygger: 3 new messages"
    assert digest.text.count("https://brobygger.example.dk/referrals/") == 3
    record(uow, digest.delivery_id, eight)

    statuses = sorted(d.status.value for d in personal(uow))
    assert statuses == ["merged", "merged", "sent"]
    assert {d.merged_into for d in personal(uow) if d.status is DeliveryStatus.MERGED} == {
        digest.delivery_id
    }
    assert sorted(e.status for e in recorded(uow) if e.channel == "email") == statuses
    assert claim(uow, eight + timedelta(days=1)) == []


def test_a_digest_whose_sending_failed_is_sent_again_with_every_message_it_carries() -> None:
    coordinator = person(
        RecipientKind.COORDINATOR, language="en", preferences=Preferences(digest_hour=8)
    )
    uow = with_people(coordinator)
    for hours in (0, 1):
        handle(
            referral_offered(organization_id=ORG, expires_at=DAY + timedelta(days=5)),
            uow,
            DAY + timedelta(hours=hours),
        )
    eight = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
    [first] = claim(uow, eight)
    record(uow, first.delivery_id, eight, "451 try again later")
    handle(referral_offered(organization_id=ORG, expires_at=DAY + timedelta(days=5)), uow, eight)

    [again] = claim(uow, eight + timedelta(minutes=2))

    assert isinstance(again, sending.EmailAttempt)
    assert again.delivery_id == first.delivery_id
    assert again.subject == "Brobygger: 2 new messages"


def test_an_urgent_message_bypasses_the_digest() -> None:
    operator = person(
        RecipientKind.OPERATOR, organization_id=None, preferences=Preferences(digest_hour=8)
    )
    uow = with_people(operator)
    handle(referral_escalated(district="Nørrebro"), uow, DAY)

    [email] = claim(uow, DAY)

    assert isinstance(email, sending.EmailAttempt)
    assert not personal(uow)[0].digest


# --- which channels -------------------------------------------------------------------------


def test_a_channel_the_recipient_left_out_is_recorded_as_skipped_and_published() -> None:
    coordinator = person(
        RecipientKind.COORDINATOR,
        phone="+4512345678",
        preferences=Preferences(channels={"referral_offered": frozenset({Via.INBOX, Via.SMS})}),
    )
    uow = with_people(coordinator)
    handle(referral_offered(organization_id=ORG), uow, DAY)

    by_channel = {d.channel: d for d in personal(uow)}
    assert by_channel[Channel.EMAIL].status is DeliveryStatus.SKIPPED
    assert by_channel[Channel.SMS].status is DeliveryStatus.PENDING
    [skipped] = [e for e in recorded(uow) if e.channel == "email"]
    assert (skipped.status, skipped.recipient_kind, skipped.recipient_id) == (
        "skipped",
        "coordinator",
        coordinator.id,
    )
    assert "@" not in skipped.model_dump_json()


def test_another_organisations_coordinators_are_not_told() -> None:
    uow = with_people(person(RecipientKind.COORDINATOR, organization_id=OTHER_ORG))
    handle(referral_offered(organization_id=ORG), uow, DAY)

    assert personal(uow) == []


def test_an_email_is_rendered_in_the_language_the_recipient_has_when_it_is_sent() -> None:
    coordinator = person(RecipientKind.COORDINATOR, language="da", preferences=QUIET)
    uow = with_people(coordinator)
    handle(referral_offered(organization_id=ORG, expires_at=NIGHT + timedelta(days=3)), uow, NIGHT)
    coordinator.language = "en"
    uow.recipients.save(coordinator)

    [email] = claim(uow, MORNING)

    assert isinstance(email, sending.EmailAttempt)
    assert email.subject.startswith("A new referral for you")


# --- attempts --------------------------------------------------------------------------------


def test_a_failed_email_is_retried_after_a_jittered_back_off_then_fails() -> None:
    uow = with_people(person(RecipientKind.COORDINATOR))
    handle(referral_offered(organization_id=ORG), uow, DAY)
    [email] = claim(uow, DAY)

    first = record(uow, email.delivery_id, DAY, "421 service not available")
    assert first is not None and first.next_attempt_at is not None
    wait = first.next_attempt_at - DAY
    assert timedelta(seconds=48) <= wait <= timedelta(seconds=72)
    [again] = claim(uow, first.next_attempt_at)
    second = record(uow, again.delivery_id, first.next_attempt_at, "421 service not available")
    assert second is not None and second.next_attempt_at is not None
    assert (
        timedelta(seconds=96)
        <= second.next_attempt_at - first.next_attempt_at
        <= timedelta(seconds=144)
    )
    [last] = claim(uow, second.next_attempt_at)
    final = record(uow, last.delivery_id, second.next_attempt_at, "421 service not available")

    assert final is not None and (final.status, final.attempts) == (DeliveryStatus.FAILED, 3)
    [event] = [e for e in recorded(uow) if e.channel == "email"]
    assert (event.status, event.attempts) == ("failed", 3)


def test_a_refused_address_fails_at_once_without_retries() -> None:
    uow = with_people(person(RecipientKind.COORDINATOR))
    handle(referral_offered(organization_id=ORG), uow, DAY)
    [email] = claim(uow, DAY)

    settled = record(uow, email.delivery_id, DAY, "550 no such user", permanent=True)

    assert settled is not None and (settled.status, settled.attempts) == (DeliveryStatus.FAILED, 1)


def test_an_email_whose_recipient_lost_the_address_fails_when_claimed_with_the_reason() -> None:
    coordinator = person(RecipientKind.COORDINATOR)
    uow = with_people(coordinator)
    handle(referral_offered(organization_id=ORG), uow, DAY)
    coordinator.email = None
    uow.recipients.save(coordinator)

    assert claim(uow, DAY) == []
    [failed] = personal(uow)
    assert failed.status is DeliveryStatus.FAILED
    assert failed.last_error == "the recipient has no e-mail address any more"


def test_the_retry_schedule_doubles_from_a_minute_to_six_hours_and_spans_more_than_a_day() -> None:
    policy = RetryPolicy(max_attempts=14, first_delay=timedelta(minutes=1))

    schedule = policy.schedule()

    assert schedule[:3] == [timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=4)]
    assert schedule[-1] == timedelta(hours=6) and len(schedule) == 13
    assert timedelta(days=1) < sum(schedule, timedelta()) < timedelta(days=2)


@pytest.mark.parametrize("spread", [0.0, 0.5, 1.0])
def test_jitter_moves_a_wait_by_at_most_its_share(spread: float) -> None:
    policy = RetryPolicy(
        max_attempts=5, first_delay=timedelta(minutes=10), jitter=0.2, spread=lambda: spread
    )

    assert policy.delay_after(2) == timedelta(minutes=20) * (1 + 0.2 * (2 * spread - 1))
