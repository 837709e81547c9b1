"""Did it help? The two validated instruments a citizen may answer at intake and at each
follow-up, what the partner reports of their participation, and the outcome a referral ends
with. Rules only, no I/O."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Self

from contracts.referrals import ScoreChangePublic
from referrals.domain.rules import InvalidAnswer

Wording = dict[str, str]
"""One text in Danish (`da`), Swedish (`sv`) and English (`en`)."""


@dataclass(frozen=True)
class Ucla3:
    """The UCLA 3-item loneliness scale (Hughes et al. 2004): each item 1 (hardly ever),
    2 (some of the time) or 3 (often); the total, 3 to 9, is higher the lonelier."""

    lack_companionship: int
    left_out: int
    isolated: int

    LOWEST = 1
    HIGHEST = 3

    def __post_init__(self) -> None:
        _check_items(self, "ucla3", self.LOWEST, self.HIGHEST)

    @property
    def total(self) -> int:
        return self.lack_companionship + self.left_out + self.isolated


@dataclass(frozen=True)
class Who5:
    """The WHO-5 well-being index (Psychiatric Research Unit, Hillerød): each item 0 (at no
    time) to 5 (all of the time) over the last two weeks; the raw total times 4 is the
    index, 0 to 100, higher the better."""

    cheerful: int
    calm: int
    active: int
    rested: int
    interested: int

    LOWEST = 0
    HIGHEST = 5

    def __post_init__(self) -> None:
        _check_items(self, "who5", self.LOWEST, self.HIGHEST)

    @property
    def raw(self) -> int:
        return self.cheerful + self.calm + self.active + self.rested + self.interested

    @property
    def index(self) -> int:
        return self.raw * 4


def _check_items(instrument: Ucla3 | Who5, name: str, lowest: int, highest: int) -> None:
    for item in fields(instrument):
        value = getattr(instrument, item.name)
        # bool is an int to Python, never an answer
        if isinstance(value, bool) or not isinstance(value, int) or not lowest <= value <= highest:
            raise InvalidAnswer(
                f"{name}.{item.name} is answered {lowest} to {highest}, not {value!r}"
            )


@dataclass(frozen=True)
class Scores:
    """What the citizen answered at one time: either instrument, both or none (the citizen
    was asked and did not want to answer)."""

    ucla3: Ucla3 | None = None
    who5: Who5 | None = None

    @property
    def empty(self) -> bool:
        return self.ucla3 is None and self.who5 is None


@dataclass(frozen=True)
class ScoreChange:
    """One instrument's total at intake and at the last follow-up that asked it."""

    baseline: int
    last: int

    @property
    def change(self) -> int:
        return self.last - self.baseline

    @classmethod
    def between(cls, baseline: int | None, last: int | None) -> Self | None:
        return None if baseline is None or last is None else cls(baseline, last)


def score_changes(
    baseline: Scores | None, answers: Iterable[Scores]
) -> tuple[ScoreChange | None, ScoreChange | None]:
    """UCLA-3 and WHO-5 from intake to the last of `answers` (the follow-ups' in order) that
    answered each."""
    answered = list(answers)
    ucla3 = [s.ucla3.total for s in answered if s.ucla3 is not None]
    who5 = [s.who5.index for s in answered if s.who5 is not None]
    first = baseline or Scores()
    return (
        ScoreChange.between(
            first.ucla3.total if first.ucla3 else None, ucla3[-1] if ucla3 else None
        ),
        ScoreChange.between(first.who5.index if first.who5 else None, who5[-1] if who5 else None),
    )


def published(change: ScoreChange | None) -> ScoreChangePublic | None:
    """A score change as the care system is told it, in events, the feed and the API."""
    if change is None:
        return None
    return ScoreChangePublic(baseline=change.baseline, last=change.last, change=change.change)


class ParticipationStatus(StrEnum):
    TAKING_PART = "taking_part"
    """The citizen still takes part."""
    PAUSED = "paused"
    """The citizen takes a break and is expected back (ill, away)."""
    STOPPED = "stopped"


