"""The referrals store on the real databases: SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from uuid import UUID, uuid4

import pytest
from sqlalchemy import Engine, Table, func, select
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from contracts.referrals import TOPIC
from referrals import services
from referrals.app import MIGRATIONS
from referrals.domain import (
    OFFER_EXPIRY,
    Accompaniment,
    DeclineReason,
    HoldReason,
    Referral,
    ReferralStatus,
)
from referrals.store import ConcurrentUpdate, ReferralsUnitOfWork, TimerRow
from runtime.migrations import upgrade
from runtime.storage import inbox, outbox
from tests.events import matches_found, no_match_found, service_changed
from tests.fakes import FakeClock
from tests.referrals.support import (
    NOW,
    TTL,
    VAULT,
    candidate,
    city_day,
    new_referral,
    offered,
    partner,
    submit_command,
    submitted,
)

StartUow = Callable[[], ReferralsUnitOfWork]


@pytest.fixture
def start_uow(engine_for: Callable[[str], Engine]) -> StartUow:
    engine = engine_for("referrals")
    upgrade(MIGRATIONS, engine)
    factory = sessionmaker(engine, class_=Session, expire_on_commit=False)
    return lambda: ReferralsUnitOfWork(factory, "/brobygger/referrals")


@pytest.fixture
def lifecycle(start_uow: StartUow, clock: FakeClock) -> services.Lifecycle:
    return services.Lifecycle(start_uow, TTL, clock)


def count(start_uow: StartUow, table: Table) -> int:
    with start_uow() as uow:
        return int(uow.session.execute(select(func.count()).select_from(table)).scalar_one())


def load(start_uow: StartUow, referral_id: UUID) -> Referral:
    with start_uow() as uow:
        referral = uow.referrals.get(referral_id)
    assert referral is not None
    return referral


def escalated(start_uow: StartUow, clock: FakeClock, district: str) -> Referral:
    referral = submitted(start_uow, clock, district=district)
    with start_uow() as uow:
        services.escalate_unmatched(no_match_found(referral_id=referral.id), uow, clock)
    return load(start_uow, referral.id)


def timers(start_uow: StartUow) -> set[tuple[UUID, str, UUID, object]]:
    with start_uow() as uow:
        rows = uow.session.execute(select(TimerRow)).scalars().all()
        return {(t.referral_id, t.kind, t.key, t.due_at) for t in rows}


def outbox_types(start_uow: StartUow) -> list[str]:
    """The types of the events on `referrals.referral.v1`, in order (what the care systems
    are told on `referrals.status.v1` is tested with the changes feed)."""
    with start_uow() as uow:
        headers = uow.session.execute(
            select(outbox.c.headers).where(outbox.c.topic == TOPIC).order_by(outbox.c.seq)
        ).scalars()
        return [h["ce_type"].split(".")[-2] for h in headers]


def test_a_submitted_referral_and_its_outbox_row_are_stored_together(
    start_uow: StartUow, clock: FakeClock
) -> None:
    referral = submitted(start_uow, clock)
    stored = load(start_uow, referral.id)
    assert stored == referral
    assert stored.submitted_at == NOW and stored.submitted_at.tzinfo is not None
    with start_uow() as uow:
        row = uow.session.execute(select(outbox).where(outbox.c.topic == TOPIC)).one()
    assert row.key == str(referral.id)
    assert row.headers["ce_type"] == "dk.brobygger.referrals.referral.submitted.v1"
    assert row.published_at is None


def test_the_idempotency_key_holds_in_the_database(start_uow: StartUow, clock: FakeClock) -> None:
    command = submit_command()
    first, _ = services.submit_referral(command, start_uow, VAULT, clock)
    again, created = services.submit_referral(command, start_uow, VAULT, clock)
    assert (again.id, created) == (first.id, False)
    services.submit_referral(submit_command(idempotency_key=None), start_uow, VAULT, clock)
    assert outbox_types(start_uow) == ["submitted", "submitted"]


def test_an_offer_is_saved_with_the_referral_and_the_inbox_row(
    start_uow: StartUow, clock: FakeClock
) -> None:
    referral = submitted(start_uow, clock)
    found = matches_found(referral.id, uuid4())
    with start_uow() as uow:
        uow.record_processed("event-1", found.event_type, "/brobygger/directory")
        services.offer_to_candidates(found, uow, TTL, clock)
    assert load(start_uow, referral.id).status is ReferralStatus.OFFERED
    assert count(start_uow, inbox) == 1
    assert outbox_types(start_uow) == ["submitted", "offered"]


def test_a_failed_handler_leaves_no_inbox_row(start_uow: StartUow, clock: FakeClock) -> None:
    found = matches_found(uuid4(), uuid4())
    with start_uow() as uow:
        uow.record_processed("event-2", found.event_type, "/brobygger/directory")
        with pytest.raises(services.ReferralNotFound):
            services.offer_to_candidates(found, uow, TTL, clock)
    assert count(start_uow, inbox) == 0


def test_a_referral_reads_back_with_its_candidates_offers_and_history(
    start_uow: StartUow, clock: FakeClock, lifecycle: services.Lifecycle
) -> None:
    first, second, third = uuid4(), uuid4(), uuid4()
    referral = offered(start_uow, clock, first, second, third, needs_accompaniment=True)
    clock.advance(timedelta(hours=3, microseconds=123))
    decline = services.DeclineOffer(DeclineReason.OTHER, "no driver this month")
    services.decline_offer(referral.id, decline, partner(first), lifecycle)
    clock.advance(timedelta(hours=1))
    services.accept_offer(referral.id, partner(second), lifecycle)
    today = city_day(clock.advance(timedelta(days=1)))
    services.record_contact(referral.id, today, partner(second), lifecycle)
    meeting = services.RecordFirstMeeting(today, Accompaniment.RELATIVE)
    services.record_first_meeting(referral.id, meeting, partner(second), lifecycle)
    hold = services.PutOnHold(HoldReason.OTHER, "waiting for a new hip")
    in_memory = services.put_on_hold(referral.id, hold, partner(second), lifecycle)

    stored = load(start_uow, referral.id)
    assert stored == in_memory
    assert [c.organization_id for c in stored.candidates] == [first, second, third]
    assert stored.candidates[0].reasons == ["interest:walking"]
    assert [(o.organization_id, o.status.value) for o in stored.offers] == [
        (first, "declined"),
        (second, "accepted"),
    ]
    assert stored.offers[0].decline_reason is DeclineReason.OTHER
    assert [t.text for t in stored.history if t.text] == [
        "no driver this month",
        "waiting for a new hip",
    ]
    assert (stored.status, stored.accompanied_by, stored.needs_accompaniment) == (
        ReferralStatus.ON_HOLD,
        Accompaniment.RELATIVE,
        True,
    )
    assert stored.version == 6
    assert outbox_types(start_uow) == [
        "submitted",
        "offered",
        "offer_declined",
        "offered",
        "accepted",
        "contact_made",
        "first_meeting_held",
        "put_on_hold",
    ]


def test_offers_read_back_in_the_order_they_were_made_even_when_made_at_one_moment(
    start_uow: StartUow,
) -> None:
    # A clock that stands still (or a replica's that lags) gives offers equal times.
    referral = new_referral()
    candidates = [candidate() for _ in range(3)]
    referral.receive_candidates(candidates, {}, NOW, TTL)
    for declining in candidates[:2]:
        referral.decline(
            partner(declining.organization_id), DeclineReason.NO_CAPACITY, None, {}, NOW, TTL
        )
    descending = sorted((uuid4() for _ in referral.offers), reverse=True)
    for offer, offer_id in zip(referral.offers, descending, strict=True):
        offer.id = offer_id
    with start_uow() as uow:
        uow.referrals.add(referral, citizen_id=uuid4(), note=None)
        uow.commit()
    stored = load(start_uow, referral.id)
    assert stored.offers == referral.offers
    assert stored.current_offer is not None
    assert stored.current_offer.organization_id == candidates[2].organization_id


def test_a_save_over_a_change_made_meanwhile_is_refused(
    start_uow: StartUow, clock: FakeClock
) -> None:
    referral = submitted(start_uow, clock)
    with start_uow() as late:
        stale = late.referrals.get(referral.id)
        assert stale is not None
        with start_uow() as early:
            fresh = early.referrals.get(referral.id)
            assert fresh is not None
            fresh.no_match(NOW)
            early.referrals.save(fresh)
            early.commit()
        stale.receive_candidates([], {}, NOW, TTL)
        with pytest.raises(ConcurrentUpdate):
            late.referrals.save(stale)
    stored = load(start_uow, referral.id)
    assert (stored.status, stored.version) == (ReferralStatus.ESCALATED, 1)
    assert outbox_types(start_uow) == ["submitted", "escalated"]


def test_timers_are_written_and_removed_with_the_state_they_belong_to(
    start_uow: StartUow, clock: FakeClock, lifecycle: services.Lifecycle
) -> None:
    first, second = uuid4(), uuid4()
    referral = offered(start_uow, clock, first, second)
    [offer] = referral.offers
    assert timers(start_uow) == {(referral.id, OFFER_EXPIRY, offer.id, NOW + TTL)}
    clock.advance(timedelta(hours=1))
    declined = services.decline_offer(
        referral.id, services.DeclineOffer(DeclineReason.NO_CAPACITY), partner(first), lifecycle
    )
    next_offer = declined.offers[-1]
    assert timers(start_uow) == {(referral.id, OFFER_EXPIRY, next_offer.id, clock.now + TTL)}
    services.accept_offer(referral.id, partner(second), lifecycle)
    assert timers(start_uow) == set()


def test_a_timer_fires_once_in_the_transaction_of_the_change_it_causes(
    start_uow: StartUow, clock: FakeClock, lifecycle: services.Lifecycle
) -> None:
    referral = offered(start_uow, clock, uuid4())
    clock.advance(TTL)
    assert services.fire_due_timers(lifecycle) == 1
    assert services.fire_due_timers(lifecycle) == 0
    stored = load(start_uow, referral.id)
    assert stored.status is ReferralStatus.ESCALATED
    assert timers(start_uow) == set()
    assert outbox_types(start_uow) == ["submitted", "offered", "offer_expired", "escalated"]


def test_a_partner_lists_what_was_offered_to_it_newest_first_by_status_and_page(
    start_uow: StartUow, clock: FakeClock, lifecycle: services.Lifecycle
) -> None:
    mine, other = uuid4(), uuid4()
    oldest = offered(start_uow, clock, mine, other)
    clock.advance(timedelta(hours=1))
    middle = offered(start_uow, clock, mine)
    clock.advance(timedelta(hours=1))
    newest = offered(start_uow, clock, mine)
    offered(start_uow, clock, other)  # never offered to `mine`
    services.decline_offer(
        oldest.id, services.DeclineOffer(DeclineReason.NOT_SUITABLE), partner(mine), lifecycle
    )
    services.accept_offer(middle.id, partner(mine), lifecycle)

    def listed(status: str | None = None, offset: int = 0, limit: int = 50) -> object:
        with start_uow() as uow:
            found, total = uow.referrals.offered_to(mine, status, offset, limit)
        return [r.id for r in found], total

    assert listed() == ([newest.id, middle.id, oldest.id], 3)
    assert listed("declined") == ([oldest.id], 1)
    assert listed("accepted") == ([middle.id], 1)
    assert listed("offered") == ([newest.id], 1)
    assert listed(offset=1, limit=1) == ([middle.id], 3)
    assert listed(offset=3) == ([], 3)


def test_operators_list_escalations_oldest_first_by_district_in_any_case_and_page(
    start_uow: StartUow, clock: FakeClock
) -> None:
    first = escalated(start_uow, clock, "Østerbro")
    clock.advance(timedelta(minutes=5))
    second = escalated(start_uow, clock, "Nørrebro")
    clock.advance(timedelta(minutes=5))
    third = escalated(start_uow, clock, "Østerbro")
    offered(start_uow, clock, uuid4(), district="Østerbro")  # not escalated

    def listed(district: str | None = None, offset: int = 0, limit: int = 50) -> object:
        with start_uow() as uow:
            found, total = uow.referrals.escalated(district, offset, limit)
        return [r.id for r in found], total

    assert listed() == ([first.id, second.id, third.id], 3)
    assert listed("ØSTERBRO") == ([first.id, third.id], 2)
    assert listed("østerbro", offset=1, limit=1) == ([third.id], 2)
    assert listed("Valby") == ([], 0)


def test_an_older_service_change_arriving_late_does_not_undo_a_newer_one(
    start_uow: StartUow,
) -> None:
    newer = service_changed(free_places=0, changed_at=NOW)
    service_id, organization = newer.service_id, newer.organization_id
    older = newer.model_copy(
        update={"status": "inactive", "free_places": 4, "changed_at": NOW - timedelta(1)}
    )
    for event in (newer, older):
        with start_uow() as uow:
            services.learn_service(event, uow)
    with start_uow() as uow:
        service = uow.services.get_many({service_id})[service_id]
    assert (service.active, service.free_places, service.organization_id) == (
        True,
        0,
        organization,
    )
    later = newer.model_copy(update={"free_places": 2, "changed_at": NOW + timedelta(minutes=1)})
    with start_uow() as uow:
        services.learn_service(later, uow)
    with start_uow() as uow:
        assert uow.services.get_many({service_id})[service_id].free_places == 2
