"""Follow-ups and the care systems' changes feed in the referrals store, on SQLite and
PostgreSQL: what is saved reads back the same, every step gets the next number and nothing
else does, erasure leaves only that the referral was erased, and revision 0007 brings the
referrals from before into the feed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from uuid import UUID, uuid4

import pytest
from alembic import command
from sqlalchemy import (
    JSON,
    Boolean,
    Engine,
    Integer,
    LargeBinary,
    String,
    Uuid,
    column,
    func,
    insert,
    inspect,
    select,
    table,
)
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session, col

from referrals import services
from referrals.app import MIGRATIONS
from referrals.domain import (
    FOLLOW_UP_REMINDER,
    Accompaniment,
    Actor,
    CancelReason,
    ErasureBasis,
    HoldReason,
    Outcome,
    Participation,
    ParticipationStatus,
    Referral,
    ReferralStatus,
    Scores,
    Ucla3,
    Who5,
)
from referrals.store import (
    Change,
    ChangeCounterRow,
    FollowUpRow,
    ReferralRow,
    ReferralsUnitOfWork,
    TimerRow,
)
from runtime.migrations import alembic_config, upgrade
from runtime.storage import UTCDateTime
from tests.events import matches_found
from tests.fakes import FakeClock
from tests.referrals.support import (
    CARE,
    CITY,
    NOW,
    OPERATOR,
    TTL,
    VAULT,
    city_day,
    consent,
    partner,
    submitted,
)

StartUow = Callable[[], ReferralsUnitOfWork]

DUE_1 = datetime(2026, 12, 20, 9, tzinfo=CITY)
DUE_2 = datetime(2027, 2, 21, 9, tzinfo=CITY)
"""28 and 91 days after a first meeting on NOW's day."""
OTHER_CARE = Actor(CARE.party, "care-2")
TAKING_PART = Participation(ParticipationStatus.TAKING_PART, 4, "Comes with her neighbour")


@pytest.fixture
def start_uow(engine_for: Callable[[str], Engine]) -> StartUow:
    engine = engine_for("referrals")
    upgrade(MIGRATIONS, engine)
    factory = sessionmaker(engine, class_=Session, expire_on_commit=False)
    return lambda: ReferralsUnitOfWork(factory, "/brobygger/referrals")


@pytest.fixture
def lifecycle(start_uow: StartUow, clock: FakeClock) -> services.Lifecycle:
    return services.Lifecycle(start_uow, TTL, clock)


def load(start_uow: StartUow, referral_id: UUID) -> Referral:
    with start_uow() as uow:
        referral = uow.referrals.get(referral_id)
    assert referral is not None
    return referral


def feed(start_uow: StartUow, care_system: str | None = None, after: int = 0) -> list[Change]:
    with start_uow() as uow:
        return uow.referrals.changes(care_system, after, 1000)


def counter(start_uow: StartUow) -> int:
    with start_uow() as uow:
        return int(uow.session.execute(select(col(ChangeCounterRow.value))).scalar_one())


def in_progress(
    start_uow: StartUow, lifecycle: services.Lifecycle, clock: FakeClock, **changes: object
) -> tuple[UUID, Actor]:
    """A referral accepted and met today; and the partner holding it."""
    referral = submitted(start_uow, clock, **changes)
    organisation = uuid4()
    with start_uow() as uow:
        services.offer_to_candidates(matches_found(referral.id, organisation), uow, TTL, clock)
    holder = partner(organisation)
    services.accept_offer(referral.id, holder, lifecycle)
    meeting = services.RecordFirstMeeting(city_day(clock.now), Accompaniment.VOLUNTEER)
    services.record_first_meeting(referral.id, meeting, holder, lifecycle)
    return referral.id, holder


