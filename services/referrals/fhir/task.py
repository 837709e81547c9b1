"""A referral as the Task a care system follows it by, after Gravity's SDOHCC
TaskForReferralManagement (`code` fulfil, `focus` the ServiceRequest, `intent` order).

- `status`: submitted, offered and escalated are `requested` (the care system waits either
  way); accepted, in progress, on hold, completed, failed and cancelled are FHIR's own.
  `businessStatus` always carries Brobygger's status code, so `escalated` shows there.
- `statusReason`: for on hold, failed, cancelled and escalated, the reason code of the step
  that led there, with the code in words as its text (the free text given with a step may say
  something about the citizen and stays out).
- `owner`: the organisation that accepted the referral (by its directory id), from accepting
  on, also once it ended. Organisations that were offered it and did not accept (declined,
  let it expire, had it withdrawn, or still consider it) never appear.
- `output`: per answered follow-up, the citizen's UCLA-3 total and WHO-5 index (with the raw
  total as a component) as contained Observations; none once consent is withdrawn. And the
  outcome of a completed referral, when the citizen consented to share it.
"""

from __future__ import annotations

from referrals.domain import FINAL, FollowUp, Referral, ReferralStatus
from referrals.fhir import codes
from referrals.fhir.codes import Resource, concept, identified
from referrals.fhir.service_request import care_system, citizen, instant, last_updated

S = ReferralStatus

TASK_STATUS = {
    S.SUBMITTED: "requested",
    S.OFFERED: "requested",
    S.ESCALATED: "requested",
    S.ACCEPTED: "accepted",
    S.IN_PROGRESS: "in-progress",
    S.ON_HOLD: "on-hold",
    S.COMPLETED: "completed",
    S.FAILED: "failed",
    S.CANCELLED: "cancelled",
}
WITH_REASON = frozenset({S.ON_HOLD, S.FAILED, S.CANCELLED})


def task(referral: Referral) -> Resource:
    updated = instant(last_updated(referral))
    resource: Resource = {
        "resourceType": "Task",
        "id": str(referral.id),
        "meta": {"lastUpdated": updated},
        "focus": {"reference": f"ServiceRequest/{referral.id}"},
        "status": TASK_STATUS[referral.status],
        "businessStatus": concept(
            codes.REFERRAL_STATUS, referral.status.value, codes.words(referral.status)
        ),
        "intent": "order",
        "code": concept(codes.TASK_CODES, "fulfill", "Fulfill the focal request"),
        "for": citizen(referral),
        "authoredOn": instant(referral.submitted_at),
        "lastModified": updated,
        "requester": care_system(referral),
    }
    reason = status_reason(referral)
    if reason is not None:
        resource["statusReason"] = concept(codes.STATUS_REASON, reason, codes.words(reason))
    accepted = referral.accepted_offer
    if accepted is not None:
        resource["owner"] = identified(
            codes.ORGANIZATION, str(accepted.organization_id), "Organization"
        )
        if accepted.answered_at is not None:
            resource["executionPeriod"] = {"start": instant(accepted.answered_at)}
            if referral.status in FINAL:
                resource["executionPeriod"]["end"] = updated
    observations, outputs = _outputs(referral)
    if observations:
        resource["contained"] = observations
    if outputs:
        resource["output"] = outputs
    return resource


def status_reason(referral: Referral) -> str | None:
    """The reason code of the step that brought the referral to its status, where the
    status needs one."""
    if referral.status is S.ESCALATED:
        return referral.escalation_reason.value if referral.escalation_reason else None
    if referral.status not in WITH_REASON:
        return None
    step = next(
        (
            t
            for t in reversed(referral.history)
            if t.to_status is referral.status and t.from_status is not referral.status
        ),
        None,
    )
    return step.reason if step is not None else None


def _outputs(referral: Referral) -> tuple[list[Resource], list[Resource]]:
    observations: list[Resource] = []
    outputs: list[Resource] = []
    follow_ups = referral.follow_ups if referral.consent.withdrawal is None else []
    for follow_up in follow_ups:
        for observation in _observations(follow_up, citizen(referral)):
            observations.append(observation)
            outputs.append(
                {
                    "type": concept(
                        codes.TASK_OUTPUT,
                        codes.FOLLOW_UP_SCORES,
                        f"Follow-up {follow_up.number} scores",
                    ),
                    "valueReference": {"reference": f"#{observation['id']}"},
                }
            )
    outcome = referral.shared_outcome()[0]
    if outcome is not None:
        outputs.append(
            {
                "type": concept(codes.TASK_OUTPUT, codes.REFERRAL_OUTCOME, "Outcome"),
                "valueCodeableConcept": concept(codes.OUTCOME, outcome.value, codes.words(outcome)),
            }
        )
    return observations, outputs


def _observations(follow_up: FollowUp, subject: Resource) -> list[Resource]:
    scores, at = follow_up.wellbeing, follow_up.wellbeing_recorded_at
    if scores is None or at is None:
        return []

    def observation(code: str, display: str, value: int) -> Resource:
        return {
            "resourceType": "Observation",
            "id": f"follow-up-{follow_up.number}-{code}",
            "status": "final",
            "category": [concept(codes.OBSERVATION_CATEGORIES, "survey", "Survey")],
            "code": concept(codes.SCORES, code, display),
            "subject": subject,
            "effectiveDateTime": instant(at),
            "valueInteger": value,
        }

    found = []
    if scores.ucla3 is not None:
        found.append(
            observation(
                codes.UCLA3_TOTAL, "UCLA 3-item loneliness scale total (3-9)", scores.ucla3.total
            )
        )
    if scores.who5 is not None:
        who5 = observation(codes.WHO5_INDEX, "WHO-5 well-being index (0-100)", scores.who5.index)
        who5["component"] = [
            {
                "code": concept(codes.SCORES, codes.WHO5_TOTAL, "WHO-5 raw total (0-25)"),
                "valueInteger": scores.who5.raw,
            }
        ]
        found.append(who5)
    return found


def searchset(tasks: list[Resource], base: str, self_url: str) -> Resource:
    """A search's answer: `tasks` as a searchset Bundle, each entry's full URL under `base`
    (the FHIR base URL, e.g. `https://referrals.example/fhir`)."""
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "link": [{"relation": "self", "url": self_url}],
        "entry": [
            {"fullUrl": f"{base}/Task/{t['id']}", "resource": t, "search": {"mode": "match"}}
            for t in tasks
        ],
    }
