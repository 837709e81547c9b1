"""Brobygger's organisations, locations and services as HSDS 3.0 records, and back: rules only,
no I/O.

Everything of Brobygger's is said with HSDS's own objects: interests and target groups are
`attribute`s of the service pointing at terms of `vocabulary`'s taxonomies; wheelchair access
is an accessibility term's `attribute` of the location plus an `accessibility` record; the
district is the service's `service_area` (and the address's `region`); times are weekly
`schedule`s; free places are HSDS 3.1's `service_capacity` in the unit "places" (Brobygger's
profile, contracts/hsds/); languages are `language` records; a CVR number is an
`organization_identifier`.

Child records have stable ids, uuid5 of their parent's id and what the child is, so writing the
same thing twice gives the same records and an upsert by id changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, time
from uuid import UUID, uuid5

from directory.domain import (
    InvalidService,
    Location,
    Organization,
    Service,
    ServiceStatus,
    WeeklySchedule,
)
from directory.geography import district_for_postcode
from directory.hsds.records import Record, Rejection
from directory.hsds.vocabulary import NAMESPACE, Taxonomy, code_of, term_id

STATE_PROVINCE = "Region Hovedstaden"
"""Copenhagen's region, which HSDS's `state_province` holds for a Danish address."""
COUNTRY = "DK"
CURRENCY = "DKK"
CVR_SCHEME = "DK-CVR"
CVR_TYPE = "CVR"
PLACES = "places"
"""The capacity unit of an activity: places for participants."""
PLACES_UNIT_ID = uuid5(NAMESPACE, f"unit/{PLACES}")
SCHEDULE_NOTE = "Times are local Copenhagen time (Europe/Copenhagen)."
"""HSDS 3.0's `timezone` is a fixed UTC offset, which Copenhagen's summer time does not keep,
so times are written as the wall clock reads them and this note says which clock."""


LANGUAGE_NAMES = {
    "da": "Danish",
    "sv": "Swedish",
    "no": "Norwegian",
    "en": "English",
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "pl": "Polish",
    "uk": "Ukrainian",
    "ru": "Russian",
    "ar": "Arabic",
    "tr": "Turkish",
    "ur": "Urdu",
    "fa": "Persian",
    "so": "Somali",
    "ti": "Tigrinya",
    "ku": "Kurdish",
    "bs": "Bosnian",
    "sr": "Serbian",
    "hr": "Croatian",
    "ta": "Tamil",
    "vi": "Vietnamese",
}
"""English names of the ISO 639-1 codes Copenhagen's communities most often offer; a code
not here is published without a name."""


def _child_id(parent: UUID, what: str) -> str:
    return str(uuid5(parent, what))


def _attribute(parent: UUID, entity: str, taxonomy: Taxonomy, code: str) -> Record:
    return Record(
        "attribute",
        {
            "id": _child_id(parent, f"attribute/{taxonomy}/{code}"),
            "link_id": str(parent),
            "link_entity": entity,
            "link_type": str(taxonomy),
            "taxonomy_term_id": str(term_id(taxonomy, code)),
        },
    )


def organization_records(organization: Organization, cvr: str | None = None) -> list[Record]:
    """The organisation and, given its CVR number, its `organization_identifier`.

    The coordinator's address is for operators and notifications only: never published.
    """
    fields = {
        "id": str(organization.id),
        "name": organization.name,
        "description": organization.description,
    }
    if organization.email is not None:
        fields["email"] = organization.email
    if organization.website is not None:
        fields["website"] = organization.website
    records = [Record("organization", fields)]
    if cvr is not None:
        if not (len(cvr) == 8 and cvr.isascii() and cvr.isdigit()):
            raise ValueError("a CVR number is eight digits")
        identifier = {
            "id": _child_id(organization.id, f"organization_identifier/{CVR_SCHEME}"),
            "organization_id": str(organization.id),
            "identifier_scheme": CVR_SCHEME,
            "identifier_type": CVR_TYPE,
            "identifier": cvr,
        }
        records.append(Record("organization_identifier", identifier))
    return records


def location_records(location: Location) -> list[Record]:
    """The physical location, its address (the district as `region`) and, when a wheelchair
    can get in, an `accessibility` record and the accessibility term's attribute."""
    fields: dict[str, object] = {
        "id": str(location.id),
        "location_type": "physical",
        "organization_id": str(location.organization_id),
        "name": location.name,
    }
    if location.latitude is not None and location.longitude is not None:
        fields["latitude"] = location.latitude
        fields["longitude"] = location.longitude
    address = {
        "id": _child_id(location.id, "address/physical"),
        "location_id": str(location.id),
        "address_1": location.address_1,
        "city": location.city,
        "region": location.district,
        "state_province": STATE_PROVINCE,
        "postal_code": location.postal_code,
        "country": COUNTRY,
        "address_type": "physical",
    }
    records = [Record("location", fields), Record("address", address)]
    if location.wheelchair_accessible:
        accessibility = {
            "id": _child_id(location.id, "accessibility/wheelchair"),
            "location_id": str(location.id),
            "description": "Wheelchair accessible: a wheelchair can get all the way in.",
        }
        records.append(Record("accessibility", accessibility))
        records.append(
            _attribute(location.id, "location", Taxonomy.ACCESSIBILITY, "wheelchair_accessible")
        )
    return records


