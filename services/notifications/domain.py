"""Messages and deliveries: rules only, no I/O. Webhook endpoints are `webhooks`'."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID, uuid4, uuid5
from zoneinfo import ZoneInfo


class Language(StrEnum):
    DA = "da"
    SV = "sv"
    EN = "en"


class Template(StrEnum):
    REFERRAL_OFFERED = "referral_offered"
    OFFER_WITHDRAWN = "offer_withdrawn"
    OFFER_EXPIRED = "offer_expired"
    REFERRAL_ESCALATED = "referral_escalated"
    POOL_OPENED = "pool_opened"
    DELETION_REQUESTED = "deletion_requested"
    FOLLOW_UP_DUE = "follow_up_due"
    FOLLOW_UP_OVERDUE = "follow_up_overdue"
    FOLLOW_UP_ESCALATED = "follow_up_escalated"


TEMPLATES: dict[tuple[Template, Language], str] = {
    (Template.REFERRAL_OFFERED, Language.DA): (
        "Ny henvisning: en borger ({age_band} år, {district}) med interesse for {interests} "
        "søger et fællesskab. Svar inden {expires}."
    ),
    (Template.REFERRAL_OFFERED, Language.SV): (
        "Ny remiss: en person ({age_band} år, {district}) med intresse för {interests} "
        "söker en gemenskap. Svara senast {expires}."
    ),
    (Template.REFERRAL_OFFERED, Language.EN): (
        "New referral: a citizen ({age_band} years, {district}) interested in {interests} "
        "is looking for a community. Please answer by {expires}."
    ),
    (Template.OFFER_WITHDRAWN, Language.DA): (
        "Henvisning {referral_id} er trukket tilbage: {reason}. I skal ikke gøre mere ved den."
    ),
    (Template.OFFER_WITHDRAWN, Language.SV): (
        "Remiss {referral_id} har dragits tillbaka: {reason}. Ni behöver inte göra något mer "
        "med den."
    ),
    (Template.OFFER_WITHDRAWN, Language.EN): (
        "Referral {referral_id} was withdrawn: {reason}. There is nothing more for you to do "
        "with it."
    ),
    (Template.OFFER_EXPIRED, Language.DA): (
        "Tilbuddet om henvisning {referral_id} udløb {expired} uden svar. Henvisningen går "
        "videre, og I kan ikke længere tage imod den."
    ),
    (Template.OFFER_EXPIRED, Language.SV): (
        "Erbjudandet om remiss {referral_id} gick ut {expired} utan svar. Remissen går "
        "vidare, och ni kan inte längre ta emot den."
    ),
    (Template.OFFER_EXPIRED, Language.EN): (
        "The offer of referral {referral_id} lapsed unanswered on {expired}. The referral "
        "moves on, and you can no longer accept it."
    ),
    (Template.REFERRAL_ESCALATED, Language.DA): (
        "Henvisning {referral_id} fra {district} venter på en brobygger: {reason}. "
        "Interesser: {interests}."
    ),
    (Template.REFERRAL_ESCALATED, Language.SV): (
        "Remiss {referral_id} från {district} väntar på en brobyggare: {reason}. "
        "Intressen: {interests}."
    ),
    (Template.REFERRAL_ESCALATED, Language.EN): (
        "Referral {referral_id} from {district} needs an operator: {reason}. "
        "Interests: {interests}."
    ),
    (Template.POOL_OPENED, Language.DA): (
        "Ny pulje åben for ansøgninger: {name}, {budget_dkk} kr. "
        "Der kan søges fra {opens_on} til og med {closes_on}. Kriterier: {criteria}"
    ),
    (Template.POOL_OPENED, Language.SV): (
        "Ny bidragspott öppen för ansökningar: {name}, {budget_dkk} DKK. "
        "Ansök från {opens_on} till och med {closes_on}. Kriterier: {criteria}"
    ),
    (Template.POOL_OPENED, Language.EN): (
        "New grant pool open for applications: {name}, DKK {budget_dkk}. "
        "Apply from {opens_on} to {closes_on} inclusive. Criteria: {criteria}"
    ),
    (Template.DELETION_REQUESTED, Language.DA): (
        "Henvisning {referral_id}: {reason}. Slet alt, hvad I har om henvisningen og borgeren."
    ),
    (Template.DELETION_REQUESTED, Language.SV): (
        "Remiss {referral_id}: {reason}. Radera allt ni har om remissen och personen."
    ),
    (Template.DELETION_REQUESTED, Language.EN): (
        "Referral {referral_id}: {reason}. Please delete everything you hold about the "
        "referral and the citizen."
    ),
    (Template.FOLLOW_UP_DUE, Language.DA): (
        "Opfølgning {follow_up} på henvisning {referral_id} skal besvares nu ({due}). "
        "Fortæl os, om borgeren stadig deltager i fællesskabet: POST {path}"
    ),
    (Template.FOLLOW_UP_DUE, Language.SV): (
        "Uppföljning {follow_up} av remiss {referral_id} ska besvaras nu ({due}). "
        "Berätta för oss om personen fortfarande deltar i gemenskapen: POST {path}"
    ),
    (Template.FOLLOW_UP_DUE, Language.EN): (
        "Follow-up {follow_up} of referral {referral_id} is due ({due}). "
        "Please tell us whether the citizen still takes part in the community: POST {path}"
    ),
    (Template.FOLLOW_UP_OVERDUE, Language.DA): (
        "Påmindelse: opfølgning {follow_up} på henvisning {referral_id} har ventet på jeres "
        "svar siden {due}. Fortæl os, om borgeren stadig deltager i fællesskabet: POST {path}"
    ),
    (Template.FOLLOW_UP_OVERDUE, Language.SV): (
        "Påminnelse: uppföljning {follow_up} av remiss {referral_id} har väntat på ert svar "
        "sedan {due}. Berätta för oss om personen fortfarande deltar i gemenskapen: POST {path}"
    ),
    (Template.FOLLOW_UP_OVERDUE, Language.EN): (
        "Reminder: follow-up {follow_up} of referral {referral_id} has been waiting for your "
        "answer since {due}. Please tell us whether the citizen still takes part in the "
        "community: POST {path}"
    ),
    (Template.FOLLOW_UP_ESCALATED, Language.DA): (
        "Opfølgning {follow_up} på henvisning {referral_id} fra {district} er ikke besvaret "
        "trods påmindelse (skulle besvares fra {due}). Mangler: {missing}."
    ),
    (Template.FOLLOW_UP_ESCALATED, Language.SV): (
        "Uppföljning {follow_up} av remiss {referral_id} från {district} är inte besvarad "
        "trots påminnelse (skulle besvaras från {due}). Saknas: {missing}."
    ),
    (Template.FOLLOW_UP_ESCALATED, Language.EN): (
        "Follow-up {follow_up} of referral {referral_id} from {district} is still unanswered "
        "after a reminder (due since {due}). Missing: {missing}."
    ),
}


def render(template: Template, language: Language, **fields: str) -> str:
    return TEMPLATES[(template, language)].format(**fields)


# Why an offer was taken back (referrals' withdrawal reason codes), as a partner reads it.
WITHDRAWAL_REASONS: dict[Language, dict[str, str]] = {
    Language.DA: {
        "cancelled": "henvisningen er annulleret",
        "reassigned": "en brobygger har givet den til et andet fællesskab",
    },
    Language.SV: {
        "cancelled": "remissen har avbrutits",
        "reassigned": "en brobyggare har gett den till en annan gemenskap",
    },
    Language.EN: {
        "cancelled": "the referral was cancelled",
        "reassigned": "an operator assigned it to another community",
    },
}

# Why a referral was escalated (referrals' escalation reason codes), as an operator reads it.
ESCALATION_REASONS: dict[Language, dict[str, str]] = {
    Language.DA: {
        "no_match": "intet fællesskab i kataloget passer",
        "all_declined": "alle de foreslåede fællesskaber har takket nej",
        "all_expired": "ingen af de foreslåede fællesskaber svarede i tide",
        "declined_or_expired": "de foreslåede fællesskaber har takket nej eller ikke svaret i tide",
        "none_available": "de resterende fællesskaber er lukket eller har ingen ledige pladser",
    },
    Language.SV: {
        "no_match": "ingen gemenskap i katalogen passar",
        "all_declined": "alla föreslagna gemenskaper har tackat nej",
        "all_expired": "ingen av de föreslagna gemenskaperna svarade i tid",
        "declined_or_expired": "de föreslagna gemenskaperna har tackat nej eller inte svarat i tid",
        "none_available": "de återstående gemenskaperna har stängt eller har inga lediga platser",
    },
    Language.EN: {
        "no_match": "nothing in the directory fits",
        "all_declined": "every community it was offered to declined",
        "all_expired": "no community it was offered to answered in time",
        "declined_or_expired": "the communities it was offered to declined or did not "
        "answer in time",
        "none_available": "the remaining communities have closed or have no free places",
    },
}


# Where a partner reports whether the citizen still takes part (referrals' partner API).
FOLLOW_UP_PATH = "/partner/referrals/{referral_id}/follow-ups/{follow_up}"

PARTICIPATION = "participation"
"""The partner's part of a follow-up (referrals' `FollowUpPart`); `wellbeing` is the care
system's."""