@dataclass(frozen=True)
class Participation:
    """What the partner reports at a follow-up."""

    status: ParticipationStatus
    times_last_month: int
    """How many times the citizen came in the last month."""
    note: str | None = None
    """In the partner's words; stays in referrals."""

    MOST_TIMES = 100

    def __post_init__(self) -> None:
        if not 0 <= self.times_last_month <= self.MOST_TIMES:
            raise InvalidAnswer(f"times_last_month is 0 to {self.MOST_TIMES}")


class Outcome(StrEnum):
    """How a referral that was followed up ended."""

    PARTICIPATING = "participating"
    """At the last follow-up the citizen still took part (or was on a break)."""
    STOPPED = "stopped"
    """The citizen took part for a while and then stopped."""
    NEVER_STARTED = "never_started"
    """After the first meeting the citizen never came again."""

    @classmethod
    def of(cls, reports: list[Participation]) -> Outcome | None:
        """The outcome the partner's reports, oldest first, add up to; None without any."""
        if not reports:
            return None
        if reports[-1].status is not ParticipationStatus.STOPPED:
            return cls.PARTICIPATING
        took_part = any(
            r.times_last_month > 0 or r.status is not ParticipationStatus.STOPPED for r in reports
        )
        return cls.STOPPED if took_part else cls.NEVER_STARTED


ANSWERS_UCLA3: dict[int, Wording] = {
    1: {"da": "Næsten aldrig", "sv": "Nästan aldrig", "en": "Hardly ever"},
    2: {"da": "En gang imellem", "sv": "Ibland", "en": "Some of the time"},
    3: {"da": "Ofte", "sv": "Ofta", "en": "Often"},
}
ITEMS_UCLA3: dict[str, Wording] = {
    "lack_companionship": {
        "da": "Hvor tit føler du, at du mangler nogen at være sammen med?",
        "sv": "Hur ofta känner du att du saknar sällskap?",
        "en": "How often do you feel that you lack companionship?",
    },
    "left_out": {
        "da": "Hvor tit føler du dig holdt udenfor?",
        "sv": "Hur ofta känner du dig utanför?",
        "en": "How often do you feel left out?",
    },
    "isolated": {
        "da": "Hvor tit føler du dig isoleret fra andre?",
        "sv": "Hur ofta känner du dig isolerad från andra?",
        "en": "How often do you feel isolated from others?",
    },
}

ANSWERS_WHO5: dict[int, Wording] = {
    5: {"da": "Hele tiden", "sv": "Hela tiden", "en": "All of the time"},
    4: {"da": "Det meste af tiden", "sv": "Större delen av tiden", "en": "Most of the time"},
    3: {
        "da": "Lidt mere end halvdelen af tiden",
        "sv": "Mer än halva tiden",
        "en": "More than half of the time",
    },
    2: {
        "da": "Lidt mindre end halvdelen af tiden",
        "sv": "Mindre än halva tiden",
        "en": "Less than half of the time",
    },
    1: {"da": "Lidt af tiden", "sv": "En liten del av tiden", "en": "Some of the time"},
    0: {"da": "På intet tidspunkt", "sv": "Inte någon gång", "en": "At no time"},
}
WHO5_PERIOD: Wording = {
    "da": "I de sidste 2 uger …",
    "sv": "Under de senaste två veckorna …",
    "en": "Over the last two weeks …",
}
ITEMS_WHO5: dict[str, Wording] = {
    "cheerful": {
        "da": "… har jeg været glad og i godt humør",
        "sv": "… har jag känt mig glad och på gott humör",
        "en": "… I have felt cheerful and in good spirits",
    },
    "calm": {
        "da": "… har jeg følt mig rolig og afslappet",
        "sv": "… har jag känt mig lugn och avslappnad",
        "en": "… I have felt calm and relaxed",
    },
    "active": {
        "da": "… har jeg følt mig aktiv og energisk",
        "sv": "… har jag känt mig aktiv och energisk",
        "en": "… I have felt active and vigorous",
    },
    "rested": {
        "da": "… er jeg vågnet frisk og udhvilet",
        "sv": "… har jag vaknat fräsch och utvilad",
        "en": "… I woke up feeling fresh and rested",
    },
    "interested": {
        "da": "… har min dagligdag været fyldt med ting, der interesserer mig",
        "sv": "… har mitt dagliga liv varit fyllt av saker som intresserar mig",
        "en": "… my daily life has been filled with things that interest me",
    },
}
