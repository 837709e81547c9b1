"""Demo data: a past grant pool whose grants to three demo organisations were reviewed,
decided, paid and reported on, so that a newcomer finds the public awards and the
360Giving export filled. Rules only, no I/O: `grants()` builds it with the domain's own
methods, so the demo obeys every rule a real pool does.

The organisations are directory's demo organisations: their ids and names are copied here
as data (services import no other service), so that an award names the organisation
directory shows. Ids of the pool and its applications are stable (uuid5 of `NAMESPACE`),
the same on every machine. The CVR numbers are made up (digits of π, φ and √2 that pass the
register's check); contact addresses use the reserved `.example` domain.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid5

from grants.domain import GrantPool
from grants.domain import eligibility as eligibility_check
from grants.domain.applications import (
    Applicant,
    Application,
    BudgetLine,
    Decision,
    Form,
    Outcome,
)
from grants.domain.funding import Budget, Payment, Report
from grants.domain.need import TargetGroup
from grants.domain.pools import Criterion
from grants.domain.reviews import REVIEWS_NEEDED, Reviews, Score

NAMESPACE = UUID("6c1f3e0a-5b7d-4c2e-9f18-2a4d6b8e0c31")
OPERATOR = "brobygger demo operator"
REVIEWERS = ("brobygger demo reviewer 1", "brobygger demo reviewer 2")

POOL_NAME = "Fællesskaber mod ensomhed 2026"
ANNOUNCED_AT = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
"""When the pool was announced; it took applications from that day to 28 February."""
SUBMITTED_AT = datetime(2026, 2, 16, 10, 0, tzinfo=UTC)
REVIEWED_AT = datetime(2026, 3, 9, 13, 0, tzinfo=UTC)
DECIDED_AT = datetime(2026, 3, 20, 9, 0, tzinfo=UTC)
ACCEPTED_AT = datetime(2026, 3, 25, 11, 0, tzinfo=UTC)
PAID_ON = date(2026, 4, 1)
REPORTED_AT = datetime(2026, 10, 15, 12, 0, tzinfo=UTC)
"""The reports came in (every krone spent): the grants are closed, so no report of theirs
ever falls overdue, reminds anyone or blocks the organisations' next applications."""


def stable_id(kind: str, name: str) -> UUID:
    return uuid5(NAMESPACE, f"{kind}:{name}")


@dataclass(frozen=True)
class DemoOrganisation:
    """One of directory's demo organisations (`directory.demo`), as it applies."""

    id: UUID
    name: str
    cvr: str
    domain: str


SUNDBY_SANGKOR = DemoOrganisation(
    UUID("65119670-dc0e-5c50-9856-f9d549f7b6d4"),
    "Sundby Sangkor",
    "31415926",
    "sundby-sangkor.example",
)
MADFAELLESSKABET_VESTERBRO = DemoOrganisation(
    UUID("ba7a5f17-f2d0-50a7-af6a-166484d5e131"),
    "Madfællesskabet Vesterbro",
    "16180335",
    "madfaellesskab-vesterbro.example",
)
SKAKKLUBBEN_OSTERBRO = DemoOrganisation(
    UUID("ee480fbd-ec26-5a1d-8f0b-ee1ac3c03f94"),
    "Skakklubben Østerbro",
    "14142134",
    "skak-osterbro.example",
)


@dataclass(frozen=True)
class DemoGrant:
    """An application of the demo and what became of it."""

    organisation: DemoOrganisation
    form: Form
    outcome: Outcome
    granted_dkk: int
    reasons: str
    payments: tuple[int, ...]
    """The instalments paid, in kroner, a month apart from `PAID_ON`."""
    participants: int
    activities: int


def _form(
    organisation: DemoOrganisation,
    title: str,
    description: str,
    lines: tuple[tuple[str, int], ...],
    full_form: Form | None = None,
) -> Form:
    """The form, asking what its budget lines add up to; `full_form`: the fields only the
    full form asks for."""
    return replace(
        full_form or Form(),
        title=title,
        description=description,
        amount_dkk=sum(amount for _, amount in lines),
        budget_lines=tuple(BudgetLine(label, amount) for label, amount in lines),
        contact_name="Formanden",
        contact_email=f"formand@{organisation.domain}",
    )