def follow_up_path(referral_id: UUID, follow_up: int) -> str:
    return FOLLOW_UP_PATH.format(referral_id=referral_id, follow_up=follow_up)


def partner_is_waited_for(waiting_for: Iterable[str]) -> bool:
    """A late follow-up is the partner's to answer only while its report on participation
    is missing: the care system's answers are not the partner's to give."""
    return PARTICIPATION in waiting_for


# The parts of a follow-up still unanswered (referrals' follow-up part codes), as an
# operator reads them; the partner's first, as referrals lists them.
MISSING_PARTS: dict[Language, dict[str, str]] = {
    Language.DA: {
        PARTICIPATION: "partnerens besked om, hvorvidt borgeren deltager",
        "wellbeing": "omsorgssystemets svar om borgerens trivsel",
    },
    Language.SV: {
        PARTICIPATION: "partnerns besked om huruvida personen deltar",
        "wellbeing": "omsorgssystemets svar om personens välbefinnande",
    },
    Language.EN: {
        PARTICIPATION: "the partner's report on whether the citizen takes part",
        "wellbeing": "the care system's answers on the citizen's well-being",
    },
}
AND: dict[Language, str] = {Language.DA: "og", Language.SV: "och", Language.EN: "and"}


def missing_parts(waiting_for: Iterable[str], language: Language) -> str:
    """`waiting_for` in words, each part once, in a fixed order whatever the event's."""
    parts = set(waiting_for)
    words = [part_words for part, part_words in MISSING_PARTS[language].items() if part in parts]
    return f" {AND[language]} ".join(words)


