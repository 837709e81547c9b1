"""`brobygger directory generate`: a directory of synthetic but realistic Copenhagen
communities, for load tests and benchmarks.

Deterministic from the seed: organisations with Danish association names and CVR numbers
(about one per 8 services), locations (about one per 3 services) in the city's ten districts,
at a postcode of the district and near its centre, services with weekly schedules, interests
and target groups from the vocabulary, languages and places. Names and descriptions are
composed from word lists, so that a search finds them. Built as HSDS records by
`hsds.brobygger` and saved through `writing.save`, the one way every write goes, a batch of
whole organisations per transaction. Ids continue after the organisations already there:
generating twice doubles the directory.
"""

from __future__ import annotations

import random
import sys
import time as timer
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, time
from typing import TextIO
from uuid import UUID, uuid5

from directory.domain import Location, Organization, Service, ServiceStatus, WeeklySchedule
from directory.geography import DISTRICTS, District
from directory.hsds import brobygger
from directory.hsds.records import Record
from directory.hsds.vocabulary import Taxonomy, codes
from directory.services.common import Clock, Editor, UnitOfWorkFactory
from directory.services.writing import save
from runtime.storage import utcnow

GENERATOR = Editor("brobygger directory generate")
NAMESPACE = UUID("5b0c3f0e-1f7e-4d57-9d0e-8a8d4f1c2e61")
SERVICES_PER_BATCH = 2000
"""Services saved per transaction (whole organisations, so a few more)."""