def service_records(service: Service, location: Location, *, updated_at: datetime) -> list[Record]:
    """The service and everything that hangs from it: where it is, when, in which languages,
    for which district, what it is about and for whom, that it is free, and its places.

    `updated_at` (timezone-aware) is when its facts, free places included, were last changed.
    Raises ValueError for an interest or target group that is not in the vocabulary.
    """
    if updated_at.utcoffset() is None:
        raise ValueError("updated_at must carry its UTC offset")
    if location.id != service.location_id:
        raise ValueError("the location is not the service's")
    sid, stamp = str(service.id), updated_at.isoformat()
    records = [
        Record(
            "service",
            {
                "id": sid,
                "organization_id": str(service.organization_id),
                "name": service.name,
                "status": service.status.value,
                "last_modified": stamp,
            },
        ),
        Record(
            "service_at_location",
            {
                "id": _child_id(service.id, f"service_at_location/{location.id}"),
                "service_id": sid,
                "location_id": str(location.id),
            },
        ),
    ]
    for schedule in service.schedules:
        byday = ",".join(schedule.days)
        opens, closes = _hh_mm(schedule.opens_at), _hh_mm(schedule.closes_at)
        fields = {
            "id": _child_id(service.id, f"schedule/{byday}/{opens}/{closes}"),
            "service_id": sid,
            "freq": "WEEKLY",
            "byday": byday,
            "opens_at": opens,
            "closes_at": closes,
            "description": schedule_reason([schedule]),
            "notes": SCHEDULE_NOTE,
        }
        records.append(Record("schedule", fields))
    for code in service.languages:
        fields = {"id": _child_id(service.id, f"language/{code}"), "service_id": sid, "code": code}
        if code in LANGUAGE_NAMES:
            fields["name"] = LANGUAGE_NAMES[code]
        records.append(Record("language", fields))
    area = {"id": _child_id(service.id, "service_area"), "service_id": sid}
    records.append(Record("service_area", area | {"name": location.district}))
    records += [_attribute(service.id, "service", Taxonomy.INTERESTS, c) for c in service.interests]
    records += [
        _attribute(service.id, "service", Taxonomy.TARGET_GROUPS, c) for c in service.target_groups
    ]
    cost = {
        "id": _child_id(service.id, "cost_option/free"),
        "service_id": sid,
        "option": "Free",
        "amount": 0,
        "currency": CURRENCY,
    }
    capacity = {
        "id": _child_id(service.id, f"service_capacity/{PLACES}"),
        "service_id": sid,
        "unit_id": str(PLACES_UNIT_ID),
        "available": service.free_places,
        "maximum": service.capacity,
        "description": "Free places for participants",
        "updated": stamp,
    }
    records += [
        Record("cost_option", cost),
        places_unit(),
        Record("service_capacity", capacity),
    ]
    return records


def places_unit() -> Record:
    """The unit of the capacities matching reads: participants' places."""
    return Record("unit", {"id": str(PLACES_UNIT_ID), "name": PLACES})


def _hh_mm(moment: time) -> str:
    return moment.isoformat(timespec="minutes")


def _of(records: Iterable[Record], entity: str, **matching: str) -> list[Record]:
    return [
        r
        for r in records
        if r.entity == entity and all(r.fields.get(k) == v for k, v in matching.items())
    ]


def _terms(records: Iterable[Record], link_id: str, taxonomy: Taxonomy) -> list[str]:
    """The codes of `taxonomy` attached to `link_id`, in the records' order; terms of other
    vocabularies are ignored."""
    found = []
    for attribute in _of(records, "attribute", link_id=link_id):
        term = code_of(str(attribute.fields.get("taxonomy_term_id")))
        if term is not None and term[0] is taxonomy and term[1] not in found:
            found.append(term[1])
    return found


