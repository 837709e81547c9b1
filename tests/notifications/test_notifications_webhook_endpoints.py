"""Webhook endpoints: the rules of one (filter, rotation overlap, disabling) and the use cases
of their owners, on fakes."""

from collections.abc import Callable
from datetime import timedelta
from uuid import UUID, uuid4

import pytest

from contracts import (
    FollowUpDue,
    FollowUpEscalated,
    OfferWithdrawn,
    PoolOpened,
    ReferralEscalated,
    ReferralOffered,
)
from contracts.referrals import CareFollowUpDue, ReferralStatusChanged
from notifications import sending, services
from notifications.domain import Channel, Delivery, DeliveryStatus, Language
from notifications.webhooks import InvalidWebhookUrl, Owner, WebhookEndpoint, new_secret, sign
from tests.events import pool_opened, referral_offered
from tests.fakes import FakeClock
from tests.notifications.fakes import FakeUnitOfWork
from tests.notifications.receiver import Receiver
from tests.notifications.support import BOX, NOW, ORG, OTHER_ORG, add_webhook, claim_webhooks

OVERLAP = timedelta(hours=24)
DISABLE_AFTER = timedelta(hours=72)
JUST_BEFORE = timedelta(microseconds=1)
PARTNER = Owner(organization_id=ORG)
OTHER_PARTNER = Owner(organization_id=OTHER_ORG)
CARE = Owner(care_system="care-system-a")
OTHER_CARE = Owner(care_system="care-system-b")
OFFERED = ReferralOffered.event_type
WITHDRAWN = OfferWithdrawn.event_type


def endpoint(
    plain: str | None = None, event_types: frozenset[str] = frozenset()
) -> WebhookEndpoint:
    """ORG's endpoint, made at NOW, its secret `plain` (a new one if not given) sealed."""
    endpoint_id = uuid4()
    return WebhookEndpoint(
        id=endpoint_id,
        url="https://partner.example/hook",
        secret=BOX.seal(plain or new_secret(), endpoint_id),
        created_at=NOW,
        organization_id=ORG,
        event_types=event_types,
    )


def accepted_by(plain: str, signatures: str) -> bool:
    """Whether a receiver knowing only `plain` accepts `signatures` (of message `m`, at 1)."""
    return Receiver(url="", secret=plain).verify("m", "1", b"{}", signatures)


def signatures_of(hook: WebhookEndpoint, at: timedelta) -> str:
    """The `webhook-signature` the dispatcher makes for `hook` `at` after NOW."""
    secrets = [BOX.open(s, hook.id) for s in hook.sealed_signing_secrets(NOW + at)]
    return sign(secrets, "m", 1, "{}")


# --- one endpoint's rules -----------------------------------------------------------------


def test_while_a_rotated_secret_overlaps_both_sign_and_after_it_only_the_new_one() -> None:
    old, new = new_secret(), new_secret()
    hook = endpoint(old)
    assert accepted_by(old, signatures_of(hook, timedelta(0)))
    hook.rotate(BOX.seal(new, hook.id), NOW, OVERLAP)
    for during in (timedelta(0), OVERLAP - JUST_BEFORE):
        signatures = signatures_of(hook, during)
        assert (accepted_by(old, signatures), accepted_by(new, signatures)) == (True, True)
    after = signatures_of(hook, OVERLAP)
    assert (accepted_by(old, after), accepted_by(new, after)) == (False, True)
    assert hook.previous_secret_until == NOW + OVERLAP


def test_rotating_again_during_the_overlap_ends_the_oldest_secret() -> None:
    first, second, third = new_secret(), new_secret(), new_secret()
    hook = endpoint(first)
    hook.rotate(BOX.seal(second, hook.id), NOW, OVERLAP)
    hook.rotate(BOX.seal(third, hook.id), NOW + timedelta(hours=1), OVERLAP)
    signatures = signatures_of(hook, timedelta(hours=2))
    assert [accepted_by(s, signatures) for s in (first, second, third)] == [False, True, True]