# Postcodes of each district (the district that holds most of each, as `geography` maps
# them; 2300 is split between the two Amager districts) and the town each is written with.
POSTCODES: dict[str, tuple[tuple[str, str], ...]] = {
    "Indre By": (("1050", "København K"), ("1150", "København K"), ("1300", "København K"),
                 ("1401", "København K")),
    "Østerbro": (("2100", "København Ø"), ("2150", "Nordhavn")),
    "Nørrebro": (("2200", "København N"),),
    "Vesterbro/Kongens Enghave": (("1620", "København V"), ("1650", "København V"),
                                  ("1720", "København V"), ("2450", "København SV")),
    "Valby": (("2500", "Valby"),),
    "Vanløse": (("2720", "Vanløse"),),
    "Brønshøj-Husum": (("2700", "Brønshøj"),),
    "Bispebjerg": (("2400", "København NV"),),
    "Amager Øst": (("2300", "København S"),),
    "Amager Vest": (("2300", "København S"),),
}  # fmt: skip
AREAS = {
    "Indre By": ("Indre By", "Christianshavn", "Nyboder", "Latinerkvarteret"),
    "Østerbro": ("Østerbro", "Nordhavn", "Fælledparken", "Trianglen"),
    "Nørrebro": ("Nørrebro", "Nørrebroparken", "Blågården", "Assistens"),
    "Vesterbro/Kongens Enghave": ("Vesterbro", "Sydhavnen", "Kongens Enghave", "Enghave Plads"),
    "Valby": ("Valby", "Carlsberg Byen", "Toftegården", "Valby Langgade"),
    "Vanløse": ("Vanløse", "Jyllingevej", "Damhussøen", "Grøndal"),
    "Brønshøj-Husum": ("Brønshøj", "Husum", "Tingbjerg", "Utterslev Mose"),
    "Bispebjerg": ("Bispebjerg", "Nordvest", "Emdrup", "Lygten"),
    "Amager Øst": ("Amager", "Sundby", "Amagerbro", "Holmbladsgade"),
    "Amager Vest": ("Islands Brygge", "Ørestad", "Sundbyvester", "Kalvebod"),
}
STREETS = (
    "Nørrebrogade", "Østerbrogade", "Vesterbrogade", "Amagerbrogade", "Frederikssundsvej",
    "Valby Langgade", "Jagtvej", "Tagensvej", "Istedgade", "Gammel Køge Landevej",
    "Jyllingevej", "Tomsgårdsvej", "Holmbladsgade", "Strandlodsvej", "Enghavevej",
    "Borups Allé", "Bellahøjvej", "Rentemestervej", "Kastrupvej", "Sønder Boulevard",
)  # fmt: skip
ORGANIZATION_NAMES = (
    "Ældre Sagen {area}", "Seniorforeningen {area}", "Frivilligcenter {area}",
    "{area}s Pensionistforening", "Foreningen Aktive Ældre {area}", "Røde Kors {area}",
    "Seniorklubben {area}", "Venligboerne {area}", "Kirkens Korshær {area}",
    "Folkekirkens Frivillige {area}", "Dansk Folkehjælp {area}", "Idrætsforeningen {area} 60+",
    "Kulturforeningen {area}", "Beboerforeningen {area}", "Mødestedet {area}",
)  # fmt: skip
VENUES = (
    "Medborgerhuset {area}", "Kulturhuset {area}", "Seniorhuset {area}", "{area} Bibliotek",
    "Aktivitetscentret {area}", "Sognegården {area}", "Klubhuset {area}", "Fælleshuset {area}",
)  # fmt: skip
ACTIVITIES = {
    "walking": ("Gågruppe", "Stavgang", "Gåtur i det grønne", "Morgengåtur"),
    "exercise": ("Seniorgymnastik", "Stolegymnastik", "Motionshold", "Seniorfitness"),
    "talk": ("Snakkecafé", "Kaffeklub", "Mandeklub", "Samtalegruppe"),
    "cards": ("Kortklub", "Whistklub", "Bridgeklub", "Kanastahold"),
    "culture": ("Kulturklub", "Museumsvenner", "Foredragsrække", "Teaterklub"),
    "digital": ("IT-café", "Digital hjælp", "Tablet-klub", "Telefonhjælp"),
    "cooking": ("Madklub", "Fællesmadlavning", "Køkkenhold", "Bagedag"),
    "gardening": ("Seniorhaven", "Havehold", "Køkkenhave", "Byhaven"),
    "chess": ("Skakklub", "Skakhold", "Skakcafé", "Lyn-skak"),
    "singing": ("Fællessang", "Seniorkor", "Syngeklub", "Sangcafé"),
    "knitting": ("Strikkecafé", "Strikkeklub", "Hækleholdet", "Garnværksted"),
    "music": ("Musikcafé", "Seniororkester", "Lyttehold", "Spillemandsklub"),
    "reading": ("Læsekreds", "Højtlæsning", "Bogcafé", "Litteraturklub"),
    "crafts": ("Kreativt værksted", "Træværksted", "Keramikhold", "Maleklub"),
    "dancing": ("Seniordans", "Linedance", "Folkedans", "Dansecafé"),
    "games": ("Spilleklub", "Banko", "Brætspilscafé", "Billardklub"),
    "excursions": ("Udflugtsklub", "Busture", "Byvandring", "Dagsture"),
    "meals": ("Fællesspisning", "Spisefællesskab", "Frokostklub", "Søndagsmiddag"),
    "faith": ("Sognecafé", "Bibelkreds", "Eftermiddagsmøde", "Samtalekreds om tro"),
    "nature": ("Naturklub", "Fuglekiggere", "Naturvandring", "Grønne tirsdage"),
}
FOR_WHOM = ("for seniorer", "for ældre", "for alle over 65", "for pensionister", "")
DESCRIPTIONS = (
    "Vi mødes i {venue} og hygger os med {activity}. Alle er velkomne, også begyndere.",
    "{activity} i trygge rammer i {area}; der er kaffe og kage bagefter.",
    "En fast flok, der mødes til {activity}. Frivillige tager imod dig første gang.",
    "Kom og vær med til {activity} sammen med andre fra {area}. Det er gratis.",
)  # fmt: skip
PARTS_OF_DAY = (  # (opens, closes) choices: morning, afternoon, evening
    ((time(9), time(11)), (time(9, 30), time(12)), (time(10), time(11, 30))),
    ((time(13), time(15)), (time(13, 30), time(16)), (time(14), time(16, 30))),
    ((time(17, 30), time(19, 30)), (time(18), time(20)), (time(19), time(21))),
)  # fmt: skip
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
OTHER_LANGUAGES = ("ar", "tr", "ur", "pl", "so", "fa", "sv", "de", "uk", "ti", "bs")
TARGET_GROUPS = tuple(sorted(codes(Taxonomy.TARGET_GROUPS) - {"older_people"}))
INTERESTS = tuple(sorted(codes(Taxonomy.INTERESTS)))


