"""Demo data: a small set of Copenhagen communities, for local runs, tests and the README.

Ids are stable (uuid5 of `NAMESPACE` and the name), so a seeded directory has the same ids
on every machine and other services' demo data can refer to them. Contact addresses use
the reserved `.example` domain: these are not the organisations' real contacts.
"""

# ruff: noqa: RUF001  (Danish text writes its ranges and name parts with en dashes)

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time
from uuid import UUID, uuid5

from directory.domain import Location, Organization, Service, ServiceStatus, WeeklySchedule
from directory.hsds import brobygger
from directory.hsds.records import Record

NAMESPACE = UUID("ff8629ff-2be1-44d3-8c4c-0254ddd33205")

AS_OF = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
"""When the demo's facts (free places, last modified) were last true: the same on every
machine, so that seeding is the same records wherever it runs."""


def stable_id(kind: str, name: str) -> UUID:
    return uuid5(NAMESPACE, f"{kind}:{name}")


def _organization(name: str, description: str, domain: str) -> Organization:
    return Organization(
        id=stable_id("organization", name),
        name=name,
        description=description,
        email=f"kontakt@{domain}",
        website=f"https://{domain}/",
        coordinator_email=f"koordinator@{domain}",
    )


def _location(
    organization: Organization,
    name: str,
    address_1: str,
    postal_code: str,
    city: str,
    district: str,
    *,
    accessible: bool,
    at: tuple[float, float],
) -> Location:
    return Location(
        id=stable_id("location", name),
        organization_id=organization.id,
        name=name,
        address_1=address_1,
        postal_code=postal_code,
        city=city,
        district=district,
        wheelchair_accessible=accessible,
        latitude=at[0],
        longitude=at[1],
    )


def _service(
    location: Location,
    name: str,
    description: str,
    *,
    interests: list[str],
    languages: list[str],
    target_groups: list[str],
    schedules: list[WeeklySchedule],
    schedule: str,
    capacity: int,
    free_places: int,
    status: ServiceStatus = ServiceStatus.ACTIVE,
) -> DemoService:
    facts = Service(
        id=stable_id("service", name),
        organization_id=location.organization_id,
        location_id=location.id,
        name=name,
        status=status,
        interests=sorted(interests),
        languages=sorted(languages),
        target_groups=sorted(target_groups),
        schedules=schedules,
        capacity=capacity,
        free_places=free_places,
    )
    return DemoService(facts, location, description, schedule)


def _weekly(days: str, opens_at: str, closes_at: str) -> WeeklySchedule:
    return WeeklySchedule(
        tuple(days.split(",")), time.fromisoformat(opens_at), time.fromisoformat(closes_at)
    )


@dataclass(frozen=True)
class DemoService:
    """A demo service: what matching reads, and the words a person reads."""

    facts: Service
    location: Location
    description: str
    schedule: str
    """When and where to meet, in the organisation's words."""

    @property
    def id(self) -> UUID:
        return self.facts.id

    def records(self, now: datetime) -> list[Record]:
        """Its HSDS records, with its description and the schedule in words."""
        records = []
        for record in brobygger.service_records(self.facts, self.location, updated_at=now):
            if record.entity == "service":
                record = Record("service", record.fields | {"description": self.description})
            elif record.entity == "schedule":
                record = Record("schedule", record.fields | {"description": self.schedule})
            records.append(record)
        return records