def test_a_filter_lets_only_its_types_through_and_no_filter_lets_everything() -> None:
    everything, offers_only = endpoint(), endpoint(event_types=frozenset({OFFERED}))
    assert (everything.wants(OFFERED), everything.wants(WITHDRAWN)) == (True, True)
    assert (offers_only.wants(OFFERED), offers_only.wants(WITHDRAWN)) == (True, False)
    everything.disabled_at = NOW
    assert not everything.wants(OFFERED)


def test_failing_for_exactly_the_time_set_disables_and_a_moment_less_does_not() -> None:
    hook = endpoint()
    assert hook.failed(NOW, DISABLE_AFTER) is False
    assert hook.failing_since == NOW
    assert hook.failed(NOW + DISABLE_AFTER - JUST_BEFORE, DISABLE_AFTER) is False
    assert (hook.enabled, hook.failing_since) == (True, NOW)
    assert hook.failed(NOW + DISABLE_AFTER, DISABLE_AFTER) is True
    assert (hook.enabled, hook.disabled_at) == (False, NOW + DISABLE_AFTER)
    # Only the failure that disabled it says so: the owner and operators are told once.
    assert hook.failed(NOW + DISABLE_AFTER + timedelta(hours=1), DISABLE_AFTER) is False
    assert hook.disabled_at == NOW + DISABLE_AFTER


def test_a_success_in_between_starts_the_time_of_failing_again() -> None:
    hook = endpoint()
    hook.failed(NOW, DISABLE_AFTER)
    hook.succeeded(NOW + DISABLE_AFTER - timedelta(hours=1))
    assert hook.failing_since is None
    again = NOW + DISABLE_AFTER
    assert hook.failed(again, DISABLE_AFTER) is False
    assert hook.failing_since == again
    assert hook.failed(again + DISABLE_AFTER - JUST_BEFORE, DISABLE_AFTER) is False
    assert hook.failed(again + DISABLE_AFTER, DISABLE_AFTER) is True


def test_enabling_a_disabled_endpoint_forgets_how_long_it_failed() -> None:
    hook = endpoint()
    hook.failed(NOW, DISABLE_AFTER)
    hook.failed(NOW + DISABLE_AFTER, DISABLE_AFTER)
    hook.enable()
    assert (hook.enabled, hook.disabled_at, hook.failing_since) == (True, None, None)
    assert hook.wants(OFFERED)


@pytest.mark.parametrize(
    ("organization_id", "care_system"), [(None, None), (ORG, "care-system-a")], ids=["none", "both"]
)
def test_an_endpoint_belongs_to_an_organisation_or_a_care_system(
    organization_id: UUID | None, care_system: str | None
) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        WebhookEndpoint(
            uuid4(), "https://partner.example/hook", "sealed", NOW, organization_id, care_system
        )


# --- the owners' use cases ------------------------------------------------------------------


def test_a_new_endpoint_keeps_its_secret_only_sealed_and_shows_it_once() -> None:
    uow = FakeUnitOfWork()
    added, plain = add_webhook(uow, clock=FakeClock(NOW))
    assert plain.startswith("whsec_")
    stored = uow.webhooks.rows[added.id]
    assert plain not in (stored.secret, repr(stored))
    assert BOX.open(stored.secret, added.id) == plain
    assert (stored.organization_id, stored.created_at, stored.event_types) == (
        ORG,
        NOW,
        frozenset(),
    )
    assert services.webhook_of(PARTNER, added.id, uow) == stored
    assert plain not in repr(services.webhooks_of(PARTNER, uow))


def test_a_private_target_is_refused_and_nothing_is_stored() -> None:
    uow = FakeUnitOfWork()
    with pytest.raises(InvalidWebhookUrl):
        add_webhook(uow, "http://127.0.0.1:9000/hook", allow_private_targets=False)
    assert uow.webhooks.rows == {}
    add_webhook(uow, "http://127.0.0.1:9000/hook", allow_private_targets=True)
    assert len(uow.webhooks.rows) == 1


