"""The outcome report's rules and statistics, and its use case on fakes."""

from __future__ import annotations

import math
import statistics
from datetime import UTC, date, datetime
from itertools import pairwise
from uuid import uuid4

import pytest

from referrals.domain import (
    Accompaniment,
    Forbidden,
    Outcome,
    ParticipationStatus,
    Party,
    Scores,
    Ucla3,
    Who5,
)
from referrals.domain.reports import (
    CompletedReferral,
    Completions,
    FirstMeeting,
    FollowUpShare,
    InvalidPeriod,
    MeanChange,
    Median,
    OutcomeReport,
    ParticipationCount,
    Period,
    ReportScope,
    Share,
    score_changes,
    t_975,
)
from referrals.services.reports import outcome_report
from tests.referrals.fakes import FakeUnitOfWork
from tests.referrals.support import CARE, OPERATOR, partner

YEAR = Period(date(2026, 1, 1), date(2026, 12, 31))
TAKING_PART, PAUSED, STOPPED = (
    ParticipationStatus.TAKING_PART,
    ParticipationStatus.PAUSED,
    ParticipationStatus.STOPPED,
)


def ucla3(total: int) -> Ucla3:
    """Answers adding up to `total` (3 to 9)."""
    items = [1, 1, 1]
    for i in range(total - 3):
        items[i % 3] += 1
    return Ucla3(*items)


def who5(index: int) -> Who5:
    """Answers whose index is `index` (a multiple of 4, 0 to 100)."""
    raw, items = index // 4, [0, 0, 0, 0, 0]
    for i in range(raw):
        items[i % 5] += 1
    return Who5(*items)


# --- t quantiles and the interval -------------------------------------------------------


@pytest.mark.parametrize(
    ("df", "t"),
    [(1, 12.706), (4, 2.776), (10, 2.228), (30, 2.042), (40, 2.021), (120, 1.980)],
)
def test_t_quantiles_of_the_table_are_the_known_values(df: int, t: float) -> None:
    assert t_975(df) == t


@pytest.mark.parametrize(
    ("df", "t"),
    [
        (35, 2.030),  # between 30 and 40
        (50, 2.009),  # between 40 and 60
        (90, 1.987),  # between 60 and 120
        (1000, 1.962),  # between 120 and infinity
        (10**9, 1.960),
    ],
)
def test_t_quantiles_between_table_rows_are_interpolated_in_one_over_df(df: int, t: float) -> None:
    assert t_975(df) == pytest.approx(t, abs=0.0015)


def test_t_quantiles_fall_steadily_towards_the_normal_quantile() -> None:
    quantiles = [t_975(df) for df in range(1, 400)]
    assert all(a > b for a, b in pairwise(quantiles))
    assert quantiles[-1] > 1.960


def test_there_is_no_t_quantile_without_degrees_of_freedom() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        t_975(0)


def test_the_mean_change_has_a_95_percent_interval_by_students_t() -> None:
    # mean -2; s = sqrt(10 / 4) = 1.5811; s / sqrt(5) = 0.7071; t(4) = 2.776: ± 1.963
    figure = MeanChange.of([-2, -1, 0, -3, -4])
    assert figure == MeanChange(n=5, mean=-2.0, low=-3.96, high=-0.04)
    assert not figure.suppressed


def test_the_mean_change_of_a_larger_group_matches_the_formula() -> None:
    changes = [-3, -2, -2, -1, -1, -1, 0, 0, 1, 2, -4, -2]
    half = 2.201 * statistics.stdev(changes) / math.sqrt(12)  # t(11) = 2.201
    mean = statistics.fmean(changes)
    figure = MeanChange.of(changes)
    assert (figure.n, figure.mean) == (12, round(mean, 2))
    assert figure.low == round(mean - half, 2)
    assert figure.high == round(mean + half, 2)


def test_an_interval_with_no_spread_is_the_mean_itself_and_never_minus_zero() -> None:
    assert MeanChange.of([0] * 5) == MeanChange(n=5, mean=0.0, low=0.0, high=0.0)
    assert str(MeanChange.of([0] * 5).low) == "0.0"


# --- suppression ------------------------------------------------------------------------


def test_every_figure_of_four_is_suppressed_and_of_five_shown() -> None:
    assert MeanChange.of([1, 2, 3, 4]) == MeanChange(None, None, None, None)
    assert MeanChange.of([1, 2, 3, 4]).suppressed
    assert Share.of([True] * 4) == Share(None, None)
    assert Share.of([True] * 5) == Share(5, 1.0)
    assert Median.of([3, 4, 5, 6]) == Median(None, None)
    assert Median.of([3, 4, 5, 6, 100]) == Median(5, 5.0)
    four = [ParticipationCount(1, TAKING_PART, 4)]
    assert FollowUpShare.of(1, four) == FollowUpShare(1, None, None)
    assert FollowUpShare.of(1, [*four, ParticipationCount(1, STOPPED, 1)]) == FollowUpShare(
        1, 5, 0.8
    )
    assert Completions.of([Outcome.PARTICIPATING] * 4) == Completions(
        None, {"participating": None, "stopped": None, "never_started": None, "unknown": None}
    )