@dataclass(frozen=True)
class Generated:
    """One organisation's records, and how many services and locations it has."""

    records: list[Record]
    services: int
    locations: int


def fill(
    start_uow: UnitOfWorkFactory,
    *,
    services: int,
    seed: int,
    clock: Clock = utcnow,
    out: TextIO = sys.stderr,
) -> int:
    """Add `services` generated services (with their organisations and locations) to the
    directory; the exit status. Progress and the final counts go to `out`."""
    if services < 1:
        print("--services must be at least 1", file=out)
        return 2
    with start_uow() as uow:
        first = uow.records.count("organization")
    started = timer.perf_counter()
    done = organizations = locations = records = 0
    batch: list[Generated] = []
    for generated in organizations_of(services, seed, clock(), first=first):
        batch.append(generated)
        if sum(g.services for g in batch) >= SERVICES_PER_BATCH:
            records += _save(batch, start_uow, clock)
            done, organizations, locations = _counted(batch, done, organizations, locations)
            batch = []
            _progress(out, done, services, started)
    if batch:
        records += _save(batch, start_uow, clock)
        done, organizations, locations = _counted(batch, done, organizations, locations)
    seconds = timer.perf_counter() - started
    print(
        f"{done} services, {organizations} organisations, {locations} locations "
        f"({records} records) generated in {seconds:.1f} s, {done / seconds:.0f} services/s",
        file=out,
    )
    return 0


def _save(batch: list[Generated], start_uow: UnitOfWorkFactory, clock: Clock) -> int:
    records = [record for generated in batch for record in generated.records]
    with start_uow() as uow:
        saved = save(records, GENERATOR, uow, clock())
        uow.commit()
    return saved.created + saved.changed + saved.unchanged


def _counted(
    batch: list[Generated], done: int, organizations: int, locations: int
) -> tuple[int, int, int]:
    return (
        done + sum(g.services for g in batch),
        organizations + len(batch),
        locations + sum(g.locations for g in batch),
    )


def _progress(out: TextIO, done: int, total: int, started: float) -> None:
    rate = done / max(timer.perf_counter() - started, 1e-9)
    print(f"{done}/{total} services, {rate:.0f}/s", file=out)


def organizations_of(
    services: int, seed: int, now: datetime, *, first: int = 0
) -> Iterator[Generated]:
    """Organisations with `services` services in all, numbered from `first` (their ids
    follow from the seed and the number), each with its locations and services."""
    rng = random.Random(seed)
    left, number = services, first
    while left:
        count = min(left, rng.randint(4, 12))
        yield _organization(rng, seed, number, count, now)
        left -= count
        number += 1