def add(uow: FakeUnitOfWork, owner: Owner, *event_types: str) -> WebhookEndpoint:
    command = services.AddWebhook(owner, "https://partner.example/hook", frozenset(event_types))
    added, _ = services.add_webhook(command, uow, BOX, allow_private_targets=False)
    return added


@pytest.mark.parametrize(
    ("owner", "receivable", "not_receivable"),
    [
        (PARTNER, [OFFERED, WITHDRAWN, PoolOpened.event_type, FollowUpDue.event_type], []),
        (
            PARTNER,
            [OFFERED],
            [ReferralEscalated.event_type, FollowUpEscalated.event_type],
        ),
        (PARTNER, [], [ReferralStatusChanged.event_type]),
        (CARE, [ReferralStatusChanged.event_type, CareFollowUpDue.event_type], []),
        (CARE, [], [OFFERED]),
        (CARE, [], ["dk.brobygger.nothing.v1"]),
    ],
    ids=[
        "partner: what partners are told",
        "partner: not the operators' escalations",
        "partner: not the care systems' status",
        "care system: the status of its referrals",
        "care system: not the partners' offers",
        "care system: no such type",
    ],
)
def test_an_endpoint_wants_only_types_its_owner_can_receive_and_a_refusal_names_them(
    owner: Owner, receivable: list[str], not_receivable: list[str]
) -> None:
    uow = FakeUnitOfWork()
    if not_receivable:
        with pytest.raises(services.UnknownEventType) as refused:
            add(uow, owner, *receivable, *not_receivable)
        assert all(t in str(refused.value) for t in not_receivable)
        assert not any(t in str(refused.value) for t in receivable)
        assert uow.webhooks.rows == {}
    else:
        assert add(uow, owner, *receivable).event_types == frozenset(receivable)


def test_an_owner_has_at_most_ten_endpoints_and_others_are_not_counted() -> None:
    uow = FakeUnitOfWork()
    for _ in range(services.MAX_WEBHOOKS):
        add(uow, PARTNER)
    add(uow, OTHER_PARTNER)
    add(uow, CARE)
    with pytest.raises(services.TooManyWebhooks):
        add(uow, PARTNER)
    assert len(services.webhooks_of(PARTNER, uow)) == services.MAX_WEBHOOKS
    services.remove_webhook(PARTNER, services.webhooks_of(PARTNER, uow)[0].id, uow)
    add(uow, PARTNER)


def test_each_owner_lists_only_its_own_endpoints_the_oldest_first() -> None:
    uow = FakeUnitOfWork()
    clock = FakeClock(NOW)
    first, _ = add_webhook(uow, clock=clock)
    clock.advance(timedelta(minutes=1))
    second, _ = add_webhook(uow, clock=clock)
    add_webhook(uow, organization_id=OTHER_ORG, clock=clock)
    care = add(uow, CARE)
    assert [e.id for e in services.webhooks_of(PARTNER, uow)] == [first.id, second.id]
    assert [e.id for e in services.webhooks_of(CARE, uow)] == [care.id]
    assert services.webhooks_of(OTHER_CARE, uow) == []


@pytest.mark.parametrize("stranger", [OTHER_PARTNER, CARE], ids=["another partner", "care"])
def test_another_owners_endpoint_is_not_found_by_any_use_case_and_stays_as_it_was(
    stranger: Owner,
) -> None:
    uow = FakeUnitOfWork()
    hook = add(uow, PARTNER)
    before = uow.webhooks.rows[hook.id]
    attempts: dict[str, Callable[[], object]] = {
        "read": lambda: services.webhook_of(stranger, hook.id, uow),
        "change": lambda: services.change_webhook(
            stranger,
            hook.id,
            services.ChangeWebhook(url="https://stranger.example/hook"),
            uow,
            allow_private_targets=False,
        ),
        "rotate": lambda: services.rotate_webhook_secret(stranger, hook.id, uow, BOX, OVERLAP),
        "remove": lambda: services.remove_webhook(stranger, hook.id, uow),
    }
    for name, attempt in attempts.items():
        with pytest.raises(services.WebhookNotFound) as refused:
            attempt()
        assert str(refused.value) == f"no webhook endpoint {hook.id}", name
    assert uow.webhooks.rows == {hook.id: before}