def test_an_outcome_counted_fewer_than_five_times_is_not_shown() -> None:
    outcomes = [Outcome.PARTICIPATING] * 6 + [Outcome.STOPPED] * 5 + [None] * 2
    assert Completions.of(outcomes) == Completions(
        13, {"participating": 6, "stopped": 5, "never_started": None, "unknown": None}
    )


def test_a_lone_small_count_hides_the_smallest_other_so_the_total_cannot_give_it_away() -> None:
    outcomes = (
        [Outcome.PARTICIPATING] * 7
        + [Outcome.STOPPED] * 5
        + [Outcome.NEVER_STARTED] * 6
        + [None] * 1
    )
    figure = Completions.of(outcomes)
    assert figure.n == 19
    assert figure.outcomes == {
        "participating": 7,
        "stopped": None,
        "never_started": 6,
        "unknown": None,
    }


def test_shares_are_fractions_to_three_decimals() -> None:
    assert Share.of([True, True, False, True, True, False]) == Share(6, 0.667)
    counts = [ParticipationCount(2, TAKING_PART, 3), ParticipationCount(2, PAUSED, 1)]
    counts.append(ParticipationCount(2, STOPPED, 3))
    assert FollowUpShare.of(2, counts) == FollowUpShare(2, 7, 0.571)


def test_the_median_of_an_even_group_lies_between_its_middle_two() -> None:
    assert Median.of([10, 2, 7, 3, 30, 8]) == Median(6, 7.5)


# --- the period and who sees what -------------------------------------------------------


def test_a_period_ending_before_it_begins_is_refused() -> None:
    with pytest.raises(InvalidPeriod, match="before it begins"):
        Period(date(2026, 3, 2), date(2026, 3, 1))


def test_a_period_of_five_years_is_the_longest() -> None:
    Period(date(2021, 1, 1), date(2025, 12, 31))
    Period(date(2024, 2, 29), date(2029, 2, 28))
    with pytest.raises(InvalidPeriod, match="longer than 5 years"):
        Period(date(2021, 1, 1), date(2026, 1, 1))
    with pytest.raises(InvalidPeriod, match="longer than 5 years"):
        Period(date(2024, 2, 29), date(2029, 3, 1))


def test_a_period_is_of_days_in_copenhagen() -> None:
    winter = Period(date(2026, 1, 1), date(2026, 1, 31))
    assert winter.starts_at == datetime(2025, 12, 31, 23, tzinfo=UTC)
    assert winter.ends_at == datetime(2026, 1, 31, 23, tzinfo=UTC)
    summer_time_begins = Period(date(2026, 3, 29), date(2026, 3, 29))
    assert summer_time_begins.starts_at == datetime(2026, 3, 28, 23, tzinfo=UTC)
    assert summer_time_begins.ends_at == datetime(2026, 3, 29, 22, tzinfo=UTC)


def test_the_calendars_first_and_last_days_make_a_period_too() -> None:
    first, last = Period(date.min, date.min), Period(date.max, date.max)
    assert first.starts_at == datetime.min.replace(tzinfo=UTC) < first.ends_at
    assert last.starts_at < last.ends_at == datetime.max.replace(tzinfo=UTC)


def test_an_operator_sees_the_report_of_any_organisation() -> None:
    organization = uuid4()
    scope = ReportScope(YEAR, organization_id=organization)
    assert scope.seen_by(OPERATOR) == scope
    assert ReportScope(YEAR).seen_by(OPERATOR).organization_id is None


def test_a_partner_sees_its_own_organisations_referrals_only() -> None:
    own, other = uuid4(), uuid4()
    assert ReportScope(YEAR).seen_by(partner(own)).organization_id == own
    assert ReportScope(YEAR, organization_id=own).seen_by(partner(own)).organization_id == own
    with pytest.raises(Forbidden, match="own organisation"):
        ReportScope(YEAR, organization_id=other).seen_by(partner(own))


def test_a_care_system_may_not_read_the_report() -> None:
    with pytest.raises(Forbidden, match=Party.CARE_SYSTEM.value):
        ReportScope(YEAR).seen_by(CARE)


def test_the_district_is_compared_in_any_letter_case() -> None:
    assert ReportScope(YEAR, district="ØSTERBRO").district_key == "østerbro"
    assert ReportScope(YEAR).district_key is None


# --- what is counted --------------------------------------------------------------------


def test_a_change_is_from_intake_to_the_last_follow_up_that_answered_it() -> None:
    baseline = Scores(ucla3(9), who5(40))
    answers = [Scores(ucla3(7), who5(48)), Scores(None, who5(60)), Scores(ucla3(6), None)]
    ucla3_change, who5_change = score_changes(baseline, answers)
    assert ucla3_change is not None and ucla3_change.change == -3
    assert who5_change is not None and who5_change.change == 20
    assert score_changes(Scores(None, who5(40)), answers)[0] is None
    assert score_changes(None, answers) == (None, None)


