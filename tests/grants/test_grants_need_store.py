"""Where the need is, stored: the kept referrals and the count of the unmet ones for a
pool's target groups, on SQLite and PostgreSQL; and revision 0003."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
import sqlmodel
from alembic import command
from sqlalchemy import (
    BigInteger,
    Date,
    Engine,
    String,
    Text,
    Uuid,
    func,
    insert,
    inspect,
    select,
)
from sqlalchemy import column as sql_column
from sqlalchemy import table as sql_table
from sqlalchemy.orm import sessionmaker

import grants.app
from contracts import NoMatchFound, ReferralEscalated, ReferralSubmitted
from grants import services
from grants.domain.need import DistrictNeed, ReferralNeed
from grants.store import GrantsUnitOfWork, ReferralNeedRow, ReferralNeedTargetGroupRow
from runtime.migrations import alembic_config
from runtime.storage import UTCDateTime
from tests.kit import wait_for, waiting_for_a_lock

UowFactory = Callable[[], GrantsUnitOfWork]
SOURCE = "/brobygger/grants"
WAIT_SECONDS = 30
SINCE, UNTIL = date(2025, 12, 1), date(2026, 11, 30)
SUBMITTED = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def unmet(
    district: str,
    target_groups: set[str],
    at: datetime = SUBMITTED,
    referral_id: UUID | None = None,
) -> ReferralNeed:
    """A referral nothing fitted, unmet at its submission at `at`."""
    referral = ReferralNeed(referral_id or uuid4())
    referral.submitted(district, target_groups, at)
    referral.found_no_match()
    return referral


def save(start_uow: UowFactory, *referrals: ReferralNeed) -> None:
    with start_uow() as uow:
        for referral in referrals:
            uow.referral_needs.save(referral)
        uow.commit()


def get(start_uow: UowFactory, referral_id: UUID) -> ReferralNeed | None:
    with start_uow() as uow:
        return uow.referral_needs.get(referral_id)


def unmet_by_district(start_uow: UowFactory, *target_groups: str) -> list[DistrictNeed]:
    with start_uow() as uow:
        return uow.referral_needs.unmet_by_district(SINCE, UNTIL, frozenset(target_groups))


def rows(engine: Engine, table: Any) -> int:
    with engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def test_a_kept_referral_reads_back_as_it_was_saved_and_as_it_changed(
    start_uow: UowFactory,
) -> None:
    referral = ReferralNeed(uuid4())
    referral.submitted("Nørrebro", ["dementia", "wheelchair_access"], SUBMITTED)
    save(start_uow, referral)
    assert get(start_uow, referral.referral_id) == referral

    referral.escalated("Nørrebro", ["dementia"], SUBMITTED + timedelta(days=2))
    referral.target_groups = frozenset({"older_people"})
    save(start_uow, referral)

    stored = get(start_uow, referral.referral_id)
    assert stored == referral
    assert stored is not None
    assert stored.escalated_at is not None
    assert stored.escalated_at.tzinfo is not None


def test_a_no_match_waiting_for_its_submission_is_kept_without_a_district(
    start_uow: UowFactory,
) -> None:
    waiting = ReferralNeed(uuid4(), no_match=True)
    save(start_uow, waiting)

    assert get(start_uow, waiting.referral_id) == waiting
    assert unmet_by_district(start_uow) == []


def test_the_unmet_referrals_are_counted_by_district_most_first_then_by_name(
    start_uow: UowFactory,
) -> None:
    matched = ReferralNeed(uuid4())
    matched.submitted("Valby", ["dementia"], SUBMITTED)
    save(
        start_uow,
        unmet("Valby", {"dementia"}),
        unmet("Amager Vest", {"older_people"}),
        unmet("Valby", set()),
        unmet("Bispebjerg", {"dementia"}),
        matched,
    )

    assert unmet_by_district(start_uow) == [
        DistrictNeed("Valby", 2),
        DistrictNeed("Amager Vest", 1),
        DistrictNeed("Bispebjerg", 1),
    ]


def test_only_the_referrals_of_the_target_groups_count_each_once(start_uow: UowFactory) -> None:
    save(
        start_uow,
        unmet("Valby", {"dementia", "hard_to_leave_home"}),
        unmet("Valby", {"hard_to_leave_home", "wheelchair_access"}),
        unmet("Nørrebro", {"older_people"}),
        unmet("Nørrebro", set()),
    )

    assert unmet_by_district(start_uow, "dementia", "hard_to_leave_home") == [
        DistrictNeed("Valby", 2)
    ]
    assert unmet_by_district(start_uow, "visual_impairment") == []


def test_the_months_include_the_whole_first_and_last_day_and_nothing_either_side(
    start_uow: UowFactory,
) -> None:
    first = datetime.combine(SINCE, time(), UTC)
    after_last = datetime.combine(UNTIL + timedelta(days=1), time(), UTC)
    save(
        start_uow,
        unmet("Valby", set(), first),
        unmet("Vesterbro", set(), after_last - timedelta(microseconds=1)),
        # 23:30 in Copenhagen on the last day is already the next day in UTC: left out.
        unmet("Østerbro", set(), after_last),
        unmet("Østerbro", set(), first - timedelta(microseconds=1)),
    )

    assert unmet_by_district(start_uow) == [DistrictNeed("Valby", 1), DistrictNeed("Vesterbro", 1)]


def test_forgetting_a_referral_drops_it_and_its_target_groups_and_nothing_else(
    engine: Engine, start_uow: UowFactory
) -> None:
    erased, kept = unmet("Valby", {"dementia", "older_people"}), unmet("Valby", {"dementia"})
    save(start_uow, erased, kept)

    with start_uow() as uow:
        uow.referral_needs.forget(erased.referral_id)
        uow.commit()

    assert get(start_uow, erased.referral_id) is None
    assert get(start_uow, kept.referral_id) == kept
    assert (rows(engine, ReferralNeedRow), rows(engine, ReferralNeedTargetGroupRow)) == (1, 1)
    assert unmet_by_district(start_uow, "older_people") == []


def test_a_no_match_before_its_submission_is_counted_once_the_submission_is_handled(
    start_uow: UowFactory,
) -> None:
    referral_id = uuid4()
    with start_uow() as uow:
        services.count_no_match(NoMatchFound(referral_id=referral_id, reason="nothing"), uow)
    with start_uow() as uow:
        services.keep_referral(submitted(referral_id), uow)

    need = services.unmet_need(["dementia"], UNTIL, start_uow)

    assert (need.since, need.until, need.by_district, need.total) == (
        SINCE,
        UNTIL,
        [DistrictNeed("Nørrebro", 1)],
        1,
    )


def submitted(referral_id: UUID) -> ReferralSubmitted:
    return ReferralSubmitted(
        referral_id=referral_id,
        citizen_ref="ref_01hzzzzzzzzzzzzzzzzzzzzzzz",
        age_band="80-84",
        district="Nørrebro",
        interests=["walking"],
        languages=["da"],
        needs=["dementia"],
        submitted_at=SUBMITTED,
    )


@pytest.mark.parametrize("engine_for", ["postgresql"], indirect=True)
def test_a_no_match_and_an_escalation_handled_at_once_are_both_kept(
    engine: Engine, sessions: sessionmaker[sqlmodel.Session], start_uow: UowFactory
) -> None:
    """Two consumers (the topics of directory and referrals) at the same referral: the
    escalation waits for the no-match's transaction and reads what it wrote, so the
    referral stays unmet as of its submission, not of its escalation."""
    referral_id = uuid4()
    with start_uow() as uow:
        services.keep_referral(submitted(referral_id), uow)
    written, go_on = threading.Event(), threading.Event()

    class CommitsWhenTold(GrantsUnitOfWork):
        def commit(self) -> None:
            written.set()
            assert go_on.wait(WAIT_SECONDS), "never told to commit"
            super().commit()

    def no_match() -> None:
        with CommitsWhenTold(sessions, SOURCE) as uow:
            services.count_no_match(NoMatchFound(referral_id=referral_id, reason="nothing"), uow)

    def escalation() -> None:
        event = ReferralEscalated(
            referral_id=referral_id,
            district="Nørrebro",
            interests=["walking"],
            languages=["da"],
            needs=["dementia"],
            reason="no_match",
            escalated_at=SUBMITTED + timedelta(days=40),
        )
        with start_uow() as uow:
            services.count_escalation(event, uow)

    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(no_match)
        assert written.wait(WAIT_SECONDS), "the no-match was never handled"
        second = pool.submit(escalation)
        wait_for(lambda: waiting_for_a_lock(engine), "the escalation to wait", WAIT_SECONDS)
        go_on.set()
        first.result(timeout=WAIT_SECONDS)
        second.result(timeout=WAIT_SECONDS)

    stored = get(start_uow, referral_id)
    assert stored is not None
    assert (stored.no_match, stored.escalated_at) == (True, SUBMITTED + timedelta(days=40))
    # Counted in November, when it was submitted; the escalation is in December.
    assert unmet_by_district(start_uow) == [DistrictNeed("Nørrebro", 1)]


# --- revision 0003 ---------------------------------------------------------------------------

POOL_0002 = sql_table(
    "grant_pool",
    sql_column("id", Uuid()),
    sql_column("created_by", String()),
    sql_column("name", String()),
    sql_column("description", Text()),
    sql_column("budget_dkk", BigInteger()),
    sql_column("opens_on", Date()),
    sql_column("closes_on", Date()),
    sql_column("criteria", Text()),
    sql_column("small_grant_limit_dkk", BigInteger()),
    sql_column("status", String()),
    sql_column("created_at", UTCDateTime()),
)


def test_a_pool_from_before_revision_0003_is_for_everyone_and_0003_comes_and_goes(
    engine_for: Callable[[str], Engine],
) -> None:
    engine = engine_for("grants")
    config = alembic_config(grants.app.MIGRATIONS, engine)
    command.upgrade(config, "0002")
    pool_id = uuid4()
    with engine.begin() as connection:
        connection.execute(
            insert(POOL_0002),
            [
                {
                    "id": pool_id,
                    "created_by": "operator-1",
                    "name": "Nye fællesskaber 2026",
                    "description": "",
                    "budget_dkk": 500_000,
                    "opens_on": date(2026, 3, 1),
                    "closes_on": date(2026, 4, 30),
                    "criteria": "Open to associations in Copenhagen.",
                    "small_grant_limit_dkk": None,
                    "status": "open",
                    "created_at": SUBMITTED,
                }
            ],
        )

    command.upgrade(config, "head")
    command.check(config)  # the models and the revisions agree
    factory = sessionmaker(engine, class_=sqlmodel.Session, expire_on_commit=False)
    with GrantsUnitOfWork(factory, SOURCE) as uow:
        pool = uow.pools.get(pool_id)
    assert pool is not None
    assert pool.target_groups == []

    command.downgrade(config, "0002")
    assert "target_groups" not in {c["name"] for c in inspect(engine).get_columns("grant_pool")}
    assert not {"referral_need", "referral_need_target_group"} & set(
        inspect(engine).get_table_names()
    )
    command.upgrade(config, "head")