def test_a_change_changes_only_what_it_names() -> None:
    uow = FakeUnitOfWork()
    hook = add(uow, PARTNER, OFFERED)
    changed = services.change_webhook(
        PARTNER,
        hook.id,
        services.ChangeWebhook(event_types=frozenset({WITHDRAWN})),
        uow,
        allow_private_targets=False,
    )
    assert (changed.url, changed.event_types, changed.secret) == (
        hook.url,
        frozenset({WITHDRAWN}),
        hook.secret,
    )
    moved = services.change_webhook(
        PARTNER,
        hook.id,
        services.ChangeWebhook(url="https://partner.example/new"),
        uow,
        allow_private_targets=False,
    )
    assert (moved.url, moved.event_types) == ("https://partner.example/new", frozenset({WITHDRAWN}))
    assert uow.webhooks.rows[hook.id] == moved


def test_a_change_to_a_private_target_or_an_unknown_type_changes_nothing() -> None:
    uow = FakeUnitOfWork()
    hook = add(uow, PARTNER)
    for change, refusal in [
        (services.ChangeWebhook(url="http://10.0.0.1/hook"), InvalidWebhookUrl),
        (
            services.ChangeWebhook(url="https://partner.example/new", event_types=frozenset({"x"})),
            services.UnknownEventType,
        ),
    ]:
        with pytest.raises(refusal):
            services.change_webhook(PARTNER, hook.id, change, uow, allow_private_targets=False)
    assert uow.webhooks.rows[hook.id] == hook


def test_its_owner_enables_a_disabled_endpoint_again() -> None:
    uow = FakeUnitOfWork()
    hook = add(uow, PARTNER)
    stored = uow.webhooks.rows[hook.id]
    stored.failed(NOW, DISABLE_AFTER)
    stored.failed(NOW + DISABLE_AFTER, DISABLE_AFTER)
    enabled = services.change_webhook(
        PARTNER, hook.id, services.ChangeWebhook(enable=True), uow, allow_private_targets=False
    )
    assert (enabled.enabled, enabled.failing_since) == (True, None)
    assert uow.webhooks.rows[hook.id].enabled


def test_a_rotation_shows_the_new_secret_once_and_the_old_one_signs_for_the_overlap() -> None:
    uow = FakeUnitOfWork()
    hook, old = add_webhook(uow, clock=FakeClock(NOW))
    clock = FakeClock(NOW + timedelta(days=3))
    rotated, new = services.rotate_webhook_secret(PARTNER, hook.id, uow, BOX, OVERLAP, clock)
    stored = uow.webhooks.rows[hook.id]
    assert stored == rotated
    assert new != old and new not in repr(stored) and old not in repr(stored)
    assert stored.previous_secret_until == clock.now + OVERLAP
    during = [BOX.open(s, hook.id) for s in stored.sealed_signing_secrets(clock.now)]
    after = [BOX.open(s, hook.id) for s in stored.sealed_signing_secrets(clock.now + OVERLAP)]
    assert (during, after) == ([new, old], [new])


def test_secrets_moved_over_in_the_clear_are_sealed_at_start_up() -> None:
    uow = FakeUnitOfWork()
    plain = new_secret()
    legacy = WebhookEndpoint(uuid4(), "https://partner.example/hook", plain, NOW, ORG)
    uow.webhooks.legacy[legacy.id] = legacy
    assert services.seal_legacy_secrets(uow, BOX) == 1
    [sealed] = services.webhooks_of(PARTNER, uow)
    assert sealed.secret != plain
    assert BOX.open(sealed.secret, legacy.id) == plain
    assert services.seal_legacy_secrets(uow, BOX) == 0


# --- what deliveries make of the endpoints: one delivery per endpoint that wants the event -----


def webhook_deliveries(
    uow: FakeUnitOfWork, *events: ReferralOffered | PoolOpened
) -> list[Delivery]:
    """Consume each event; every webhook delivery queued so far."""
    for event in events:
        consuming = uow.consuming(event.event_type)
        if isinstance(event, ReferralOffered):
            services.notify_referral_offered(event, consuming, Language.DA, FakeClock(NOW))
        else:
            services.announce_pool(event, consuming, Language.DA, FakeClock(NOW))
    return uow.deliveries.of_channel(Channel.WEBHOOK)