def test_a_first_meeting_waited_days_from_the_referrals_day_in_copenhagen() -> None:
    # 23:30 UTC on 1 March is already 2 March in Copenhagen.
    late = FirstMeeting(datetime(2026, 3, 1, 23, 30, tzinfo=UTC), date(2026, 3, 5), None)
    assert late.days_waited == 3
    assert not late.accompanied
    assert FirstMeeting(late.submitted_at, date(2026, 3, 5), Accompaniment.RELATIVE).accompanied
    assert not FirstMeeting(late.submitted_at, date(2026, 3, 5), Accompaniment.NOBODY).accompanied


def test_the_report_computed_by_hand_on_a_small_data_set() -> None:
    completed = [
        CompletedReferral(Outcome.PARTICIPATING, Scores(ucla3(9), who5(20)), (Scores(ucla3(7)),)),
        CompletedReferral(Outcome.PARTICIPATING, Scores(ucla3(8)), (Scores(ucla3(8)),)),
        CompletedReferral(Outcome.PARTICIPATING, Scores(ucla3(7)), (Scores(ucla3(6)),)),
        CompletedReferral(Outcome.PARTICIPATING, Scores(ucla3(9)), (Scores(ucla3(5)),)),
        CompletedReferral(Outcome.STOPPED, Scores(ucla3(6)), (Scores(ucla3(6)), Scores())),
        CompletedReferral(Outcome.NEVER_STARTED, None, ()),
        CompletedReferral(None, Scores(ucla3(5)), ()),
    ]
    participation = [
        ParticipationCount(1, TAKING_PART, 4),
        ParticipationCount(1, PAUSED, 1),
        ParticipationCount(1, STOPPED, 1),
        ParticipationCount(2, TAKING_PART, 3),
    ]
    submitted = datetime(2026, 3, 2, 9, tzinfo=UTC)
    meetings = [
        FirstMeeting(submitted, date(2026, 3, day), Accompaniment.VOLUNTEER) for day in (4, 9, 12)
    ] + [FirstMeeting(submitted, date(2026, 3, day), Accompaniment.NOBODY) for day in (5, 30)]

    report = OutcomeReport.of(ReportScope(YEAR), completed, participation, meetings)

    assert report.completed == Completions(
        7, {"participating": None, "stopped": None, "never_started": None, "unknown": None}
    )
    assert report.follow_ups == [FollowUpShare(1, 6, 0.833), FollowUpShare(2, None, None)]
    # UCLA-3 changes -2, 0, -1, -4, 0: mean -1.4, s 1.6733, t(4) 2.776: ± 2.08
    assert report.ucla3_change == MeanChange(5, -1.4, -3.48, 0.68)
    assert report.who5_change.suppressed  # no follow-up answered WHO-5
    assert report.accompanied_at_first_meeting == Share(5, 0.6)
    assert report.days_to_first_meeting == Median(5, 7.0)  # 2, 3, 7, 10, 28


# --- the use case -----------------------------------------------------------------------


class FakeOutcomeReports:
    def __init__(self) -> None:
        self.asked: list[ReportScope] = []
        self.meetings = [
            FirstMeeting(datetime(2026, 3, 2, 9, tzinfo=UTC), date(2026, 3, 6), None)
        ] * 5

    def completed(self, scope: ReportScope) -> list[CompletedReferral]:
        self.asked.append(scope)
        return []

    def participation(self, scope: ReportScope) -> list[ParticipationCount]:
        self.asked.append(scope)
        return []

    def first_meetings(self, scope: ReportScope) -> list[FirstMeeting]:
        self.asked.append(scope)
        return self.meetings


class ReportsUnitOfWork(FakeUnitOfWork):
    def __init__(self) -> None:
        super().__init__()
        self.reports = FakeOutcomeReports()


def test_a_partners_report_asks_storage_for_its_own_organisations_referrals_only() -> None:
    uow, own = ReportsUnitOfWork(), uuid4()
    report = outcome_report(ReportScope(YEAR, district="Valby"), partner(own), uow)
    assert uow.reports.asked == [ReportScope(YEAR, "Valby", own)] * 3
    assert report.scope == ReportScope(YEAR, "Valby", own)
    assert report.days_to_first_meeting == Median(5, 4.0)
    assert uow.commits == 0


def test_a_report_the_actor_may_not_see_is_refused_before_anything_is_read() -> None:
    uow = ReportsUnitOfWork()
    with pytest.raises(Forbidden):
        outcome_report(ReportScope(YEAR, organization_id=uuid4()), partner(uuid4()), uow)
    with pytest.raises(Forbidden):
        outcome_report(ReportScope(YEAR), CARE, uow)
    assert uow.reports.asked == []