class DeletionCause(StrEnum):
    """Why the organisations a referral was offered to must delete what they hold of it."""

    CONSENT_WITHDRAWN = "consent_withdrawn"
    ERASED = "erased"


# Why a partner must delete what it holds about a referral, as the partner reads it.
DELETION_REASONS: dict[Language, dict[DeletionCause, str]] = {
    Language.DA: {
        DeletionCause.CONSENT_WITHDRAWN: "borgeren har trukket sit samtykke tilbage",
        DeletionCause.ERASED: "borgerens oplysninger er slettet",
    },
    Language.SV: {
        DeletionCause.CONSENT_WITHDRAWN: "personen har återkallat sitt samtycke",
        DeletionCause.ERASED: "personens uppgifter har raderats",
    },
    Language.EN: {
        DeletionCause.CONSENT_WITHDRAWN: "the citizen withdrew consent",
        DeletionCause.ERASED: "the citizen's data was erased",
    },
}


# The directory's interest keywords, as coordinators read them; unknown ones stay as they are.
INTEREST_NAMES: dict[Language, dict[str, str]] = {
    Language.DA: {
        "walking": "gåture",
        "chess": "skak",
        "singing": "fællessang",
        "cooking": "madlavning",
        "digital": "digitale medier",
        "gardening": "havearbejde",
        "cards": "kortspil",
        "culture": "kultur",
        "exercise": "motion",
        "talk": "samtale",
    },
    Language.SV: {
        "walking": "promenader",
        "chess": "schack",
        "singing": "allsång",
        "cooking": "matlagning",
        "digital": "digitala medier",
        "gardening": "trädgård",
        "cards": "kortspel",
        "culture": "kultur",
        "exercise": "motion",
        "talk": "samtal",
    },
    Language.EN: {},
}

# Coordinators read times on the city's clock, not the UTC the service keeps.
CITY_TIME = ZoneInfo("Europe/Copenhagen")


def interest_names(interests: list[str], language: Language) -> str:
    names = INTEREST_NAMES[language]
    return ", ".join(names.get(interest, interest) for interest in interests)


def format_time(moment: datetime, language: Language) -> str:
    local = moment.astimezone(CITY_TIME)
    if language is Language.DA:
        return f"{local:%d.%m.%Y kl. %H:%M}"
    if language is Language.SV:
        return f"{local:%Y-%m-%d kl. %H:%M}"
    return f"{local:%d %b %Y %H:%M} Copenhagen time"


def format_amount(dkk: int, language: Language) -> str:
    """Thousands grouped as each language writes them: 500.000 / 500 000 / 500,000."""
    grouped = f"{dkk:,}"
    if language is Language.DA:
        return grouped.replace(",", ".")
    if language is Language.SV:
        return grouped.replace(",", "\N{NO-BREAK SPACE}")
    return grouped


@dataclass(frozen=True)
class SourceEvent:
    """The consumed event a message or delivery is caused by: its `ce_id` and `ce_type`."""

    id: UUID
    type: str


class Audience(StrEnum):
    """Whose inbox a message is in."""

    ORGANIZATION = "organization"
    """One partner organisation's."""
    PARTNERS = "partners"
    """Every partner's: a broadcast."""
    OPERATORS = "operators"
    """The operators': one inbox they share, never seen by partners."""


