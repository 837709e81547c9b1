"""Reviews of an application: reviewers assigned by an operator, each declaring a conflict
of interest before seeing anything, then scoring every criterion of the pool's rubric 0-5
with a comment. Rules only, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from statistics import fmean
from uuid import UUID

from grants.domain.pools import Criterion, InvalidTransition

LOWEST, HIGHEST = 0, 5
REVIEWS_NEEDED = {True: 1, False: 2}
"""Reviews a decision needs: one for a short-form application, two for a full one."""


class InvalidReview(ValueError):
    """A review breaks a rule; the message names the criterion, never the comment."""


@dataclass(frozen=True)
class Score:
    criterion: str
    score: int
    comment: str


@dataclass
class Reviewer:
    """One reviewer's part in one application."""

    subject: str
    """The reviewer's token subject."""
    assigned_at: datetime
    conflict: bool | None = None
    """None until declared; True: may neither see the scores nor score."""
    declared_at: datetime | None = None
    scores: tuple[Score, ...] = ()
    reviewed_at: datetime | None = None

    def declare(self, conflict: bool, now: datetime) -> None:
        if self.conflict is not None:
            raise InvalidTransition("a conflict of interest is declared once")
        self.conflict = conflict
        self.declared_at = now

    @property
    def may_see(self) -> bool:
        """Declared, and without a conflict: only then the application and others' scores."""
        return self.conflict is False

    def score(
        self, rubric: tuple[Criterion, ...], scores: tuple[Score, ...], now: datetime
    ) -> None:
        if not self.may_see:
            raise InvalidTransition(
                "a reviewer scores only after declaring no conflict of interest"
            )
        if self.reviewed_at is not None:
            raise InvalidTransition("a reviewer scores an application once")
        given = {s.criterion: s for s in scores}
        names = [c.name for c in rubric]
        if len(given) != len(scores) or set(given) != set(names):
            raise InvalidReview(f"scores: one for each criterion: {', '.join(names)}")
        for s in scores:
            if not LOWEST <= s.score <= HIGHEST:
                raise InvalidReview(f"scores.{s.criterion}: from {LOWEST} to {HIGHEST}")
            if not s.comment.strip():
                raise InvalidReview(f"scores.{s.criterion}: a comment is needed")
        self.scores = tuple(given[name] for name in names)
        self.reviewed_at = now

    def weighted_total(self, rubric: tuple[Criterion, ...]) -> float | None:
        """The rubric's weighted mean of this reviewer's scores, 0-5; None until scored."""
        if self.reviewed_at is None:
            return None
        weights = {c.name: c.weight for c in rubric}
        total_weight = sum(weights.values())
        return sum(weights[s.criterion] * s.score for s in self.scores) / total_weight


@dataclass
class Reviews:
    """An application's reviewers and what they made of it."""

    application_id: UUID
    reviewers: dict[str, Reviewer] = field(default_factory=dict)

    def assign(self, subject: str, now: datetime) -> None:
        self.reviewers.setdefault(subject, Reviewer(subject, now))

    def of(self, subject: str) -> Reviewer:
        if subject not in self.reviewers:
            raise InvalidTransition("the reviewer is not assigned to this application")
        return self.reviewers[subject]

    def totals(self, rubric: tuple[Criterion, ...]) -> list[float]:
        return [t for r in self.reviewers.values() if (t := r.weighted_total(rubric)) is not None]

    def summary(self, rubric: tuple[Criterion, ...], short_form: bool) -> Summary:
        totals = self.totals(rubric)
        return Summary(
            reviews=len(totals),
            needed=REVIEWS_NEEDED[short_form],
            mean=round(fmean(totals), 2) if totals else None,
            spread=round(max(totals) - min(totals), 2) if totals else None,
        )


@dataclass(frozen=True)
class Summary:
    """What the operator sees: the weighted mean of the reviewers' totals and how far apart
    they are."""

    reviews: int
    needed: int
    mean: float | None
    spread: float | None

    @property
    def complete(self) -> bool:
        return self.reviews >= self.needed
