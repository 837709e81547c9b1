"""A care system's ServiceRequest as the referral it asks for: `services.SubmitReferral`, or
a `FhirError` naming every element that is missing or wrong (never its value).

The shape taken, after Gravity's SDOHCC ServiceRequest:

- `identifier`: the care record's reference for the referral, with its system. It makes the
  submission idempotent: the same identifier again is the same referral.
- `status` `active`, `intent` `order`, `category` SDOH `social-connection`, `code` SNOMED CT
  422650009 |Social isolation|.
- `orderDetail`: the citizen's interests, each a `coding` (the directory's taxonomy or any
  other system: the code is kept) or a `text`, lower-cased; each must then be one keyword
  (`walking`, `wheelchair_dancing`).
- `subject`: `#id` of a contained Patient with the CPR number (`identifier`, system
  `urn:oid:1.2.208.176.1.2`), a `name`, an `address` with its `district` (and the rest of the
  address: lines, postal code, city; kept sealed like the name), and the languages the citizen
  speaks in `communication` (BCP 47; the ISO 639-1 language is kept).
- `supportingInfo`: `#id` of a contained Consent, `status` `active`, `dateTime` the day it was
  given, a nested `provision` per purpose (Brobygger's consent-purpose codes `referral`,
  `share_contact_details`, `follow_up_questions`, `share_outcome_with_care_system`), each
  `permit` or `deny`; `referral` must be permitted, the others are denied unless permitted.
  Who recorded it: the first `performer`'s identifier value (the care worker's id). How:
  a `category` coding of Brobygger's consent-method codes (`verbal`, `written`).

Anything else (a phone number, a note, baseline scores) is not taken through FHIR yet and is
not kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from zoneinfo import ZoneInfo

from fhir.resources.R4B.servicerequest import ServiceRequest
from pydantic import ValidationError

from referrals import services
from referrals.domain import Consent, ConsentMethod
from referrals.fhir import codes
from referrals.fhir.codes import Resource
from referrals.fhir.outcome import FhirError, Issue, IssueType
from runtime.http import TRIMMED

CITY_TIME = ZoneInfo("Europe/Copenhagen")
MOST_INTERESTS = 20
MOST_LANGUAGES = 10
MOST_ISSUES = 20
"""A body with more wrong than this gets the first ones: enough to start fixing."""
KEY_LENGTH = 200
"""Idempotency keys are stored in 200 characters; ours is `fhir:{system}|{value}`."""
KEYWORD = re.compile(r"^[a-z0-9]+(?:[_-][a-z0-9]+)*$")
LANGUAGE = re.compile(r"^[a-z]{2}$")
_TRIMMED = re.compile(TRIMMED)

INVALID_FHIR = {
    "missing": (IssueType.REQUIRED, "is required"),
    "extra_forbidden": (IssueType.STRUCTURE, "is not an element of this resource"),
}


def submit_command(body: object, submitted_by: str) -> services.SubmitReferral:
    """The referral `body` asks for. Raises `FhirError`: 400 when it is not a ServiceRequest
    at all, 422 when it is not valid FHIR or lacks what a referral needs."""
    if not isinstance(body, dict):
        raise FhirError(
            400, Issue(IssueType.STRUCTURE, "The body is not a JSON object: send a ServiceRequest.")
        )
    if body.get("resourceType") != "ServiceRequest":
        raise FhirError(
            400,
            Issue(
                IssueType.INVALID,
                "Only a ServiceRequest can be posted here.",
                "ServiceRequest.resourceType",
            ),
        )
    return _Reading(_read_fhir(body)).command(submitted_by)


def _read_fhir(body: Resource) -> Resource:
    """`body` as fhir.resources reads it: every element of the type FHIR gives it, and
    elements that are JSON null (which it takes as absent) left out."""
    try:
        request = ServiceRequest.model_validate(body)
    except ValidationError as error:
        issues = [_fhir_issue(e["loc"], e["type"]) for e in error.errors()[:MOST_ISSUES]]
        raise FhirError(422, *issues) from error
    except (ValueError, LookupError, TypeError) as error:
        # fhir.resources fails this way on a contained resource of an unknown type.
        raise FhirError(
            422,
            Issue(
                IssueType.STRUCTURE,
                "Not valid FHIR R4: a contained resource is of no known type.",
                "ServiceRequest.contained",
            ),
        ) from error
    read: Resource = request.model_dump(mode="json", by_alias=True, exclude_none=True)
    return read


def _fhir_issue(location: tuple[int | str, ...], kind: str) -> Issue:
    expression = _expression(location)
    found = next((v for k, v in INVALID_FHIR.items() if k in kind), None)
    if found is None:
        wrong_type = kind.endswith("_type") or kind == "json_invalid"
        found = (
            (IssueType.STRUCTURE, "has the wrong JSON type")
            if wrong_type
            else (IssueType.VALUE, "does not hold a valid value")
        )
    code, phrase = found
    return Issue(code, f"Not valid FHIR R4: {expression} {phrase}.", expression)


def _expression(location: tuple[int | str, ...]) -> str:
    path = "ServiceRequest"
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += "." + ("resourceType" if part == "resource_type" else part)
    return path


class _Reading:
    """One ServiceRequest, valid FHIR, read for a referral; issues collect in `issues`."""

    def __init__(self, body: Resource) -> None:
        self.body = body
        self.issues: list[Issue] = []

    def command(self, submitted_by: str) -> services.SubmitReferral:
        identifier = self._identifier()
        self._require_value("status", "active")
        self._require_value("intent", "order")
        self._require_coding(
            "ServiceRequest.category",
            [c for concept in self.body.get("category", []) for c in concept.get("coding", [])],
            codes.SDOH_CATEGORIES,
            codes.SOCIAL_CONNECTION,
        )
        self._require_coding(
            "ServiceRequest.code",
            self.body.get("code", {}).get("coding", []),
            codes.SNOMED,
            codes.SOCIAL_ISOLATION,
        )
        interests = self._interests()
        patient = self._contained_patient()
        citizen = _Citizen(patient, self.issues) if patient is not None else None
        consent = self._consent()
        if self.issues or identifier is None or citizen is None or consent is None:
            raise FhirError(422, *self.issues[:MOST_ISSUES])
        system, value = identifier
        assert citizen.personal_number and citizen.name and citizen.district  # no issues
        return services.SubmitReferral(
            submitted_by=submitted_by,
            personal_number=citizen.personal_number,
            name=citizen.name,
            address=citizen.address,
            district=citizen.district,
            interests=interests,
            languages=citizen.languages,
            consent=consent,
            care_record_reference=value,
            idempotency_key=f"fhir:{system}|{value}",
        )

    def _issue(self, code: IssueType, expression: str, diagnostics: str) -> None:
        self.issues.append(Issue(code, diagnostics, expression))

    def _identifier(self) -> tuple[str, str] | None:
        found = next(
            (i for i in self.body.get("identifier", []) if i.get("system") and i.get("value")),
            None,
        )
        where = "ServiceRequest.identifier"
        if found is None:
            self._issue(
                IssueType.REQUIRED,
                where,
                "The ServiceRequest needs an identifier with a system and a value: the care "
                "record's reference for this referral, sent again unchanged when retrying.",
            )
            return None
        system, value = str(found["system"]), str(found["value"])
        if not _TRIMMED.match(value):
            self._issue(
                IssueType.VALUE,
                where,
                "The identifier's value must be one line without leading or trailing spaces.",
            )
            return None
        if len(f"fhir:{system}|{value}") > KEY_LENGTH:
            self._issue(
                IssueType.TOO_LONG,
                where,
                f"The identifier's system and value together must be under {KEY_LENGTH} "
                "characters.",
            )
            return None
        return system, value

    def _require_value(self, element: str, wanted: str) -> None:
        if self.body.get(element) != wanted:
            self._issue(
                IssueType.VALUE,
                f"ServiceRequest.{element}",
                f"A referral's ServiceRequest has the {element} `{wanted}`.",
            )

    def _require_coding(self, where: str, codings: list[Resource], system: str, code: str) -> None:
        if not any(c.get("system") == system and c.get("code") == code for c in codings):
            self._issue(
                IssueType.REQUIRED if not codings else IssueType.VALUE,
                where,
                f"A referral's ServiceRequest has {where.split('.')[-1]} `{code}` of {system}.",
            )

    def _interests(self) -> list[str]:
        details = self.body.get("orderDetail", [])
        if not details:
            self._issue(
                IssueType.REQUIRED,
                "ServiceRequest.orderDetail",
                "Name the citizen's interests, each an orderDetail (a coding or a text).",
            )
        elif len(details) > MOST_INTERESTS:
            self._issue(
                IssueType.VALUE,
                "ServiceRequest.orderDetail",
                f"At most {MOST_INTERESTS} interests.",
            )
        interests: list[str] = []
        for index, detail in enumerate(details):
            code = next((c["code"] for c in detail.get("coding", []) if c.get("code")), None)
            interest = str(code or detail.get("text") or "").strip().lower()
            if not KEYWORD.match(interest) or len(interest) > 40:
                self._issue(
                    IssueType.VALUE,
                    f"ServiceRequest.orderDetail[{index}]",
                    "An interest is one keyword of lower-case letters and digits, words "
                    "joined by `_` or `-` (e.g. `walking`), at most 40 characters.",
                )
            else:
                interests.append(interest)
        return sorted(set(interests))

    def _contained(self, reference: str | None, resource_type: str) -> Resource | None:
        if not reference or not reference.startswith("#"):
            return None
        return next(
            (
                r
                for r in self.body.get("contained", [])
                if r.get("resourceType") == resource_type and r.get("id") == reference[1:]
            ),
            None,
        )

    def _contained_patient(self) -> Resource | None:
        reference = self.body.get("subject", {}).get("reference")
        if not isinstance(reference, str) or not reference.startswith("#"):
            self._issue(
                IssueType.VALUE,
                "ServiceRequest.subject",
                "The subject must refer to the citizen as a contained Patient: `#` and its id.",
            )
            return None
        patient = self._contained(reference, "Patient")
        if patient is None:
            self._issue(
                IssueType.REQUIRED,
                "ServiceRequest.contained",
                "The subject refers to no contained Patient: contain the citizen as a "
                "Patient whose id the subject names.",
            )
        return patient

    def _consent(self) -> Consent | None:
        found = next(
            (
                consent
                for info in self.body.get("supportingInfo", [])
                if (consent := self._contained(info.get("reference"), "Consent")) is not None
            ),
            None,
        )
        if found is None:
            self._issue(
                IssueType.REQUIRED,
                "ServiceRequest.supportingInfo",
                "The citizen's consent is required: a contained Consent that supportingInfo "
                "refers to (`#` and its id).",
            )
            return None
        return _ConsentReading(found, self.issues).consent()


class _Citizen:
    """What a referral needs of the contained Patient; issues go to `issues`."""

    def __init__(self, patient: Resource, issues: list[Issue]) -> None:
        self.patient = patient
        self.issues = issues
        self.personal_number = self._personal_number()
        self.name = self._name()
        self.district, self.address = self._address()
        self.languages = self._languages()

    def _issue(self, code: IssueType, expression: str, diagnostics: str) -> None:
        self.issues.append(Issue(code, diagnostics, expression))

    def _personal_number(self) -> str | None:
        number = next(
            (
                str(i["value"])
                for i in self.patient.get("identifier", [])
                if i.get("system") == codes.CPR and i.get("value")
            ),
            None,
        )
        if number is None:
            self._issue(
                IssueType.REQUIRED,
                "Patient.identifier",
                f"The Patient needs the citizen's CPR number: an identifier of system {codes.CPR}.",
            )
        return number

    def _name(self) -> str | None:
        for name in self.patient.get("name", []):
            parts = [*name.get("given", []), name.get("family")]
            written = name.get("text") or " ".join(p for p in parts if p)
            written = " ".join(str(written).split())
            if not written:
                continue
            if not _TRIMMED.match(written) or len(written) > 200:
                self._issue(
                    IssueType.VALUE,
                    "Patient.name",
                    "A name is at most 200 characters, without control characters.",
                )
                return None
            return written
        self._issue(IssueType.REQUIRED, "Patient.name", "The Patient needs the citizen's name.")
        return None

    def _address(self) -> tuple[str | None, str | None]:
        for address in self.patient.get("address", []):
            district = address.get("district")
            if not district:
                continue
            if not _TRIMMED.match(district) or len(district) > 100:
                self._issue(
                    IssueType.VALUE,
                    "Patient.address.district",
                    "The district is one line of at most 100 characters, without leading or "
                    "trailing spaces.",
                )
                return None, None
            city = " ".join(p for p in (address.get("postalCode"), address.get("city")) if p)
            lines = [line for line in address.get("line", []) if line]
            written = address.get("text") or ", ".join([*lines, city])
            written = " ".join(str(written).split()).strip(", ") or None
            if written is not None and (not _TRIMMED.match(written) or len(written) > 200):
                self._issue(
                    IssueType.VALUE,
                    "Patient.address",
                    "An address is at most 200 characters, without control characters.",
                )
            return district, written
        self._issue(
            IssueType.REQUIRED,
            "Patient.address.district",
            "The Patient needs an address with its district: Brobygger finds communities "
            "near the citizen by district.",
        )
        return None, None

    def _languages(self) -> list[str]:
        languages: list[str] = []
        spoken = self.patient.get("communication", [])
        for index, communication in enumerate(spoken):
            tags = [
                str(c["code"])
                for c in communication.get("language", {}).get("coding", [])
                if c.get("system") == codes.BCP47 and c.get("code")
            ]
            primary = [tag.split("-")[0].lower() for tag in tags]
            if not primary or not all(LANGUAGE.match(p) for p in primary):
                self._issue(
                    IssueType.VALUE,
                    f"Patient.communication[{index}].language",
                    f"A language is a coding of {codes.BCP47} whose language is two letters "
                    "(ISO 639-1), e.g. `da` or `da-DK`.",
                )
            languages.extend(primary)
        if not spoken:
            self._issue(
                IssueType.REQUIRED,
                "Patient.communication",
                "Name the languages the citizen speaks in the Patient's communication.",
            )
        unique = sorted(set(languages))
        if len(unique) > MOST_LANGUAGES:
            self._issue(
                IssueType.VALUE, "Patient.communication", f"At most {MOST_LANGUAGES} languages."
            )
        return unique


class _ConsentReading:
    def __init__(self, consent: Resource, issues: list[Issue]) -> None:
        self.resource = consent
        self.issues = issues

    def _issue(self, code: IssueType, expression: str, diagnostics: str) -> None:
        self.issues.append(Issue(code, diagnostics, expression))

    def consent(self) -> Consent | None:
        before = len(self.issues)
        if self.resource.get("status") != "active":
            self._issue(
                IssueType.VALUE,
                "Consent.status",
                "The consent must be `active`: the citizen agrees now.",
            )
        given_on = self._given_on()
        permitted = self._permitted()
        recorded_by = self._recorded_by()
        how = self._how()
        if len(self.issues) > before or given_on is None:
            return None
        return Consent(
            given_on=given_on,
            recorded_by=recorded_by,
            how=how,
            share_contact_details=codes.SHARE_CONTACT_DETAILS in permitted,
            follow_up_questions=codes.FOLLOW_UP_QUESTIONS in permitted,
            share_outcome_with_care_system=codes.SHARE_OUTCOME in permitted,
        )

    def _given_on(self) -> date | None:
        written = self.resource.get("dateTime")
        try:
            if isinstance(written, str) and len(written) == len("2026-11-22"):
                return date.fromisoformat(written)
            if isinstance(written, str) and len(written) > len("2026-11-22"):
                return datetime.fromisoformat(written).astimezone(CITY_TIME).date()
        except ValueError:
            pass  # the FHIR check already refused what no calendar has
        self._issue(
            IssueType.REQUIRED,
            "Consent.dateTime",
            "The Consent needs the day the citizen gave it (a date or a date-time).",
        )
        return None

    def _permitted(self) -> set[str]:
        permitted: set[str] = set()
        nested = self.resource.get("provision", {}).get("provision", [])
        for index, provision in enumerate(nested):
            for purpose in _purposes(provision.get("purpose", [])):
                if purpose not in codes.PURPOSES:
                    self._issue(
                        IssueType.VALUE,
                        f"Consent.provision.provision[{index}].purpose",
                        f"A purpose of {codes.CONSENT_PURPOSE} is one of "
                        f"{', '.join(codes.PURPOSES)}.",
                    )
                elif provision.get("type") == "permit":
                    permitted.add(purpose)
        if codes.REFERRAL not in permitted:
            self._issue(
                IssueType.REQUIRED,
                "Consent.provision",
                f"The citizen must agree to be referred: a nested provision of type `permit` "
                f"with the purpose `{codes.REFERRAL}` of {codes.CONSENT_PURPOSE}.",
            )
        return permitted

    def _recorded_by(self) -> str | None:
        performers = self.resource.get("performer", [])
        value = performers[0].get("identifier", {}).get("value") if performers else None
        if value is not None and (not _TRIMMED.match(value) or len(value) > 100):
            self._issue(
                IssueType.VALUE,
                "Consent.performer",
                "The care worker's id is one line of at most 100 characters.",
            )
            return None
        return value if isinstance(value, str) else None

    def _how(self) -> ConsentMethod | None:
        methods = [
            c.get("code")
            for concept in self.resource.get("category", [])
            for c in concept.get("coding", [])
            if c.get("system") == codes.CONSENT_METHOD
        ]
        if not methods:
            return None
        try:
            return ConsentMethod(methods[0])
        except ValueError:
            self._issue(
                IssueType.VALUE,
                "Consent.category",
                f"How the consent was given is `verbal` or `written` of {codes.CONSENT_METHOD}.",
            )
            return None


def _purposes(codings: Iterable[Resource]) -> Iterator[str]:
    for coding in codings:
        if coding.get("system") == codes.CONSENT_PURPOSE:
            yield str(coding.get("code"))
