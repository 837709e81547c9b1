"""A referral as the ServiceRequest Brobygger keeps: what was asked for, without the person.

The citizen is the referral's pseudonymous reference (`subject` by identifier of
`sid/citizen-ref`), never a contained Patient: the CPR number, name, address and languages the
care system sent stay sealed in referrals (the languages travel only in a Patient, so they are
not given back). The identifier is the care record's reference as sent; Brobygger keeps its
value, not its system. The status is the request's, not the referral's: `revoked` once
cancelled, `completed` once it ended (completed or failed: the Task says which), otherwise
`active`. The consent is contained as at intake (see `intake`), `inactive` once withdrawn.
"""

from __future__ import annotations

from datetime import UTC, datetime

from referrals.domain import Consent, Referral, ReferralStatus
from referrals.fhir import codes
from referrals.fhir.codes import Resource, coding, concept, identified

CONSENT_ID = "consent"

REQUEST_STATUS = {
    ReferralStatus.CANCELLED: "revoked",
    ReferralStatus.COMPLETED: "completed",
    ReferralStatus.FAILED: "completed",
}


def instant(at: datetime) -> str:
    """A moment as FHIR writes it, in UTC (the domain keeps some in Copenhagen time)."""
    return at.astimezone(UTC).isoformat()


def citizen(referral: Referral) -> Resource:
    """The citizen as every resource about the referral refers to them: pseudonymously."""
    return identified(codes.CITIZEN_REF, referral.citizen_ref, "Patient")


def care_system(referral: Referral) -> Resource:
    return identified(codes.CARE_SYSTEM, referral.submitted_by)


def last_updated(referral: Referral) -> datetime:
    """When the referral last changed: its latest step."""
    return referral.history[-1].at if referral.history else referral.submitted_at


def service_request(referral: Referral) -> Resource:
    resource: Resource = {
        "resourceType": "ServiceRequest",
        "id": str(referral.id),
        "meta": {"lastUpdated": instant(last_updated(referral))},
        "contained": [consent(referral.consent, citizen(referral))],
        "status": REQUEST_STATUS.get(referral.status, "active"),
        "intent": "order",
        "category": [concept(codes.SDOH_CATEGORIES, codes.SOCIAL_CONNECTION, "Social Connection")],
        "code": concept(codes.SNOMED, codes.SOCIAL_ISOLATION, "Social isolation"),
        "orderDetail": [
            {"coding": [coding(codes.DIRECTORY_INTERESTS, interest)], "text": interest}
            for interest in referral.interests
        ],
        "subject": citizen(referral),
        "authoredOn": instant(referral.submitted_at),
        "requester": care_system(referral),
        "locationCode": [{"text": referral.district}],
        "supportingInfo": [{"reference": f"#{CONSENT_ID}"}],
    }
    if referral.care_record_reference:
        resource["identifier"] = [{"value": referral.care_record_reference}]
    return resource


def consent(given: Consent, patient: Resource) -> Resource:
    """What the citizen agreed to: one nested provision per purpose, `permit` or `deny`."""
    agreed = {
        codes.REFERRAL: True,
        codes.SHARE_CONTACT_DETAILS: given.share_contact_details,
        codes.FOLLOW_UP_QUESTIONS: given.follow_up_questions,
        codes.SHARE_OUTCOME: given.share_outcome_with_care_system,
    }
    category = [concept(codes.ACT_CODES, "IDSCL", "information disclosure")]
    if given.how is not None:
        category.append(concept(codes.CONSENT_METHOD, given.how.value, codes.words(given.how)))
    resource: Resource = {
        "resourceType": "Consent",
        "id": CONSENT_ID,
        "status": "inactive" if given.withdrawal is not None else "active",
        "scope": concept(codes.CONSENT_SCOPES, "patient-privacy", "Privacy Consent"),
        "category": category,
        "patient": patient,
        "policyRule": concept(codes.ACT_CODES, "OPTIN", "opt-in"),
        "provision": {
            "provision": [
                {
                    "type": "permit" if agreed[purpose] else "deny",
                    "purpose": [coding(codes.CONSENT_PURPOSE, purpose)],
                }
                for purpose in codes.PURPOSES
            ]
        },
    }
    if given.given_on is not None:
        resource["dateTime"] = given.given_on.isoformat()
    if given.recorded_by is not None:
        # The care worker who took the consent, by their id in the care system.
        resource["performer"] = [
            {"type": "Practitioner", "identifier": {"value": given.recorded_by}}
        ]
    return resource
