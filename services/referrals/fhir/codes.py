"""The code systems and identifier systems Brobygger's FHIR resources use, and why.

- The category is Gravity's SDOH category `social-connection`, from the SDOH Clinical Care
  guide's own code system (its temporary codes: Gravity has no permanent home for them yet).
- What is requested is SNOMED CT 422650009 |Social isolation|.
- The citizen's CPR number is the identifier of system `urn:oid:1.2.208.176.1.2` (the CPR
  register's OID); languages are BCP 47 tags (`urn:ietf:bcp:47`), of which Brobygger keeps the
  ISO 639-1 primary language.
- UCLA-3 and WHO-5 totals are coded in Brobygger's own code system: no LOINC code for the
  three-item loneliness scale's total or the WHO-5 index could be confirmed (LOINC's three-item
  scale panel, 106418-7, is an order code, not a score), and none is made up here.
- Everything else Brobygger names itself lives under `https://brobygger.dk/fhir/`: code
  systems under `CodeSystem/`, identifier systems under `sid/`.
"""

from __future__ import annotations

from typing import Any

Resource = dict[str, Any]
"""A FHIR resource (or a part of one) as its JSON object."""

SDOH_CATEGORIES = (
    "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes"
)
SOCIAL_CONNECTION = "social-connection"
SNOMED = "http://snomed.info/sct"
SOCIAL_ISOLATION = "422650009"
CPR = "urn:oid:1.2.208.176.1.2"
BCP47 = "urn:ietf:bcp:47"
TASK_CODES = "http://hl7.org/fhir/CodeSystem/task-code"
OBSERVATION_CATEGORIES = "http://terminology.hl7.org/CodeSystem/observation-category"
CONSENT_SCOPES = "http://terminology.hl7.org/CodeSystem/consentscope"
ACT_CODES = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
DIRECTORY_INTERESTS = "https://taxonomies.brobygger.example/interests"
"""The directory's taxonomy of interests (its `taxonomy_uri`), whose codes referrals keep."""

BROBYGGER = "https://brobygger.dk/fhir"
REFERRAL_STATUS = f"{BROBYGGER}/CodeSystem/referral-status"
"""Brobygger's own status of a referral, a Task's `businessStatus`."""
STATUS_REASON = f"{BROBYGGER}/CodeSystem/status-reason"
"""The reason codes of holding, failing, cancelling and escalating a referral."""
CONSENT_PURPOSE = f"{BROBYGGER}/CodeSystem/consent-purpose"
CONSENT_METHOD = f"{BROBYGGER}/CodeSystem/consent-method"
SCORES = f"{BROBYGGER}/CodeSystem/score"
TASK_OUTPUT = f"{BROBYGGER}/CodeSystem/task-output"
OUTCOME = f"{BROBYGGER}/CodeSystem/outcome"
CITIZEN_REF = f"{BROBYGGER}/sid/citizen-ref"
"""The referral's pseudonymous reference to its citizen: the only citizen identifier
Brobygger gives out."""
CARE_SYSTEM = f"{BROBYGGER}/sid/care-system"
"""A care system, by the subject of its token."""
ORGANIZATION = f"{BROBYGGER}/sid/organization"
"""A partner organisation, by its id in the directory."""

REFERRAL = "referral"
SHARE_CONTACT_DETAILS = "share_contact_details"
FOLLOW_UP_QUESTIONS = "follow_up_questions"
SHARE_OUTCOME = "share_outcome_with_care_system"
PURPOSES = (REFERRAL, SHARE_CONTACT_DETAILS, FOLLOW_UP_QUESTIONS, SHARE_OUTCOME)
"""What a citizen may consent to: each a nested provision of the Consent, `permit` or
`deny`; to be referred at all (`referral`) must be permitted."""

UCLA3_TOTAL = "ucla3-total"
WHO5_INDEX = "who5-index"
WHO5_TOTAL = "who5-total"
FOLLOW_UP_SCORES = "follow-up-scores"
REFERRAL_OUTCOME = "outcome"


def coding(system: str, code: str, display: str | None = None) -> Resource:
    found: Resource = {"system": system, "code": code}
    if display is not None:
        found["display"] = display
    return found


def concept(system: str, code: str, display: str | None = None) -> Resource:
    """A CodeableConcept of one coding, its text the display (if any)."""
    found: Resource = {"coding": [coding(system, code, display)]}
    if display is not None:
        found["text"] = display
    return found


def identified(system: str, value: str, type_: str | None = None) -> Resource:
    """A Reference by identifier, for what Brobygger does not serve as a resource."""
    reference: Resource = {"identifier": {"system": system, "value": value}}
    if type_ is not None:
        reference["type"] = type_
    return reference


def words(code: str) -> str:
    """A code as words, e.g. `citizen_ill` as `Citizen ill`."""
    spaced = code.replace("_", " ").replace("-", " ")
    return spaced[:1].upper() + spaced[1:]