GRANTS = (
    DemoGrant(
        SUNDBY_SANGKOR,
        _form(
            SUNDBY_SANGKOR,
            "Fællessang for ældre på Amager",
            "Åben fællessang hver anden torsdag med pianist og kaffe, og en sangven, der "
            "henter dem, der ikke kommer ud af sig selv.",
            (("Pianist", 36_000), ("Leje af sal", 14_000), ("Kaffe og sanghæfter", 10_000)),
            Form(
                target_groups=(TargetGroup.OLDER_PEOPLE, TargetGroup.HARD_TO_LEAVE_HOME),
                districts=("Amager Øst",),
                expected_participants=60,
                starts_on=date(2026, 4, 1),
                ends_on=date(2026, 12, 31),
            ),
        ),
        Outcome.APPROVED,
        60_000,
        "Fællessangen når mange ældre i Amager Øst, og sangvennerne henter dem, der "
        "sidder mest alene.",
        (60_000,),
        participants=72,
        activities=19,
    ),
    DemoGrant(
        MADFAELLESSKABET_VESTERBRO,
        _form(
            MADFAELLESSKABET_VESTERBRO,
            "Fællesspisning for ældre på Vesterbro",
            "Ugentlig fællesspisning, hvor ældre laver maden sammen med frivillige og spiser "
            "ved langbordet.",
            (("Råvarer", 70_000), ("Køkkenleje", 30_000), ("Frivilligkoordinering", 20_000)),
            Form(
                target_groups=(TargetGroup.OLDER_PEOPLE,),
                districts=("Vesterbro/Kongens Enghave",),
                expected_participants=40,
                starts_on=date(2026, 4, 1),
                ends_on=date(2026, 12, 31),
            ),
        ),
        Outcome.PARTLY_APPROVED,
        90_000,
        "Et stærkt fællesskab; puljen dækker råvarer og køkkenleje, ikke koordineringen, "
        "som foreningens frivillige står for.",
        (45_000, 45_000),
        participants=41,
        activities=36,
    ),
    DemoGrant(
        SKAKKLUBBEN_OSTERBRO,
        _form(
            SKAKKLUBBEN_OSTERBRO,
            "Seniorskak for begyndere på Østerbro",
            "Et hold for ældre begyndere, hvor hver ny spiller får en makker fra klubben.",
            (("Skakbrætter og ure", 8_000), ("Kaffe", 4_000), ("Lokaleleje", 8_000)),
        ),
        Outcome.APPROVED,
        20_000,
        "En lille, billig begyndelse, der giver nye spillere en makker fra første dag.",
        (20_000,),
        participants=18,
        activities=30,
    ),
)


@dataclass(frozen=True)
class DemoPool:
    """The demo's pool, its applications and their reviews, as they stand today."""

    pool: GrantPool
    applications: tuple[Application, ...]
    reviews: tuple[Reviews, ...]


def grants() -> DemoPool:
    """The past pool and its grants, each step taken by the domain on the day it happened.
    Nothing they record for publishing is ever published: the demo notifies nobody."""
    pool = GrantPool.announce(
        name=POOL_NAME,
        description="Puljen støtter foreninger, der starter nye fællesskaber for ældre, "
        "der sidder meget alene.",
        budget_dkk=500_000,
        opens_on=ANNOUNCED_AT.date(),
        closes_on=date(2026, 2, 28),
        criteria="Foreninger i København, der når ensomme ældre med et nyt, åbent "
        "fællesskab; små ansøgninger op til 25.000 kr. på den korte formular.",
        small_grant_limit_dkk=25_000,
        created_by=OPERATOR,
        now=ANNOUNCED_AT,
        today=ANNOUNCED_AT.date(),
        target_groups=(TargetGroup.OLDER_PEOPLE.value,),
        rubric=(Criterion("fit", 2), Criterion("reach", 1)),
        max_per_application_dkk=150_000,
    )
    pool.id = stable_id("pool", POOL_NAME)
    made = [_granted(pool, grant) for grant in GRANTS]
    pool.advance(DECIDED_AT.date())  # its window has ended: closed
    pool.changes.clear()
    applications = tuple(application for application, _ in made)
    Budget.of(pool, ()).allows(application.granted_dkk for application in applications)
    return DemoPool(pool, applications, tuple(reviews for _, reviews in made))


def _granted(pool: GrantPool, grant: DemoGrant) -> tuple[Application, Reviews]:
    organisation = grant.organisation
    applicant = Applicant(
        organization_id=organisation.id,
        name=organisation.name,
        cvr=organisation.cvr,
        legal_form="association",
        municipality_code=eligibility_check.COPENHAGEN,
        board_unpaid=True,
    )
    application = Application.draft(pool, applicant, grant.form, SUBMITTED_AT - timedelta(days=7))
    application.id = stable_id("application", grant.form.title)
    found = eligibility_check.check(pool, applicant, grant.form, overdue_reports=0)
    application.submit(pool, found, SUBMITTED_AT.date(), SUBMITTED_AT)
    application.start_review(REVIEWED_AT)
    reviews = Reviews(application.id)
    for subject in REVIEWERS[: REVIEWS_NEEDED[application.short_form]]:
        reviews.assign(subject, REVIEWED_AT)
        reviewer = reviews.of(subject)
        reviewer.declare(False, REVIEWED_AT)
        scores = tuple(Score(c.name, 4, "Passer godt til puljens formål.") for c in pool.rubric)
        reviewer.score(pool.rubric, scores, REVIEWED_AT)
    decision = Decision(grant.outcome, grant.granted_dkk, grant.reasons, OPERATOR, DECIDED_AT)
    application.decide(decision, pool)
    application.accept_agreement(ACCEPTED_AT)
    for month, amount in enumerate(grant.payments):
        paid_on = PAID_ON.replace(month=PAID_ON.month + month)
        recorded_at = datetime.combine(paid_on, ACCEPTED_AT.timetz())
        reference = f"DEMO-{application.id.hex[:8].upper()}-{month + 1}"
        application.pay(Payment(amount, paid_on, reference, OPERATOR, recorded_at))
    report = Report(
        grant.participants,
        grant.activities,
        application.paid_dkk,
        "Aktiviteterne blev holdt som planlagt.",
        REPORTED_AT,
    )
    application.receive_report(report)
    application.changes.clear()
    return application, reviews