AELDRE_SAGEN_NORREBRO = _organization(
    "Ældre Sagen Nørrebro",
    "Lokalafdeling med frivillige, der laver fællesskaber for ældre på Nørrebro.",
    "aeldresagen-norrebro.example",
)
RODE_KORS = _organization(
    "Røde Kors København",
    "Frivillige besøgsvenner til ældre, der sidder meget alene derhjemme.",
    "rodekors-kbh.example",
)
FLYGTNINGEHJAELP = _organization(
    "Dansk Flygtningehjælp Frivillig København",
    "Frivillige mentorer, der hjælper ældre med flygtninge- og minoritetsbaggrund ind i "
    "fællesskaber og foreningsliv.",
    "flygtningehjaelp-frivillig.example",
)
VALBY_FRIVILLIGCENTER = _organization(
    "Valby Frivilligcenter",
    "Frivilligcenter med café, have og aktiviteter for borgere i Valby.",
    "valby-frivilligcenter.example",
)
SKAKKLUBBEN_OSTERBRO = _organization(
    "Skakklubben Østerbro",
    "Skakklub med et seniorhold for både øvede og begyndere.",
    "skak-osterbro.example",
)
SUNDBY_SANGKOR = _organization(
    "Sundby Sangkor",
    "Kor fra Sundby på Amager, der holder åben fællessang for alle.",
    "sundby-sangkor.example",
)
KOBENHAVNS_BIBLIOTEKER = _organization(
    "Københavns Biblioteker",
    "Bibliotekerne i København med frivillige it-hjælpere for seniorer.",
    "bibliotek-kbh.example",
)
MADFAELLESSKABET_VESTERBRO = _organization(
    "Madfællesskabet Vesterbro",
    "Frivillige, der laver mad og spiser sammen med ældre på Vesterbro.",
    "madfaellesskab-vesterbro.example",
)

NORREBRO_WALKING_GROUP_ORG_ID = AELDRE_SAGEN_NORREBRO.id
RED_CROSS_VISITING_FRIEND_ORG_ID = RODE_KORS.id
REFUGEE_MENTOR_ORG_ID = FLYGTNINGEHJAELP.id
VALBY_VOLUNTEER_CAFE_ORG_ID = VALBY_FRIVILLIGCENTER.id
OSTERBRO_CHESS_ORG_ID = SKAKKLUBBEN_OSTERBRO.id
AMAGER_SINGING_ORG_ID = SUNDBY_SANGKOR.id
LIBRARY_DIGITAL_HELP_ORG_ID = KOBENHAVNS_BIBLIOTEKER.id
VESTERBRO_COMMUNAL_DINING_ORG_ID = MADFAELLESSKABET_VESTERBRO.id

ORGANIZATIONS = (
    AELDRE_SAGEN_NORREBRO,
    RODE_KORS,
    FLYGTNINGEHJAELP,
    VALBY_FRIVILLIGCENTER,
    SKAKKLUBBEN_OSTERBRO,
    SUNDBY_SANGKOR,
    KOBENHAVNS_BIBLIOTEKER,
    MADFAELLESSKABET_VESTERBRO,
)

NORREBRO_ROOMS = _location(
    AELDRE_SAGEN_NORREBRO,
    "Ældre Sagen Nørrebro, mødelokalet",
    "Heimdalsgade 20",
    "2200",
    "København N",
    "Nørrebro",
    accessible=True,
    at=(55.6985, 12.5448),
)
BISPEBJERG_OFFICE = _location(
    RODE_KORS,
    "Røde Kors Bispebjerg",
    "Frederikssundsvej 48",
    "2400",
    "København NV",
    "Bispebjerg",
    accessible=True,
    at=(55.7022, 12.5290),
)
VESTERBRO_VOLUNTEER_HOUSE = _location(
    FLYGTNINGEHJAELP,
    "Frivillighuset Vesterbro",
    "Istedgade 95",
    "1650",
    "København V",
    "Vesterbro",
    accessible=False,
    at=(55.6690, 12.5540),
)
VALBY_CENTRE = _location(
    VALBY_FRIVILLIGCENTER,
    "Valby Frivilligcenter",
    "Valby Langgade 91",
    "2500",
    "Valby",
    "Valby",
    accessible=True,
    at=(55.6627, 12.5105),
)
VALBY_GARDEN = _location(
    VALBY_FRIVILLIGCENTER,
    "Seniorhaven Valby",
    "Gammel Køge Landevej 55",
    "2500",
    "Valby",
    "Valby",
    accessible=False,
    at=(55.6560, 12.5150),
)
OSTERBRO_CLUB = _location(
    SKAKKLUBBEN_OSTERBRO,
    "Skakklubben Østerbro, klublokalet",
    "Østerbrogade 101",
    "2100",
    "København Ø",
    "Østerbro",
    accessible=False,
    at=(55.7070, 12.5810),
)
AMAGER_CULTURE_HOUSE = _location(
    SUNDBY_SANGKOR,
    "Salen på Amagerbrogade",
    "Amagerbrogade 150",
    "2300",
    "København S",
    "Amager",
    accessible=True,
    at=(55.6560, 12.6060),
)
MAIN_LIBRARY = _location(
    KOBENHAVNS_BIBLIOTEKER,
    "Hovedbiblioteket",
    "Krystalgade 15",
    "1172",
    "København K",
    "Indre By",
    accessible=True,
    at=(55.6801, 12.5729),
)
VESTERBRO_KITCHEN = _location(
    MADFAELLESSKABET_VESTERBRO,
    "Fælleskøkkenet Vesterbro",
    "Sundevedsgade 12",
    "1751",
    "København V",
    "Vesterbro",
    accessible=True,
    at=(55.6680, 12.5470),
)

