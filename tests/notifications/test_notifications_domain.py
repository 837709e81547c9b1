"""Signing, templates and the retry rules of a delivery (URL checks: test_notifications_targets)."""

import base64
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import get_args
from uuid import UUID, uuid4

import pytest

from contracts.referrals import EscalationReason, FollowUpPart, WithdrawalReason
from notifications.domain import (
    DELETION_REASONS,
    ESCALATION_REASONS,
    MISSING_PARTS,
    TEMPLATES,
    WITHDRAWAL_REASONS,
    Audience,
    DeletionCause,
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
    format_amount,
    format_time,
    interest_names,
    missing_parts,
    render,
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


def test_every_template_exists_in_danish_swedish_and_english() -> None:
    assert set(TEMPLATES) == {(t, lang) for t in Template for lang in Language}


# Sample values of each template's fields, each one recognisable in the rendered text.
SAMPLE_FIELDS: dict[Template, dict[str, str]] = {
    Template.REFERRAL_OFFERED: {
        "age_band": "<age_band>",
        "district": "<district>",
        "interests": "<interests>",
        "expires": "<expires>",
    },
    Template.OFFER_WITHDRAWN: {"referral_id": "<referral_id>", "reason": "<reason>"},
    Template.OFFER_EXPIRED: {"referral_id": "<referral_id>", "expired": "<expired>"},
    Template.REFERRAL_ESCALATED: {
        "referral_id": "<referral_id>",
        "district": "<district>",
        "reason": "<reason>",
        "interests": "<interests>",
    },
    Template.POOL_OPENED: {
        "name": "<name>",
        "budget_dkk": "<budget_dkk>",
        "opens_on": "<opens_on>",
        "closes_on": "<closes_on>",
        "criteria": "<criteria>",
    },
    Template.DELETION_REQUESTED: {"referral_id": "<referral_id>", "reason": "<reason>"},
    Template.FOLLOW_UP_DUE: {
        "referral_id": "<referral_id>",
        "follow_up": "<follow_up>",
        "due": "<due>",
        "path": "<path>",
    },
    Template.FOLLOW_UP_OVERDUE: {
        "referral_id": "<referral_id>",
        "follow_up": "<follow_up>",
        "due": "<due>",
        "path": "<path>",
    },
    Template.FOLLOW_UP_ESCALATED: {
        "referral_id": "<referral_id>",
        "follow_up": "<follow_up>",
        "due": "<due>",
        "district": "<district>",
        "missing": "<missing>",
    },
}


@pytest.mark.parametrize("language", Language)
@pytest.mark.parametrize("template", Template)
def test_every_template_renders_in_every_language_with_each_of_its_fields_and_nothing_unfilled(
    template: Template, language: Language
) -> None:
    text = render(template, language, **SAMPLE_FIELDS[template])
    for name, value in SAMPLE_FIELDS[template].items():
        assert value in text, f"{name} is not in the text"
    assert "{" not in text and "}" not in text


def test_a_partner_is_told_the_api_path_to_answer_a_follow_up_at() -> None:
    referral_id = UUID("6f1c2b9e-2d4e-4f7a-9a51-0c3e5d7b8a10")
    assert follow_up_path(referral_id, 2) == f"/partner/referrals/{referral_id}/follow-ups/2"


def test_every_follow_up_part_has_words_in_every_language() -> None:
    assert set(MISSING_PARTS) == set(Language)
    for language in Language:
        assert set(MISSING_PARTS[language]) == set(get_args(FollowUpPart)), language


@pytest.mark.parametrize(
    ("waiting_for", "words"),
    [
        (["wellbeing"], "the care system's answers on the citizen's well-being"),
        (
            ["wellbeing", "participation", "wellbeing"],
            "the partner's report on whether the citizen takes part and the care system's "
            "answers on the citizen's well-being",
        ),
    ],
    ids=["one", "both-out-of-order-and-repeated"],
)
def test_what_is_missing_names_each_part_once_the_partners_first(
    waiting_for: list[str], words: str
) -> None:
    assert missing_parts(waiting_for, Language.EN) == words


def test_the_danish_offer_text_reads_as_intended() -> None:
    text = render(
        Template.REFERRAL_OFFERED,
        Language.DA,
        age_band="80-84",
        district="Nørrebro",
        interests="gåture",
        expires="25.11.2026 kl. 13:00",
    )
    assert text == (
        "Ny henvisning: en borger (80-84 år, Nørrebro) med interesse for gåture søger et "
        "fællesskab. Svar inden 25.11.2026 kl. 13:00."
    )


def test_every_withdrawal_escalation_and_deletion_reason_has_words_in_every_language() -> None:
    reason_sets: list[tuple[Mapping[Language, Mapping[str, str]], tuple[str, ...]]] = [
        (WITHDRAWAL_REASONS, get_args(WithdrawalReason)),
        (ESCALATION_REASONS, get_args(EscalationReason)),
        (DELETION_REASONS, tuple(DeletionCause)),
    ]
    for reasons, codes in reason_sets:
        assert set(reasons) == set(Language)
        for language in Language:
            assert set(reasons[language]) == set(codes), language
            assert all(words and words not in codes for words in reasons[language].values())


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


def test_interests_are_named_in_the_readers_language_and_unknown_ones_kept() -> None:
    assert interest_names(["walking", "chess", "knitting"], Language.DA) == (
        "gåture, skak, knitting"
    )
    assert interest_names(["walking"], Language.SV) == "promenader"
    assert interest_names(["walking"], Language.EN) == "walking"


def test_times_are_shown_on_copenhagens_clock_also_across_summer_time() -> None:
    winter = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    summer = datetime(2026, 6, 25, 12, 0, tzinfo=UTC)
    assert format_time(winter, Language.DA) == "25.11.2026 kl. 13:00"
    assert format_time(summer, Language.DA) == "25.06.2026 kl. 14:00"
    assert format_time(summer, Language.SV) == "2026-06-25 kl. 14:00"
    assert format_time(winter, Language.EN) == "25 Nov 2026 13:00 Copenhagen time"


def test_amounts_group_thousands_as_each_language_writes_them() -> None:
    assert format_amount(1_500_000, Language.DA) == "1.500.000"
    assert format_amount(1_500_000, Language.SV) == "1\N{NO-BREAK SPACE}500\N{NO-BREAK SPACE}000"
    assert format_amount(1_500_000, Language.EN) == "1,500,000"


def webhook_delivery() -> Delivery:
    return Delivery.to_webhook(uuid4(), SOURCE, "{}", NOW)


def test_a_new_webhook_delivery_is_pending_and_due_at_once() -> None:
    delivery = webhook_delivery()
    assert delivery.status is DeliveryStatus.PENDING
    assert delivery.next_attempt_at == NOW
    assert delivery.attempts == 0


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
    delivery.delivered(NOW + timedelta(minutes=1))
    assert delivery.status is DeliveryStatus.DELIVERED
    assert (delivery.attempts, delivery.last_error) == (2, None)
    assert delivery.recorded_at == NOW + timedelta(minutes=1)
    with pytest.raises(InvalidTransition):
        delivery.delivered(NOW)