def _organization(
    rng: random.Random, seed: int, number: int, services: int, now: datetime
) -> Generated:
    stable = _ids(seed, number)
    home = rng.choice(DISTRICTS)
    area = rng.choice(AREAS[home.name])
    name = rng.choice(ORGANIZATION_NAMES).format(area=area)
    slug = f"forening{seed}-{number}"
    organization = Organization(
        id=stable("organization"),
        name=name,
        description=f"Frivillig forening i {area}, der laver fællesskaber for ældre i {home.name}.",
        coordinator_email=f"koordinator@{slug}.example",
        email=f"kontakt@{slug}.example",
        website=f"https://{slug}.example/",
    )
    records = brobygger.organization_records(organization, cvr=_cvr(rng))
    places = [
        _location(rng, organization, stable(f"location/{i}"), home)
        for i in range((services + 2) // 3)
    ]
    for location in places:
        records += brobygger.location_records(location)
    for i in range(services):
        location = places[i // 3]
        records += _service(rng, location, stable(f"service/{i}"), now)
    return Generated(records, services, len(places))


def _ids(seed: int, number: int) -> Callable[[str], UUID]:
    organization = uuid5(NAMESPACE, f"{seed}/{number}")
    return lambda what: uuid5(organization, what)


def _cvr(rng: random.Random) -> str:
    """A CVR number in its form: eight digits, the first not 0, modulus 11 over weights
    2, 7, 6, 5, 4, 3, 2, 1."""
    while True:
        digits = [rng.randint(1, 9), *(rng.randint(0, 9) for _ in range(6))]
        check = -sum(d * w for d, w in zip(digits, (2, 7, 6, 5, 4, 3, 2), strict=True)) % 11
        if check < 10:
            return "".join(map(str, [*digits, check]))


def _location(
    rng: random.Random, organization: Organization, location_id: UUID, home: District
) -> Location:
    # Most of an organisation's locations are in its home district; some elsewhere.
    district = home if rng.random() < 0.7 else rng.choice(DISTRICTS)
    area = rng.choice(AREAS[district.name])
    postal_code, city = rng.choice(POSTCODES[district.name])
    return Location(
        id=location_id,
        organization_id=organization.id,
        name=rng.choice(VENUES).format(area=area),
        address_1=f"{rng.choice(STREETS)} {rng.randint(1, 180)}",
        postal_code=postal_code,
        city=city,
        district=district.name,
        wheelchair_accessible=rng.random() < 0.6,
        latitude=round(district.latitude + rng.uniform(-0.008, 0.008), 6),
        longitude=round(district.longitude + rng.uniform(-0.012, 0.012), 6),
    )


def _service(
    rng: random.Random, location: Location, service_id: UUID, now: datetime
) -> list[Record]:
    interests = rng.sample(INTERESTS, rng.randint(1, 3))
    activity = rng.choice(ACTIVITIES[interests[0]])
    area = rng.choice(AREAS[location.district])
    name = " ".join(part for part in (activity, rng.choice(FOR_WHOM), f"i {area}") if part)
    capacity = rng.randint(5, 40)
    languages = ["da"]
    if rng.random() < 0.5:
        languages.append("en")
    if rng.random() < 0.2:
        languages += rng.sample(OTHER_LANGUAGES, rng.randint(1, 2))
    service = Service(
        id=service_id,
        organization_id=location.organization_id,
        location_id=location.id,
        name=name,
        capacity=capacity,
        free_places=0 if rng.random() < 0.15 else rng.randint(1, capacity),
        status=ServiceStatus.INACTIVE if rng.random() < 0.03 else ServiceStatus.ACTIVE,
        interests=sorted(interests),
        languages=sorted(languages),
        target_groups=sorted(
            {"older_people", *rng.sample(TARGET_GROUPS, rng.choice((0, 0, 1, 2)))}
        ),
        schedules=[_schedule(rng) for _ in range(rng.choice((1, 1, 2)))],
    )
    description = rng.choice(DESCRIPTIONS).format(
        venue=location.name, activity=activity.lower(), area=area
    )
    return [
        Record("service", record.fields | {"description": description})
        if record.entity == "service"
        else record
        for record in brobygger.service_records(service, location, updated_at=now)
    ]


def _schedule(rng: random.Random) -> WeeklySchedule:
    days = sorted(rng.sample(range(7), rng.choice((1, 1, 2))))
    opens, closes = rng.choice(rng.choice(PARTS_OF_DAY))
    return WeeklySchedule(tuple(WEEKDAYS[d] for d in days), opens, closes)
