"""The CapabilityStatement (`GET /fhir/metadata`): exactly what the FHIR API supports, and
nothing it does not. JSON only; a bearer token on every request (a care system's, or an
operator's; only a care system creates)."""

from __future__ import annotations

from referrals.fhir.codes import Resource

DATE = "2026-11-30"
"""When what is supported last changed."""

SEARCH_PARAMETERS = (
    {
        "name": "focus",
        "type": "reference",
        "documentation": "`ServiceRequest/{id}`: the Task of that referral.",
    },
    {
        "name": "_lastUpdated",
        "type": "date",
        "documentation": "Only the prefix `gt` and a full date-time with its time zone: the "
        "Tasks changed since then, the least recently changed first.",
    },
    {
        "name": "_count",
        "type": "number",
        "documentation": "At most this many Tasks (1 to 200; 50 if not given).",
    },
)

RESOURCES = (
    {
        "type": "ServiceRequest",
        "interaction": [{"code": "create"}, {"code": "read"}],
        "versioning": "no-version",
        "conditionalCreate": False,
        "documentation": "A referral of a lonely older citizen to a community. Created "
        "once per identifier: the same ServiceRequest again answers 200 with the first one, "
        "the same identifier with other content 409. Read back without the citizen's "
        "personal data.",
    },
    {
        "type": "Task",
        "interaction": [{"code": "read"}, {"code": "search-type"}],
        "versioning": "no-version",
        "searchParam": list(SEARCH_PARAMETERS),
        "documentation": "How the referral is going, after SDOHCC TaskForReferralManagement; "
        "one per ServiceRequest, of the same id. Read-only.",
    },
)


def capability_statement(base: str) -> Resource:
    """What the FHIR API at `base` (e.g. `https://referrals.example/fhir`) supports."""
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": DATE,
        "publisher": "Brobygger",
        "kind": "instance",
        "software": {"name": "Brobygger referrals"},
        "implementation": {"description": "Brobygger referrals' FHIR API", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "description": "A bearer JWT (`Authorization: Bearer ...`) of a care "
                    "system or an operator; only a care system may create. A care system "
                    "sees only the referrals it submitted."
                },
                "resource": [dict(r) for r in RESOURCES],
            }
        ],
    }
