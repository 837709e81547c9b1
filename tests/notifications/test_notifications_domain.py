"""Signing, messages and their readers, and the rules of a delivery (URL checks:
test_notifications_targets; templates and formats: test_notifications_rendering)."""

import base64
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from notifications.domain import (
    Audience,
    Channel,
    Delivery,
    DeliveryStatus,
    InvalidTransition,
    Language,
    Message,
    OperatorReader,
    PartnerReader,
    RetryPolicy,
    SourceEvent,
    Template,
    follow_up_path,
)
from notifications.webhooks import new_secret, sign, webhook_body

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SOURCE = SourceEvent(uuid4(), "dk.brobygger.referrals.referral.offered.v1")
POLICY = RetryPolicy(max_attempts=3, first_delay=timedelta(seconds=30))


def test_the_signature_matches_the_standard_webhooks_reference_vector() -> None:
    # The spec (contracts/standards/standard-webhooks) has no test vector; this is the
    # one the reference library's test suite signs (libraries/python, test_sign_function).
    signature = sign(
        ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        '{"test": 2432232314}',
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_signature_covers_id_timestamp_and_body() -> None:
    secret = new_secret()
    first = sign([secret], "id-1", 1700000000, "{}")
    assert sign([secret], "id-2", 1700000000, "{}") != first
    assert sign([secret], "id-1", 1700000001, "{}") != first
    assert sign([secret], "id-1", 1700000000, "{ }") != first


def test_a_new_secret_is_whsec_and_at_least_24_random_bytes() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) >= 24
    assert new_secret() != secret


def test_the_webhook_body_is_minified_json_with_type_timestamp_and_data() -> None:
    body = webhook_body("a.b.c", NOW, {"district": "Nørrebro"})
    assert body == (
        '{"type":"a.b.c","timestamp":"2026-11-22T12:00:00+00:00","data":{"district":"Nørrebro"}}'
    )


def test_a_partner_is_told_the_api_path_to_answer_a_follow_up_at() -> None:
    referral_id = UUID("6f1c2b9e-2d4e-4f7a-9a51-0c3e5d7b8a10")
    assert follow_up_path(referral_id, 2) == f"/partner/referrals/{referral_id}/follow-ups/2"


def message_to(audience: Audience, organization_id: UUID | None = None) -> Message:
    return Message(
        uuid4(),
        audience,
        organization_id,
        Template.REFERRAL_OFFERED,
        Language.DA,
        "text",
        SOURCE,
        NOW,
    )


def test_a_message_names_its_organisation_exactly_when_it_is_for_one() -> None:
    message_to(Audience.ORGANIZATION, uuid4())
    message_to(Audience.PARTNERS)
    message_to(Audience.OPERATORS)
    with pytest.raises(ValueError, match="organisation"):
        message_to(Audience.ORGANIZATION)
    for audience in (Audience.PARTNERS, Audience.OPERATORS):
        with pytest.raises(ValueError, match="organisation"):
            message_to(audience, uuid4())


def test_a_partner_sees_its_own_and_the_broadcasts_and_an_operator_only_the_operators() -> None:
    org = uuid4()
    own = message_to(Audience.ORGANIZATION, org)
    others = message_to(Audience.ORGANIZATION, uuid4())
    broadcast = message_to(Audience.PARTNERS)
    to_operators = message_to(Audience.OPERATORS)
    everything = [own, others, broadcast, to_operators]
    assert [m for m in everything if PartnerReader(org).can_see(m)] == [own, broadcast]
    assert [m for m in everything if OperatorReader("anna").can_see(m)] == [to_operators]


def test_each_operator_keeps_read_marks_under_an_id_of_their_own() -> None:
    anna = OperatorReader("anna").reader_id
    assert OperatorReader("anna").reader_id == anna
    assert OperatorReader("bo").reader_id != anna
    org = uuid4()
    assert PartnerReader(org).reader_id == org


def webhook_delivery() -> Delivery:
    return Delivery.to_webhook(uuid4(), uuid4(), SOURCE, "{}", NOW)


def test_a_new_webhook_delivery_is_pending_and_due_at_once() -> None:
    delivery = webhook_delivery()
    assert delivery.status is DeliveryStatus.PENDING
    assert delivery.next_attempt_at == NOW
    assert delivery.attempts == 0


def test_an_event_reaches_each_endpoint_at_most_once_and_each_by_a_delivery_of_its_own() -> None:
    organization_id, first, second = uuid4(), uuid4(), uuid4()
    to_first = Delivery.to_webhook(first, organization_id, SOURCE, "{}", NOW)
    again = Delivery.to_webhook(first, organization_id, SOURCE, "{}", NOW)
    to_second = Delivery.to_webhook(second, organization_id, SOURCE, "{}", NOW)
    assert to_first.recipient_key == again.recipient_key == f"webhook:{first}"
    assert to_second.recipient_key != to_first.recipient_key
    assert (to_first.webhook_id, to_first.organization_id) == (first, organization_id)


def test_failed_attempts_back_off_exponentially() -> None:
    delivery = webhook_delivery()
    delivery.attempt_failed(NOW, "HTTP 500", POLICY)
    assert delivery.next_attempt_at == NOW + timedelta(seconds=30)
    delivery.attempt_failed(NOW, "HTTP 502", POLICY)
    assert delivery.next_attempt_at == NOW + timedelta(seconds=60)
    assert (delivery.status, delivery.attempts, delivery.last_error) == (
        DeliveryStatus.PENDING,
        2,
        "HTTP 502",
    )


def test_a_delivery_fails_when_its_attempts_are_used_up() -> None:
    delivery = webhook_delivery()
    for _ in range(POLICY.max_attempts):
        delivery.attempt_failed(NOW, "HTTP 500", POLICY)
    assert delivery.status is DeliveryStatus.FAILED
    assert delivery.next_attempt_at is None
    assert delivery.recorded_at == NOW
    with pytest.raises(InvalidTransition):
        delivery.attempt_failed(NOW, "HTTP 500", POLICY)


def test_a_delivered_delivery_records_when_and_takes_no_more_attempts() -> None:
    delivery = webhook_delivery()
    delivery.attempt_failed(NOW, "HTTP 500", POLICY)
    delivery.succeeded(NOW + timedelta(minutes=1))
    assert delivery.status is DeliveryStatus.DELIVERED
    assert (delivery.attempts, delivery.last_error) == (2, None)
    assert delivery.recorded_at == NOW + timedelta(minutes=1)
    with pytest.raises(InvalidTransition):
        delivery.succeeded(NOW)


@pytest.mark.parametrize("channel", [Channel.EMAIL, Channel.SMS])
def test_an_email_or_sms_that_succeeded_is_sent_not_delivered(channel: Channel) -> None:
    # The mail server or the gateway took it: whether it reached the person is theirs to know.
    delivery = Delivery.to_person(
        uuid4(), uuid4(), channel, "offer_expired", {}, SOURCE, NOW, at=NOW
    )
    delivery.succeeded(NOW)
    assert (delivery.status, delivery.attempts, delivery.recorded_at) == (
        DeliveryStatus.SENT,
        1,
        NOW,
    )