@dataclass
class Message:
    """An inbox message to one organisation, to every partner, or to the operators."""

    id: UUID
    audience: Audience
    organization_id: UUID | None
    """The recipient organisation; only (and always) for `Audience.ORGANIZATION`."""
    template: Template
    language: Language
    text: str
    source: SourceEvent
    created_at: datetime
    referral_id: UUID | None = None
    """The referral the message is about, if any."""
    read_at: datetime | None = None
    """When the one reading it marked it read: per organisation, or per operator."""

    def __post_init__(self) -> None:
        if (self.audience is Audience.ORGANIZATION) != (self.organization_id is not None):
            raise ValueError("a message names its organisation exactly when it is for one")


@dataclass(frozen=True)
class PartnerReader:
    """A partner organisation reading its inbox: its own messages and the broadcasts.
    Read marks are the organisation's, shared by its coordinators."""

    organization_id: UUID

    @property
    def reader_id(self) -> UUID:
        return self.organization_id

    def can_see(self, message: Message) -> bool:
        return message.audience is Audience.PARTNERS or (
            message.audience is Audience.ORGANIZATION
            and message.organization_id == self.organization_id
        )


# Namespace of the name-based ids of operators' read marks (an arbitrary, fixed UUID).
OPERATOR_READERS = UUID("0b6f4c1e-8f0a-4d52-9a3e-2c7d5b1f6a90")


@dataclass(frozen=True)
class OperatorReader:
    """One operator reading the operators' inbox. The messages are shared; read marks are
    each operator's own (by token subject), so that one operator's reading does not hide a
    message from the others."""

    subject: str

    @property
    def reader_id(self) -> UUID:
        # Name-based, so that read marks of operators and of organisations share one key
        # column, whatever the subject's length.
        return uuid5(OPERATOR_READERS, self.subject)

    def can_see(self, message: Message) -> bool:
        return message.audience is Audience.OPERATORS


Reader = PartnerReader | OperatorReader


class Channel(StrEnum):
    INBOX = "inbox"
    WEBHOOK = "webhook"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class InvalidTransition(Exception):
    """The delivery is not in a state where this can happen."""


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off: `first_delay`, then twice as long after each further failure."""

    max_attempts: int
    first_delay: timedelta

    def delay_after(self, attempts: int) -> timedelta:
        return self.first_delay * (1 << (attempts - 1))


@dataclass
class Delivery:
    id: UUID
    organization_id: UUID | None
    channel: Channel
    source: SourceEvent
    created_at: datetime
    status: DeliveryStatus = DeliveryStatus.PENDING
    referral_id: UUID | None = None
    """The referral its message or event is about, if any: an erasure finds it by this."""
    message_id: UUID | None = None
    body: str | None = None
    """The webhook's JSON body, kept byte for byte so that every retry sends the same."""
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    recorded_at: datetime | None = None
    """When the outcome (delivered or failed) was recorded."""

    @classmethod
    def to_inbox(cls, message: Message) -> Delivery:
        """An inbox message is delivered the moment it is stored."""
        return cls(
            id=uuid4(),
            organization_id=message.organization_id,
            channel=Channel.INBOX,
            source=message.source,
            created_at=message.created_at,
            status=DeliveryStatus.DELIVERED,
            referral_id=message.referral_id,
            message_id=message.id,
            recorded_at=message.created_at,
        )

    @classmethod
    def to_webhook(
        cls,
        organization_id: UUID,
        source: SourceEvent,
        body: str,
        now: datetime,
        referral_id: UUID | None = None,
    ) -> Delivery:
        return cls(
            id=uuid4(),
            organization_id=organization_id,
            channel=Channel.WEBHOOK,
            source=source,
            created_at=now,
            referral_id=referral_id,
            body=body,
            next_attempt_at=now,
        )

    def delivered(self, now: datetime) -> None:
        self._require_pending()
        self.attempts += 1
        self.status = DeliveryStatus.DELIVERED
        self.next_attempt_at = None
        self.last_error = None
        self.recorded_at = now

    def attempt_failed(self, now: datetime, error: str, policy: RetryPolicy) -> None:
        """Schedule the next attempt, or give up once the policy's attempts are used."""
        self._require_pending()
        self.attempts += 1
        self.last_error = error
        if self.attempts >= policy.max_attempts:
            self.give_up(now, error)
        else:
            self.next_attempt_at = now + policy.delay_after(self.attempts)

    def give_up(self, now: datetime, reason: str) -> None:
        self._require_pending()
        self.status = DeliveryStatus.FAILED
        self.next_attempt_at = None
        self.last_error = reason
        self.recorded_at = now

    def _require_pending(self) -> None:
        if self.status is not DeliveryStatus.PENDING:
            raise InvalidTransition(f"a delivery that is {self.status} has no further attempts")
