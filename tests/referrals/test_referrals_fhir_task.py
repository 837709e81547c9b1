"""A referral as a FHIR Task and ServiceRequest: pure mapping, referrals walked through the
domain's own steps. Every resource built here must validate with fhir.resources' R4B models."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.servicerequest import ServiceRequest
from fhir.resources.R4B.task import Task

from referrals.domain import (
    Accompaniment,
    CancelReason,
    DeclineReason,
    FailReason,
    FollowUpPlan,
    HoldReason,
    Participation,
    ParticipationStatus,
    Referral,
    ReferralStatus,
    Scores,
    Ucla3,
    Who5,
)
from referrals.fhir import codes
from referrals.fhir.capability import capability_statement
from referrals.fhir.outcome import Issue, IssueType, operation_outcome
from referrals.fhir.service_request import service_request
from referrals.fhir.task import searchset, task
from tests.referrals.support import CARE, NOW, TTL, candidate, consent, known, partner

S = ReferralStatus
PLAN = FollowUpPlan()
MODELS: dict[str, Any] = {
    "Task": Task,
    "ServiceRequest": ServiceRequest,
    "Bundle": Bundle,
    "CapabilityStatement": CapabilityStatement,
    "OperationOutcome": OperationOutcome,
}


def valid(resource: dict[str, Any]) -> dict[str, Any]:
    """`resource`, after checking it is valid FHIR (R4B) and survives JSON unchanged."""
    MODELS[resource["resourceType"]].model_validate(resource)
    assert json.loads(json.dumps(resource)) == resource
    return resource


def submitted(**consented: bool) -> Referral:
    return Referral.submit(
        Referral(
            id=uuid4(),
            submitted_by=CARE.subject,
            citizen_ref="ref_abcdefghijklmnopqrstuvwxyz",
            age_band="80-84",
            district="Nørrebro",
            interests=["chess", "walking"],
            languages=["da"],
            needs=[],
            consent=consent(**consented),
            submitted_at=NOW,
            care_record_reference="visit-2026-11-22-0930",
        )
    )


def walked(status: ReferralStatus, **consented: bool) -> tuple[Referral, list[UUID]]:
    """A referral walked to `status` by the domain's steps: offered to the first of two
    organisations, which declines, then to the second, which accepts (where `status`
    needs an acceptance). Returns it and the two organisations."""
    referral = submitted(**consented)
    first, second = candidate(), candidate()
    services = {**known(first), **known(second)}
    if status is S.ESCALATED:
        referral.no_match(NOW)
    elif status is S.CANCELLED:
        referral.cancel(CARE, CancelReason.DUPLICATE, None, NOW)
    elif status is not S.SUBMITTED:
        referral.receive_candidates([first, second], services, NOW, TTL)
    if status in (S.ACCEPTED, S.IN_PROGRESS, S.ON_HOLD, S.COMPLETED, S.FAILED):
        referral.decline(
            partner(first.organization_id), DeclineReason.NO_CAPACITY, None, services, NOW, TTL
        )
        referral.accept(partner(second.organization_id), NOW)
    holder = partner(second.organization_id)
    if status in (S.IN_PROGRESS, S.ON_HOLD):
        referral.record_first_meeting(holder, NOW.date(), Accompaniment.VOLUNTEER, NOW, PLAN)
    if status is S.ON_HOLD:
        referral.put_on_hold(holder, HoldReason.CITIZEN_ILL, "ill with the flu", NOW)
    if status is S.COMPLETED:
        referral.complete(holder, None, NOW)
    if status is S.FAILED:
        referral.fail(holder, FailReason.CITIZEN_NOT_INTERESTED, None, NOW)
    assert referral.status is status
    return referral, [first.organization_id, second.organization_id]


def followed_up() -> tuple[Referral, UUID]:
    """A referral that went all the way: accepted, met, both follow-ups answered by the
    partner and the care system (the citizen consented to both and to sharing the outcome),
    and so completed. Returns it and the organisation that accepted it."""
    referral, (_, accepting) = walked(
        S.IN_PROGRESS, follow_up_questions=True, share_outcome_with_care_system=True
    )
    holder = partner(accepting)
    answers = [
        Scores(Ucla3(3, 2, 3), Who5(2, 2, 1, 2, 2)),
        Scores(Ucla3(2, 1, 2), Who5(3, 4, 3, 3, 4)),
    ]
    for follow_up, scores in zip(referral.follow_ups, answers, strict=True):
        at = follow_up.due_at + timedelta(days=2)
        referral.record_participation(
            holder, follow_up.number, Participation(ParticipationStatus.TAKING_PART, 4), at
        )
        referral.record_wellbeing(CARE, follow_up.number, scores, at)
    assert referral.status is S.COMPLETED
    return referral, accepting


@pytest.mark.parametrize(
    ("status", "task_status", "reason"),
    [
        (S.SUBMITTED, "requested", None),
        (S.OFFERED, "requested", None),
        (S.ESCALATED, "requested", "no_match"),
        (S.ACCEPTED, "accepted", None),
        (S.IN_PROGRESS, "in-progress", None),
        (S.ON_HOLD, "on-hold", "citizen_ill"),
        (S.COMPLETED, "completed", None),
        (S.FAILED, "failed", "citizen_not_interested"),
        (S.CANCELLED, "cancelled", "duplicate"),
    ],
)
def test_every_referral_status_maps_to_a_task_status_with_brobyggers_own_as_business_status(
    status: ReferralStatus, task_status: str, reason: str | None
) -> None:
    referral, _ = walked(status)
    found = valid(task(referral))
    assert found["status"] == task_status
    assert found["businessStatus"]["coding"] == [
        {"system": codes.REFERRAL_STATUS, "code": status.value, "display": codes.words(status)}
    ]
    if reason is None:
        assert "statusReason" not in found
    else:
        assert found["statusReason"]["coding"][0] == {
            "system": codes.STATUS_REASON,
            "code": reason,
            "display": codes.words(reason),
        }
        assert found["statusReason"]["text"]
    assert found["focus"] == {"reference": f"ServiceRequest/{referral.id}"}
    assert found["for"]["identifier"]["value"] == referral.citizen_ref
    assert (found["intent"], found["code"]["coding"][0]["code"]) == ("order", "fulfill")


def test_every_referral_status_has_a_task_status() -> None:
    for status in ReferralStatus:
        assert valid(task(walked(status)[0]))["status"]


def test_the_free_text_given_with_a_step_stays_out_of_the_task() -> None:
    referral, _ = walked(S.ON_HOLD)
    assert "flu" not in json.dumps(task(referral))


@pytest.mark.parametrize("status", [S.ACCEPTED, S.IN_PROGRESS, S.ON_HOLD, S.COMPLETED, S.FAILED])
def test_the_organisation_that_accepted_is_the_owner_and_the_one_that_declined_never_shows(
    status: ReferralStatus,
) -> None:
    referral, (declined, accepted) = walked(status)
    found = valid(task(referral))
    assert found["owner"] == {
        "type": "Organization",
        "identifier": {"system": codes.ORGANIZATION, "value": str(accepted)},
    }
    assert found["executionPeriod"]["start"] == NOW.isoformat()
    assert str(declined) not in json.dumps(found)


def test_a_referral_cancelled_after_acceptance_keeps_its_owner() -> None:
    referral, (declined, accepted) = walked(S.ACCEPTED)
    referral.cancel(CARE, CancelReason.CITIZEN_MOVED, None, NOW + timedelta(hours=1))
    found = valid(task(referral))
    assert found["owner"]["identifier"]["value"] == str(accepted)
    assert found["executionPeriod"]["end"] == (NOW + timedelta(hours=1)).isoformat()
    assert str(declined) not in json.dumps(found)


def test_no_owner_while_an_offer_is_pending_nor_after_it_was_withdrawn_or_declined() -> None:
    referral, organizations = walked(S.OFFERED)
    assert "owner" not in valid(task(referral))
    referral.cancel(CARE, CancelReason.NEED_MET_OTHERWISE, None, NOW)
    found = valid(task(referral))
    assert "owner" not in found
    assert not any(str(org) in json.dumps(found) for org in organizations)


def test_follow_up_scores_are_coded_observations_output_by_the_task() -> None:
    referral, _ = followed_up()
    found = valid(task(referral))
    observations = {o["id"]: o for o in found["contained"]}
    assert set(observations) == {
        "follow-up-1-ucla3-total",
        "follow-up-1-who5-index",
        "follow-up-2-ucla3-total",
        "follow-up-2-who5-index",
    }
    ucla3 = observations["follow-up-2-ucla3-total"]
    assert ucla3["code"]["coding"][0] | {"display": None} == {
        "system": codes.SCORES,
        "code": codes.UCLA3_TOTAL,
        "display": None,
    }
    assert ucla3["valueInteger"] == 5
    assert ucla3["status"] == "final"
    who5 = observations["follow-up-1-who5-index"]
    assert who5["valueInteger"] == 36
    assert who5["component"][0]["code"]["coding"][0]["code"] == codes.WHO5_TOTAL
    assert who5["component"][0]["valueInteger"] == 9
    scores = [o for o in found["output"] if o["type"]["coding"][0]["code"] == "follow-up-scores"]
    assert sorted(o["valueReference"]["reference"] for o in scores) == sorted(
        f"#{name}" for name in observations
    )
    [outcome] = [o for o in found["output"] if o["type"]["coding"][0]["code"] == "outcome"]
    assert outcome["valueCodeableConcept"]["coding"][0]["code"] == "participating"


def test_once_consent_is_withdrawn_the_task_shows_no_scores_and_no_outcome() -> None:
    referral, _ = followed_up()
    referral.withdraw_consent(CARE, None, None, NOW + timedelta(days=200))
    found = valid(task(referral))
    assert "contained" not in found
    assert "output" not in found


def test_the_outcome_shows_only_when_the_citizen_consented_to_share_it() -> None:
    referral, (_, accepting) = walked(S.IN_PROGRESS, follow_up_questions=True)
    for follow_up in referral.follow_ups:
        at = follow_up.due_at + timedelta(days=1)
        referral.record_participation(
            partner(accepting), follow_up.number, Participation(ParticipationStatus.STOPPED, 0), at
        )
        referral.record_wellbeing(CARE, follow_up.number, Scores(), at)
    assert referral.status is S.COMPLETED
    found = valid(task(referral))
    assert "output" not in found  # no scores (the citizen did not answer), no outcome


def test_the_service_request_as_kept_has_no_personal_data_and_the_consent_as_given() -> None:
    referral, _ = walked(S.OFFERED, follow_up_questions=True)
    found = valid(service_request(referral))
    assert found["subject"] == {
        "type": "Patient",
        "identifier": {"system": codes.CITIZEN_REF, "value": referral.citizen_ref},
    }
    assert not any(r["resourceType"] == "Patient" for r in found["contained"])
    assert found["identifier"] == [{"value": "visit-2026-11-22-0930"}]
    assert [d["text"] for d in found["orderDetail"]] == ["chess", "walking"]
    [consent_given] = found["contained"]
    assert found["supportingInfo"] == [{"reference": f"#{consent_given['id']}"}]
    provisions = {
        p["purpose"][0]["code"]: p["type"] for p in consent_given["provision"]["provision"]
    }
    assert provisions == {
        "referral": "permit",
        "share_contact_details": "permit",
        "follow_up_questions": "permit",
        "share_outcome_with_care_system": "deny",
    }
    assert consent_given["dateTime"] == NOW.date().isoformat()
    assert consent_given["performer"][0]["identifier"]["value"] == "cw-4711"
    assert consent_given["status"] == "active"


@pytest.mark.parametrize(
    ("status", "request_status"),
    [(S.OFFERED, "active"), (S.COMPLETED, "completed"), (S.CANCELLED, "revoked")],
)
def test_the_service_requests_status_is_the_requests_own(
    status: ReferralStatus, request_status: str
) -> None:
    assert valid(service_request(walked(status)[0]))["status"] == request_status


def test_a_withdrawn_consent_reads_as_inactive() -> None:
    referral, _ = walked(S.OFFERED)
    referral.withdraw_consent(CARE, None, None, NOW)
    [consent_given] = valid(service_request(referral))["contained"]
    assert consent_given["status"] == "inactive"


def test_a_search_result_is_a_searchset_bundle_of_the_tasks() -> None:
    tasks = [task(walked(S.OFFERED)[0]), task(walked(S.ACCEPTED)[0])]
    found = valid(searchset(tasks, "http://referrals.test/fhir", "http://referrals.test/fhir/Task"))
    assert found["type"] == "searchset"
    assert [e["fullUrl"] for e in found["entry"]] == [
        f"http://referrals.test/fhir/Task/{t['id']}" for t in tasks
    ]


def test_the_capability_statement_and_an_operation_outcome_are_valid_fhir() -> None:
    valid(capability_statement("http://referrals.test/fhir"))
    outcome = valid(
        operation_outcome([Issue(IssueType.REQUIRED, "Needed.", "ServiceRequest.identifier")])
    )
    assert outcome["issue"][0]["expression"] == ["ServiceRequest.identifier"]


def test_a_followed_up_referral_reads_as_a_complete_task() -> None:
    """The sample of the FHIR closing note: `sample_task()` builds it."""
    found = sample_task()
    assert found["status"] == "completed"
    assert len(found["output"]) == 5


def sample_task() -> dict[str, Any]:
    referral, _ = followed_up()
    return valid(task(referral))