LOCATIONS = (
    NORREBRO_ROOMS,
    BISPEBJERG_OFFICE,
    VESTERBRO_VOLUNTEER_HOUSE,
    VALBY_CENTRE,
    VALBY_GARDEN,
    OSTERBRO_CLUB,
    AMAGER_CULTURE_HOUSE,
    MAIN_LIBRARY,
    VESTERBRO_KITCHEN,
)

NORREBRO_WALKING_GROUP = _service(
    NORREBRO_ROOMS,
    "Ældre Sagen Nørrebro – gågruppe",
    "Rolige gåture på 3–5 km gennem Nørrebro med kaffe bagefter.",
    interests=["walking", "exercise", "talk"],
    languages=["da", "en"],
    target_groups=["older_people"],
    schedules=[_weekly("TU,TH", "10:00", "11:30")],
    schedule="Tirsdag og torsdag kl. 10–11.30, fra Assistens Kirkegårds indgang ved Kapelvej.",
    capacity=20,
    free_places=6,
)
NORREBRO_CARD_CLUB = _service(
    NORREBRO_ROOMS,
    "Ældre Sagen Nørrebro – kortklub",
    "Whist og kanasta i hyggeligt selskab.",
    interests=["cards", "talk"],
    languages=["da"],
    target_groups=["older_people"],
    schedules=[_weekly("WE", "13:00", "16:00")],
    schedule="Onsdag kl. 13–16.",
    capacity=16,
    free_places=0,
)
VISITING_FRIEND = _service(
    BISPEBJERG_OFFICE,
    "Røde Kors besøgsven",
    "En fast frivillig kommer på besøg til en snak, en gåtur eller en tur i byen.",
    interests=["talk", "walking", "culture"],
    languages=["da", "en", "pl"],
    target_groups=["older_people", "hard_to_leave_home"],
    schedules=[_weekly("MO,TU,WE,TH,FR", "13:00", "17:00")],
    schedule="Omkring en gang om ugen om eftermiddagen, hjemme hos dig, efter aftale.",
    capacity=30,
    free_places=4,
)
REFUGEE_MENTOR = _service(
    VESTERBRO_VOLUNTEER_HOUSE,
    "Dansk Flygtningehjælp mentorordning",
    "En mentor, der taler dit sprog, følger dig til fællesskaber og hjælper med det digitale.",
    interests=["talk", "digital", "culture"],
    languages=["da", "ar", "tr", "ur", "en"],
    target_groups=["minority_background", "older_people"],
    schedules=[_weekly("MO,WE", "17:00", "19:00")],
    schedule="Mentor og deltager mødes hver anden uge, mandag eller onsdag aften.",
    capacity=15,
    free_places=5,
)
VALBY_CAFE_SERVICE = _service(
    VALBY_CENTRE,
    "Café Frivillig Valby",
    "Kaffe, avis, kortspil og frokost med andre fra kvarteret.",
    interests=["talk", "cards", "cooking"],
    languages=["da", "tr"],
    target_groups=["older_people", "hard_to_leave_home"],
    schedules=[_weekly("MO,TU,WE,TH,FR", "09:30", "12:00")],
    schedule="Mandag til fredag kl. 9.30–12.",
    capacity=40,
    free_places=12,
)
VALBY_SENIOR_GARDEN = _service(
    VALBY_GARDEN,
    "Seniorhaven i Valby",
    "Fælles køkkenhave, hvor vi sår, luger og høster sammen.",
    interests=["gardening", "exercise"],
    languages=["da", "ur", "ar"],
    target_groups=["older_people", "minority_background"],
    schedules=[_weekly("WE,SA", "09:00", "12:00")],
    schedule="April til oktober, onsdag og lørdag kl. 9–12.",
    capacity=12,
    free_places=3,
    status=ServiceStatus.INACTIVE,  # closed for the winter
)
OSTERBRO_CHESS = _service(
    OSTERBRO_CLUB,
    "Skakklubben Østerbro Senior",
    "Skak for seniorer; begyndere får en makker, der lærer fra sig.",
    interests=["chess"],
    languages=["da", "en"],
    target_groups=["older_people"],
    schedules=[_weekly("FR", "13:00", "16:00")],
    schedule="Fredag kl. 13–16; brætter og ure haves.",
    capacity=24,
    free_places=8,
)
AMAGER_SINGING = _service(
    AMAGER_CULTURE_HOUSE,
    "Fællessang på Amager",
    "Vi synger fra Højskolesangbogen med pianist; ingen forudsætninger.",
    interests=["singing", "culture"],
    languages=["da"],
    target_groups=["older_people"],
    schedules=[_weekly("TH", "14:00", "15:30")],
    schedule="Hver anden torsdag kl. 14–15.30.",
    capacity=60,
    free_places=25,
)
DIGITAL_HELP = _service(
    MAIN_LIBRARY,
    "Digital hjælp for seniorer – Bibliotekerne",
    "Hjælp til MitID, e-Boks og videoopkald med familien; tag din egen telefon med.",
    interests=["digital"],
    languages=["da", "en", "ar", "pl"],
    target_groups=["older_people", "minority_background"],
    schedules=[_weekly("TU", "10:00", "12:00")],
    schedule="Tirsdag kl. 10–12.",
    capacity=10,
    free_places=2,
)
VESTERBRO_DINING = _service(
    VESTERBRO_KITCHEN,
    "Fællesspisning for seniorer på Vesterbro",
    "Vi laver maden sammen og spiser ved langbordet; 40 kr. for maden.",
    interests=["cooking", "talk"],
    languages=["da", "pl", "ur"],
    target_groups=["older_people", "hard_to_leave_home"],
    schedules=[_weekly("TH", "17:30", "20:00")],
    schedule="Torsdag kl. 17.30, spisning kl. 18.30.",
    capacity=30,
    free_places=9,
)