def test_follow_ups_and_their_answers_read_back_as_they_were_saved(
    start_uow: StartUow, lifecycle: services.Lifecycle, clock: FakeClock
) -> None:
    baseline = Scores(Ucla3(3, 3, 2), Who5(1, 0, 2, 1, 1))
    referral_id, holder = in_progress(
        start_uow,
        lifecycle,
        clock,
        baseline=baseline,
        care_record_reference="EOJ-2026-004711",
        consent=consent(share_outcome_with_care_system=True),
    )
    met = load(start_uow, referral_id)
    assert [f.due_at for f in met.follow_ups] == [DUE_1, DUE_2]
    assert (met.baseline, met.care_record_reference) == (baseline, "EOJ-2026-004711")

    clock.now = DUE_1 + timedelta(days=14)
    assert services.fire_due_timers(lifecycle) == 2  # due, then reminded
    answered = services.record_participation(
        referral_id, services.RecordParticipation(1, TAKING_PART), holder, lifecycle
    )
    assert load(start_uow, referral_id) == answered
    clock.now = DUE_2 + timedelta(minutes=5)
    only_ucla3 = services.RecordWellbeing(1, Scores(ucla3=Ucla3(1, 2, 1)))
    services.record_wellbeing(referral_id, only_ucla3, CARE, lifecycle)
    not_answered = services.RecordWellbeing(2, Scores())
    answered = services.record_wellbeing(referral_id, not_answered, CARE, lifecycle)
    stored = load(start_uow, referral_id)
    assert stored == answered
    assert stored.follow_ups == answered.follow_ups  # said again: the point of the test
    first, second = stored.follow_ups
    assert (first.participation, first.reminded_at) == (TAKING_PART, DUE_1 + timedelta(days=14))
    assert (first.wellbeing, second.wellbeing) == (Scores(ucla3=Ucla3(1, 2, 1)), Scores())
    assert stored.status is ReferralStatus.IN_PROGRESS

    stopped = services.RecordParticipation(2, Participation(ParticipationStatus.STOPPED, 0))
    completed = services.record_participation(referral_id, stopped, holder, lifecycle)
    stored = load(start_uow, referral_id)
    assert stored == completed
    assert (stored.status, stored.outcome, stored.completed_at) == (
        ReferralStatus.COMPLETED,
        Outcome.STOPPED,
        clock.now,
    )
    with start_uow() as uow:
        row = uow.session.get(ReferralRow, referral_id)
        assert row is not None
        assert (row.completed_at, row.updated_at, row.outcome) == (clock.now, clock.now, "stopped")


def test_the_feed_numbers_every_step_in_the_order_committed_without_gaps(
    start_uow: StartUow, lifecycle: services.Lifecycle, clock: FakeClock
) -> None:
    mine, holder = in_progress(start_uow, lifecycle, clock)
    theirs = submitted(start_uow, clock, submitted_by=OTHER_CARE.subject).id
    clock.now = DUE_1
    services.fire_due_timers(lifecycle)
    services.record_participation(
        mine, services.RecordParticipation(1, TAKING_PART), holder, lifecycle
    )
    services.cancel(theirs, services.CancelReferral(CancelReason.DUPLICATE), OTHER_CARE, lifecycle)
    services.record_wellbeing(mine, services.RecordWellbeing(1, Scores()), CARE, lifecycle)

    changes = feed(start_uow)
    assert [c.seq for c in changes] == list(range(1, len(changes) + 1))
    assert [(c.referral_id, c.action) for c in changes] == [
        (mine, "submit"),
        (mine, "offer"),
        (mine, "accept"),
        (mine, "first_meeting"),
        (theirs, "submit"),
        (mine, "follow_up_due"),
        (mine, "record_participation"),
        (theirs, "cancel"),
        (mine, "record_wellbeing"),
    ]
    assert counter(start_uow) == len(changes)
    for referral_id in (mine, theirs):
        history = load(start_uow, referral_id).history
        steps = [c for c in changes if c.referral_id == referral_id]
        assert [
            (c.at, c.action, c.status, c.previous_status, c.reason, c.follow_up) for c in steps
        ] == [
            (
                t.at,
                t.action,
                t.to_status.value,
                t.from_status.value if t.from_status else None,
                t.reason,
                t.follow_up,
            )
            for t in history
        ]
    assert [c.referral_id for c in feed(start_uow, OTHER_CARE.subject)] == [theirs, theirs]
    assert {c.referral_id for c in feed(start_uow, CARE.subject)} == {mine}
    assert [c.seq for c in feed(start_uow, CARE.subject, after=5)] == [6, 7, 9]
    with start_uow() as uow:
        assert [c.seq for c in uow.referrals.changes(None, 2, 3)] == [3, 4, 5]


def test_a_save_without_a_new_step_takes_no_number(
    start_uow: StartUow, lifecycle: services.Lifecycle, clock: FakeClock
) -> None:
    referral_id, holder = in_progress(start_uow, lifecycle, clock)
    clock.now = DUE_1
    services.fire_due_timers(lifecycle)
    report = services.RecordParticipation(1, TAKING_PART)
    services.record_participation(referral_id, report, holder, lifecycle)
    services.record_wellbeing(referral_id, services.RecordWellbeing(1, Scores()), CARE, lifecycle)
    numbered, version = counter(start_uow), load(start_uow, referral_id).version

    services.record_participation(referral_id, report, holder, lifecycle)  # sent again
    first = load(start_uow, referral_id).follow_ups[0]
    with start_uow() as uow:  # a reminder left over from before the answers
        uow.session.add(
            TimerRow(
                referral_id=referral_id, kind=FOLLOW_UP_REMINDER, key=first.id, due_at=clock.now
            )
        )
        uow.commit()
    clock.now = first.remind_at
    assert services.fire_due_timers(lifecycle) == 1
    assert load(start_uow, referral_id).version == version + 2, "both were saved"
    assert (counter(start_uow), len(feed(start_uow))) == (numbered, numbered)

    services.put_on_hold(referral_id, services.PutOnHold(HoldReason.CITIZEN_ILL), holder, lifecycle)
    assert [c.seq for c in feed(start_uow, after=numbered)] == [numbered + 1]