def queued(uow: FakeUnitOfWork, *events: ReferralOffered | PoolOpened) -> list[UUID | None]:
    """Consume each event; the organisations a webhook delivery was queued for."""
    return [d.organization_id for d in webhook_deliveries(uow, *events)]


def claim(uow: FakeUnitOfWork) -> list[sending.WebhookAttempt]:
    return claim_webhooks(uow, FakeClock(NOW))


def test_an_organisation_whose_endpoints_do_not_want_the_event_gets_no_webhook() -> None:
    uow = FakeUnitOfWork()
    add(uow, PARTNER, WITHDRAWN)
    disabled = add(uow, PARTNER)
    uow.webhooks.rows[disabled.id].disabled_at = NOW
    assert queued(uow, referral_offered(organization_id=ORG), pool_opened()) == []
    add(uow, PARTNER, OFFERED)
    assert queued(uow, referral_offered(organization_id=ORG)) == [ORG]


def test_a_pool_reaches_each_partner_endpoint_wanting_it_once() -> None:
    uow = FakeUnitOfWork()
    everything = add(uow, PARTNER)
    pools = add(uow, PARTNER, PoolOpened.event_type)
    add(uow, PARTNER, OFFERED)
    add(uow, OTHER_PARTNER, OFFERED)
    add(uow, CARE)
    delivered = webhook_deliveries(uow, pool_opened())
    assert sorted((str(d.webhook_id), d.organization_id) for d in delivered) == sorted(
        [(str(everything.id), ORG), (str(pools.id), ORG)]
    )


def test_each_endpoint_wanting_an_event_gets_it_signed_with_every_secret_of_its_own() -> None:
    uow = FakeUnitOfWork()
    clock = FakeClock(NOW - timedelta(hours=2))
    withdrawals, _ = add_webhook(uow, "https://partner.example/withdrawals", clock=clock)
    services.change_webhook(
        PARTNER,
        withdrawals.id,
        services.ChangeWebhook(event_types=frozenset({WITHDRAWN})),
        uow,
        allow_private_targets=False,
    )
    clock.advance(timedelta(hours=1))
    wanting, old = add_webhook(uow, "https://partner.example/offers", clock=clock)
    _, new = services.rotate_webhook_secret(PARTNER, wanting.id, uow, BOX, OVERLAP, clock)
    also, own = add_webhook(uow, "https://partner.example/everything", clock=clock)
    queued(uow, referral_offered(organization_id=ORG))
    signing = {
        (a.webhook_id, a.url): [BOX.open(s, a.webhook_id) for s in a.sealed_secrets]
        for a in claim(uow)
    }
    assert signing == {
        (wanting.id, "https://partner.example/offers"): [new, old],
        (also.id, "https://partner.example/everything"): [own],
    }


def test_a_delivery_to_an_endpoint_that_no_longer_wants_it_fails_without_being_sent() -> None:
    uow = FakeUnitOfWork()
    hook = add(uow, PARTNER)
    queued(uow, referral_offered(organization_id=ORG))
    services.change_webhook(
        PARTNER,
        hook.id,
        services.ChangeWebhook(event_types=frozenset({WITHDRAWN})),
        uow,
        allow_private_targets=False,
    )
    assert claim(uow) == []
    [delivery] = uow.deliveries.of_channel(Channel.WEBHOOK)
    assert delivery.status is DeliveryStatus.FAILED


def test_a_delivery_to_a_disabled_endpoint_fails_without_being_sent() -> None:
    uow = FakeUnitOfWork()
    hook = add(uow, PARTNER)
    queued(uow, referral_offered(organization_id=ORG))
    uow.webhooks.rows[hook.id].disabled_at = NOW
    assert claim(uow) == []
    [delivery] = uow.deliveries.of_channel(Channel.WEBHOOK)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 0)