def location_facts(records: Sequence[Record]) -> Location | Rejection:
    """The location read back from its records (location, address, attributes), or why not."""
    locations = _of(records, "location")
    if len(locations) != 1:
        return Rejection("location records", None, f"{len(locations)} locations, not one")
    location = locations[0].fields
    where = f"location {location['id']}"
    if "organization_id" not in location:
        return Rejection(where, "organization_id", "names no organisation")
    addresses = [
        a
        for a in _of(records, "address", location_id=location["id"])
        if a.fields.get("address_type") == "physical"
    ]
    if not addresses:
        return Rejection(where, "addresses", "has no physical address")
    address = addresses[0].fields
    district = address.get("region") or _district_of(address["postal_code"])
    if district is None:
        return Rejection(where, "addresses", "names no district and no Copenhagen postcode")
    accessible = "wheelchair_accessible" in _terms(records, location["id"], Taxonomy.ACCESSIBILITY)
    return Location(
        id=UUID(location["id"]),
        organization_id=UUID(location["organization_id"]),
        name=location.get("name", ""),
        address_1=address["address_1"],
        postal_code=address["postal_code"],
        city=address["city"],
        district=district,
        wheelchair_accessible=accessible,
        latitude=location.get("latitude"),
        longitude=location.get("longitude"),
    )


def _district_of(postal_code: str) -> str | None:
    district = district_for_postcode(postal_code)
    return None if district is None else district.name


def service_facts(records: Sequence[Record]) -> Service | Rejection:
    """The service read back from its records (and its location's), or why matching cannot
    use it: no location, no language or no capacity in places. Terms of taxonomies other than
    Brobygger's, and schedules that are not weekly, are left out."""
    services = _of(records, "service")
    if len(services) != 1:
        return Rejection("service records", None, f"{len(services)} services, not one")
    service = services[0].fields
    sid = service["id"]
    where = f"service {sid}"
    at = _of(records, "service_at_location", service_id=sid)
    if not at:
        return Rejection(where, "service_at_locations", "has no location")
    languages = [
        lang.fields["code"]
        for lang in _of(records, "language", service_id=sid)
        if "code" in lang.fields
    ]
    if not languages:
        return Rejection(where, "languages", "has no language")
    capacity = _places(records, sid)
    if capacity is None or not {"available", "maximum"} <= capacity.fields.keys():
        return Rejection(where, "capacities", f"has no capacity in {PLACES} with a maximum")
    try:
        return Service(
            id=UUID(sid),
            organization_id=UUID(service["organization_id"]),
            location_id=UUID(at[0].fields["location_id"]),
            name=service["name"],
            capacity=int(capacity.fields["maximum"]),
            free_places=int(capacity.fields["available"]),
            # HSDS's `defunct` and `temporarily closed` are, for matching, not active.
            status=ServiceStatus.ACTIVE
            if service["status"] == "active"
            else ServiceStatus.INACTIVE,
            interests=_terms(records, sid, Taxonomy.INTERESTS),
            languages=languages,
            target_groups=_terms(records, sid, Taxonomy.TARGET_GROUPS),
            schedules=_schedules(records, {sid} | {sal.id for sal in at}),
        )
    except InvalidService as error:
        return Rejection(where, "capacities", str(error))


def _places(records: Sequence[Record], service_id: str) -> Record | None:
    """The service's capacity in places: in Brobygger's unit, or in a unit named so."""
    places = {str(PLACES_UNIT_ID)} | {
        u.id for u in _of(records, "unit") if str(u.fields.get("name", "")).casefold() == PLACES
    }
    return next(
        (
            c
            for c in _of(records, "service_capacity", service_id=service_id)
            if c.fields.get("unit_id") in places
        ),
        None,
    )


def _schedules(records: Sequence[Record], owners: set[str]) -> list[WeeklySchedule]:
    """The weekly schedules of the service or of its services-at-location (`owners`' ids)."""
    return [
        weekly
        for schedule in _of(records, "schedule")
        if owners
        & {schedule.fields.get("service_id"), schedule.fields.get("service_at_location_id")}
        and (weekly := _weekly(schedule)) is not None
    ]


def _weekly(schedule: Record) -> WeeklySchedule | None:
    fields = schedule.fields
    days = tuple(str(fields.get("byday", "")).split(","))
    if fields.get("freq") != "WEEKLY":
        return None
    try:
        opens = time.fromisoformat(fields["opens_at"])
        closes = time.fromisoformat(fields["closes_at"])
        # Wall-clock times (see SCHEDULE_NOTE): an offset someone else wrote is not kept.
        return WeeklySchedule(days, opens.replace(tzinfo=None), closes.replace(tzinfo=None))
    except (KeyError, TypeError, ValueError):  # InvalidService included: days not MO..SU
        return None


def schedule_reason(schedules: Sequence[WeeklySchedule]) -> str:
    """When a service runs, in a few words: "Tue/Thu 10–12", "Mon/Wed 9.30–12, Fri 13–15"."""  # noqa: RUF002
    return ", ".join(schedule.describe() for schedule in schedules) or "no schedule given"