def test_erasure_leaves_of_the_referral_only_an_erased_change(
    start_uow: StartUow, lifecycle: services.Lifecycle, clock: FakeClock
) -> None:
    erased_id, holder = in_progress(start_uow, lifecycle, clock)
    kept_id, _ = in_progress(start_uow, lifecycle, clock, personal_number="020341-1234")
    clock.now = DUE_1
    services.fire_due_timers(lifecycle)
    services.record_participation(
        erased_id, services.RecordParticipation(1, TAKING_PART), holder, lifecycle
    )
    kept_before = [c for c in feed(start_uow) if c.referral_id == kept_id]
    numbered = counter(start_uow)

    clock.advance(timedelta(hours=1))
    erasure = services.EraseCitizen("010140-1234", ErasureBasis.GDPR_ART17_REQUEST)
    services.erase_citizen(erasure, OPERATOR, lifecycle, VAULT)

    changes = feed(start_uow)
    [erased] = [c for c in changes if c.referral_id == erased_id]
    assert (erased.seq, erased.action, erased.at) == (numbered + 1, "erased", clock.now)
    assert (erased.status, erased.previous_status, erased.reason, erased.follow_up) == (
        None,
        None,
        None,
        None,
    )
    assert (erased.outcome, erased.score_changes) == (None, None)
    assert [c for c in changes if c.referral_id == kept_id] == kept_before
    assert [c.referral_id for c in feed(start_uow, CARE.subject, after=numbered)] == [erased_id]
    with start_uow() as uow:
        follow_ups = select(FollowUpRow).where(col(FollowUpRow.referral_id) == erased_id)
        assert uow.session.execute(follow_ups).all() == []
        assert uow.referrals.get(erased_id) is None
    assert len(load(start_uow, kept_id).follow_ups) == 2


# --- revision 0007 ------------------------------------------------------------------------

REFERRAL_0006 = table(
    "referral",
    column("id", Uuid()),
    column("submitted_by", String()),
    column("citizen_ref", String()),
    column("identity_ciphertext", LargeBinary()),
    column("age_band", String()),
    column("district", String()),
    column("district_key", String()),
    column("interests", JSON()),
    column("languages", JSON()),
    column("needs", JSON()),
    column("share_contact_details", Boolean()),
    column("status", String()),
    column("submitted_at", UTCDateTime()),
    column("escalation_reason", String()),
    column("escalated_at", UTCDateTime()),
)
TRANSITION_0006 = table(
    "transition",
    column("referral_id", Uuid()),
    column("seq", Integer()),
    column("at", UTCDateTime()),
    column("action", String()),
    column("party", String()),
    column("from_status", String()),
    column("to_status", String()),
    column("reason", String()),
    column("text", String()),
)
ERASED_0006 = table(
    "erased_referral",
    column("id", Uuid()),
    column("submitted_by", String()),
    column("organization_ids", JSON()),
    column("erased_at", UTCDateTime()),
)


def old_referral(status: str, minute: int, **changes: object) -> dict[str, object]:
    return {
        "id": uuid4(),
        "submitted_by": "care-1",
        "citizen_ref": "ref_abcdefghijklmnopqrstuvwxyz",
        "identity_ciphertext": b"",
        "age_band": "80-84",
        "district": "Nørrebro",
        "district_key": "nørrebro",
        "interests": ["walking"],
        "languages": ["da"],
        "needs": [],
        "share_contact_details": False,
        "status": status,
        "submitted_at": NOW + timedelta(minutes=minute),
        "escalation_reason": None,
        "escalated_at": None,
        **changes,
    }


def steps(
    referral_id: object, *taken: tuple[int, str, str, str | None, str | None]
) -> list[dict[str, object]]:
    """(minute, action, party, from, to) each, as revision 0006 kept them."""
    return [
        {
            "referral_id": referral_id,
            "seq": seq,
            "at": NOW + timedelta(minutes=minute),
            "action": action,
            "party": party,
            "from_status": from_status,
            "to_status": to_status,
            "reason": "no_match" if action == "escalate" else None,
            "text": "Comes every Tuesday" if action == "complete" else None,
        }
        for seq, (minute, action, party, from_status, to_status) in enumerate(taken)
    ]