NORREBRO_WALKING_GROUP_SERVICE_ID = NORREBRO_WALKING_GROUP.id
NORREBRO_CARD_CLUB_SERVICE_ID = NORREBRO_CARD_CLUB.id
VISITING_FRIEND_SERVICE_ID = VISITING_FRIEND.id
REFUGEE_MENTOR_SERVICE_ID = REFUGEE_MENTOR.id
VALBY_CAFE_SERVICE_ID = VALBY_CAFE_SERVICE.id
VALBY_SENIOR_GARDEN_SERVICE_ID = VALBY_SENIOR_GARDEN.id
OSTERBRO_CHESS_SERVICE_ID = OSTERBRO_CHESS.id
AMAGER_SINGING_SERVICE_ID = AMAGER_SINGING.id
DIGITAL_HELP_SERVICE_ID = DIGITAL_HELP.id
VESTERBRO_DINING_SERVICE_ID = VESTERBRO_DINING.id

SERVICES = (
    NORREBRO_WALKING_GROUP,
    NORREBRO_CARD_CLUB,
    VISITING_FRIEND,
    REFUGEE_MENTOR,
    VALBY_CAFE_SERVICE,
    VALBY_SENIOR_GARDEN,
    OSTERBRO_CHESS,
    AMAGER_SINGING,
    DIGITAL_HELP,
    VESTERBRO_DINING,
)


def records(now: datetime) -> list[Record]:
    """The whole demo directory as HSDS records: the organisations, their locations and
    services (which refer to the directory's vocabularies)."""
    return [
        *(
            r
            for organization in ORGANIZATIONS
            for r in brobygger.organization_records(organization)
        ),
        *(r for location in LOCATIONS for r in brobygger.location_records(location)),
        *(r for service in SERVICES for r in service.records(now)),
    ]