class FromBefore:
    """A database at revision 0006 with two referrals and an erased one: `done` (completed)
    and `waiting` (escalated), their steps stored one referral after the other, interleaved
    in time; `erased` erased between their steps."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.config = alembic_config(MIGRATIONS, engine)
        command.upgrade(self.config, "0006")
        self.done, self.waiting, self.erased = uuid4(), uuid4(), uuid4()
        done = old_referral("completed", 0, id=self.done)
        waiting = old_referral(
            "escalated",
            1,
            id=self.waiting,
            escalation_reason="no_match",
            escalated_at=NOW + timedelta(minutes=3),
        )
        self.erased_at = NOW + timedelta(minutes=3, seconds=30)
        with engine.begin() as connection:
            connection.execute(insert(REFERRAL_0006), [done, waiting])
            connection.execute(
                insert(TRANSITION_0006),
                steps(
                    self.done,
                    (0, "submit", "care_system", None, "submitted"),
                    (2, "offer", "system", "submitted", "offered"),
                    (4, "accept", "partner", "offered", "accepted"),
                    (4, "first_meeting", "partner", "accepted", "in_progress"),  # same moment
                    (7, "complete", "partner", "in_progress", "completed"),
                )
                + steps(
                    self.waiting,
                    (1, "submit", "care_system", None, "submitted"),
                    (3, "escalate", "system", "submitted", "escalated"),
                ),
            )
            connection.execute(
                insert(ERASED_0006),
                [
                    {
                        "id": self.erased,
                        "submitted_by": "care-2",
                        "organization_ids": [],
                        "erased_at": self.erased_at,
                    }
                ],
            )
        factory = sessionmaker(engine, class_=Session, expire_on_commit=False)
        self.start_uow: StartUow = lambda: ReferralsUnitOfWork(factory, "/brobygger/referrals")

    def feed_in_time_order(self) -> list[tuple[int, UUID, str]]:
        return [
            (1, self.done, "submit"),
            (2, self.waiting, "submit"),
            (3, self.done, "offer"),
            (4, self.waiting, "escalate"),
            (5, self.erased, "erased"),
            (6, self.done, "accept"),
            (7, self.done, "first_meeting"),
            (8, self.done, "complete"),
        ]


def test_revision_0007_fills_in_the_referrals_from_before_and_numbers_their_steps_in_time_order(
    engine_for: Callable[[str], Engine],
) -> None:
    before = FromBefore(engine_for("referrals"))
    command.upgrade(before.config, "head")
    command.check(before.config)  # the models and the revisions agree
    start_uow = before.start_uow
    with start_uow() as uow:
        rows = {
            row.id: (row.updated_at, row.completed_at)
            for row in uow.session.execute(select(ReferralRow)).scalars()
        }
    assert rows == {
        before.done: (NOW + timedelta(minutes=7), NOW + timedelta(minutes=7)),
        before.waiting: (NOW + timedelta(minutes=3), None),
    }
    changes = feed(start_uow)
    assert [(c.seq, c.referral_id, c.action) for c in changes] == before.feed_in_time_order()
    assert (changes[3].previous_status, changes[3].status, changes[3].reason) == (
        "submitted",
        "escalated",
        "no_match",
    )
    assert (changes[4].status, changes[4].at) == (None, before.erased_at)
    assert [c.referral_id for c in feed(start_uow, "care-2")] == [before.erased]
    assert counter(start_uow) == 8

    # The feed goes on from there, and the referrals from before go on living.
    lifecycle = services.Lifecycle(start_uow, TTL, FakeClock(NOW + timedelta(hours=1)))
    cancel = services.CancelReferral(CancelReason.DUPLICATE)
    services.cancel(before.waiting, cancel, CARE, lifecycle)
    assert [(c.seq, c.action) for c in feed(start_uow, after=8)] == [(9, "cancel")]
    assert load(start_uow, before.waiting).status is ReferralStatus.CANCELLED


def test_revision_0007_downgrades_keeping_the_referrals_from_before(
    engine_for: Callable[[str], Engine],
) -> None:
    before = FromBefore(engine_for("referrals"))
    command.upgrade(before.config, "head")
    command.downgrade(before.config, "0006")
    found = inspect(before.engine)
    assert not {"change", "change_counter", "follow_up"} & set(found.get_table_names())
    assert "updated_at" not in {c["name"] for c in found.get_columns("referral")}
    with before.engine.connect() as connection:
        kept = connection.execute(select(func.count()).select_from(TRANSITION_0006)).scalar_one()
    assert kept == 7
    command.upgrade(before.config, "head")
    assert [(c.seq, c.referral_id, c.action) for c in feed(before.start_uow)] == (
        before.feed_in_time_order()
    )
