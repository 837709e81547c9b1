"""Webhook endpoints over HTTP: partners' and care systems' own, each secret shown once,
another owner's not found; with Kafka unreachable."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient

from contracts import FollowUpEscalated, OfferWithdrawn, ReferralOffered
from contracts.referrals import ReferralStatusChanged
from notifications.store import NotificationsUnitOfWork
from runtime.auth import Role
from tests.events import offer_withdrawn, referral_offered
from tests.kit import auth_header, record_of, wait_for
from tests.notifications.receiver import webhook_receiver
from tests.notifications.support import ORG, OTHER_ORG, consume

PARTNER = auth_header(Role.PARTNER, organization_id=ORG)
OTHER_PARTNER = auth_header(Role.PARTNER, organization_id=OTHER_ORG)
CARE = auth_header(Role.CARE_SYSTEM, subject="care-system-a")
OTHER_CARE = auth_header(Role.CARE_SYSTEM, subject="care-system-b")
OPERATOR = auth_header(Role.OPERATOR, subject="someone")
REVIEWER = auth_header(Role.REVIEWER, subject="someone else")
HOOK = "https://partner.example/brobygger"
PROBLEM = "application/problem+json"


def add(client: TestClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post("/webhooks", headers=headers, json={"url": HOOK, **body})
    assert response.status_code == 201, response.text
    added: dict[str, Any] = response.json()
    return added


def listed(client: TestClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = client.get("/webhooks", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == len(body["data"])
    items: list[dict[str, Any]] = body["data"]
    return items


def test_a_partner_adds_an_endpoint_and_sees_its_secret_in_that_answer_only(
    client: TestClient,
) -> None:
    response = client.post("/webhooks", headers=PARTNER, json={"url": HOOK})
    assert response.status_code == 201, response.text
    added = response.json()
    assert response.headers["location"] == f"/webhooks/{added['id']}"
    assert added["secret"].startswith("whsec_")
    assert {k: v for k, v in added.items() if k not in ("id", "created_at", "secret")} == {
        "url": HOOK,
        "event_types": [],
        "enabled": True,
        "failing_since": None,
        "disabled_at": None,
        "previous_secret_valid_until": None,
    }
    shown = {k: v for k, v in added.items() if k != "secret"}
    read = client.get(f"/webhooks/{added['id']}", headers=PARTNER)
    assert read.status_code == 200
    assert read.json() == shown
    assert listed(client, PARTNER) == [shown]
    for later in (read, client.get("/webhooks", headers=PARTNER)):
        assert added["secret"] not in later.text
        assert added["secret"].removeprefix("whsec_") not in later.text


def test_a_partner_may_have_several_endpoints_each_with_its_filter_and_secret(
    client: TestClient,
) -> None:
    offers = add(client, PARTNER, event_types=[ReferralOffered.event_type])
    everything = add(client, PARTNER)
    assert offers["secret"] != everything["secret"]
    assert [(e["id"], e["event_types"]) for e in listed(client, PARTNER)] == [
        (offers["id"], [ReferralOffered.event_type]),
        (everything["id"], []),
    ]


def test_a_care_system_has_endpoints_of_its_own_for_the_status_of_its_referrals(
    client: TestClient,
) -> None:
    status = ReferralStatusChanged.event_type
    added = add(client, CARE, event_types=[status])
    assert added["event_types"] == [status]
    assert [e["id"] for e in listed(client, CARE)] == [added["id"]]
    assert listed(client, OTHER_CARE) == []
    assert listed(client, PARTNER) == []
    refused = client.post(
        "/webhooks", headers=CARE, json={"url": HOOK, "event_types": [ReferralOffered.event_type]}
    )
    assert refused.status_code == 422


@pytest.mark.parametrize(
    "url",
    [
        "ftp://partner.example/hook",
        "not a url",
        "http://127.0.0.1:9000/hook",
        "http://localhost/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "https://user:secret@partner.example/hook",
        " https://partner.example/hook",
        "https://partner.example/a b",
    ],
)
def test_an_endpoint_that_is_not_public_http_is_refused_and_nothing_is_stored(
    client: TestClient, url: str
) -> None:
    response = client.post("/webhooks", headers=PARTNER, json={"url": url})
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert listed(client, PARTNER) == []


def test_private_targets_can_be_allowed_for_local_use(start: Callable[..., TestClient]) -> None:
    client = start(allow_private_webhook_targets=True)
    response = client.post("/webhooks", headers=PARTNER, json={"url": "http://127.0.0.1:9/x"})
    assert response.status_code == 201


def test_a_url_is_kept_exactly_as_sent(client: TestClient) -> None:
    assert add(client, PARTNER, url="https://partner.example")["url"] == "https://partner.example"


def test_a_secret_of_ones_own_or_another_unknown_field_is_refused(client: TestClient) -> None:
    body = {"url": HOOK, "secret": "whsec_chosen"}
    response = client.post("/webhooks", headers=PARTNER, json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert [e["location"] for e in response.json()["errors"]] == ["body.secret"]


@pytest.mark.parametrize(
    "event_type",
    [FollowUpEscalated.event_type, ReferralStatusChanged.event_type, "dk.brobygger.nothing.v1"],
    ids=["the operators'", "a care system's", "no such type"],
)
def test_a_type_a_partner_cannot_receive_is_refused_by_name(
    client: TestClient, event_type: str
) -> None:
    body = {"url": HOOK, "event_types": [ReferralOffered.event_type, event_type]}
    response = client.post("/webhooks", headers=PARTNER, json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["detail"] == (
        f"event_types: not an event type you can receive: {event_type}; see the description "
        "of `event_types`."
    )
    assert listed(client, PARTNER) == []


def test_an_owner_has_at_most_ten_endpoints(client: TestClient) -> None:
    for _ in range(10):
        add(client, PARTNER)
    response = client.post("/webhooks", headers=PARTNER, json={"url": HOOK})
    assert response.status_code == 422
    assert response.json()["detail"] == ("You have at most 10 webhook endpoints. Remove one first.")
    add(client, OTHER_PARTNER)


@pytest.mark.parametrize(
    "stranger", [OTHER_PARTNER, CARE], ids=["another partner", "a care system"]
)
def test_another_owners_endpoint_is_not_found_and_stays_as_it_was(
    client: TestClient, stranger: dict[str, str]
) -> None:
    added = add(client, PARTNER)
    path = f"/webhooks/{added['id']}"
    for response in (
        client.get(path, headers=stranger),
        client.patch(path, headers=stranger, json={"url": "https://stranger.example/"}),
        client.post(f"{path}/rotate-secret", headers=stranger),
        client.delete(path, headers=stranger),
    ):
        assert response.status_code == 404, response.request.method
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["detail"] == f"You have no webhook endpoint {added['id']}."
    assert client.get(path, headers=PARTNER).json() == {
        k: v for k, v in added.items() if k != "secret"
    }
    no_such = f"/webhooks/{uuid4()}"
    assert client.get(no_such, headers=PARTNER).json()["detail"].startswith("You have no webhook")


def test_a_change_changes_only_what_is_sent(client: TestClient) -> None:
    added = add(client, PARTNER)
    path = f"/webhooks/{added['id']}"
    withdrawals = [OfferWithdrawn.event_type]
    changed = client.patch(path, headers=PARTNER, json={"event_types": withdrawals})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["url"], changed.json()["event_types"]) == (HOOK, withdrawals)
    moved = client.patch(path, headers=PARTNER, json={"url": "https://partner.example/new"})
    assert (moved.json()["url"], moved.json()["event_types"]) == (
        "https://partner.example/new",
        withdrawals,
    )
    assert "secret" not in moved.json()


@pytest.mark.parametrize(
    "body",
    [{"enabled": False}, {"enabled": "true"}, {"url": None}, {"event_types": None}, {"id": "x"}],
    ids=["disabling", "a string", "no url", "no filter", "unknown field"],
)
def test_a_change_the_api_does_not_take_is_refused(
    client: TestClient, body: dict[str, Any]
) -> None:
    added = add(client, PARTNER)
    response = client.patch(f"/webhooks/{added['id']}", headers=PARTNER, json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM


def test_its_owner_enables_an_endpoint_disabled_for_failing(client: TestClient) -> None:
    added = add(client, PARTNER)
    start_uow: Callable[[], NotificationsUnitOfWork] = client.app.state.start_uow  # type: ignore[attr-defined]
    failed_at = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    with start_uow() as uow:
        endpoint = uow.webhooks.get(UUID(added["id"]))
        assert endpoint is not None
        endpoint.failed(failed_at, timedelta(hours=72))
        endpoint.failed(failed_at + timedelta(hours=72), timedelta(hours=72))
        uow.webhooks.save(endpoint)
        uow.commit()
    disabled = client.get(f"/webhooks/{added['id']}", headers=PARTNER).json()
    assert (disabled["enabled"], disabled["failing_since"], disabled["disabled_at"]) == (
        False,
        "2026-11-22T09:00:00Z",
        "2026-11-25T09:00:00Z",
    )
    enabled = client.patch(f"/webhooks/{added['id']}", headers=PARTNER, json={"enabled": True})
    assert enabled.status_code == 200
    assert (enabled.json()["enabled"], enabled.json()["failing_since"]) == (True, None)


def test_a_rotation_shows_the_new_secret_once_and_until_when_the_old_one_still_signs(
    start: Callable[..., TestClient],
) -> None:
    client = start(webhook_secret_overlap_hours=2)
    added = add(client, PARTNER)
    before = datetime.now(UTC)
    rotated = client.post(f"/webhooks/{added['id']}/rotate-secret", headers=PARTNER)
    after = datetime.now(UTC)
    assert rotated.status_code == 200, rotated.text
    body = rotated.json()
    assert body["secret"].startswith("whsec_") and body["secret"] != added["secret"]
    until = datetime.fromisoformat(body["previous_secret_valid_until"])
    assert before + timedelta(hours=2) <= until <= after + timedelta(hours=2)
    read = client.get(f"/webhooks/{added['id']}", headers=PARTNER)
    assert read.json()["previous_secret_valid_until"] == body["previous_secret_valid_until"]
    assert body["secret"] not in read.text


def test_an_owner_removes_its_endpoint_once(client: TestClient) -> None:
    added = add(client, CARE)
    assert client.delete(f"/webhooks/{added['id']}", headers=CARE).status_code == 204
    assert client.delete(f"/webhooks/{added['id']}", headers=CARE).status_code == 404
    assert listed(client, CARE) == []


def test_webhook_endpoints_are_for_partners_and_care_systems_only(client: TestClient) -> None:
    some = f"/webhooks/{uuid4()}"
    calls = [
        ("POST", "/webhooks", {"url": HOOK}),
        ("GET", "/webhooks", None),
        ("GET", some, None),
        ("PATCH", some, {"enabled": True}),
        ("DELETE", some, None),
        ("POST", f"{some}/rotate-secret", None),
    ]
    for method, path, body in calls:
        for headers, expected in (({}, 401), (OPERATOR, 403), (REVIEWER, 403)):
            response = client.request(method, path, headers=headers, json=body)
            assert (method, path, response.status_code) == (method, path, expected)
            assert response.headers["content-type"] == PROBLEM


def test_the_document_lists_every_status_header_and_rule_of_the_webhook_routes(
    client: TestClient,
) -> None:
    document = client.get("/openapi.json").json()
    paths = document["paths"]
    assert "/webhook" not in paths
    add_ = paths["/webhooks"]["post"]["responses"]
    assert set(add_) == {"201", "400", "401", "403", "413", "422", "503"}
    assert add_["201"]["headers"]["Location"]["required"] is True
    assert add_["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/WebhookWithSecret"
    }
    assert len(add_["422"]["x-rules"]) == 3
    assert set(paths["/webhooks"]["get"]["responses"]) == {"200", "401", "403", "503"}
    one = paths["/webhooks/{webhook_id}"]
    assert set(one["get"]["responses"]) == {"200", "401", "403", "404", "422", "503"}
    assert set(one["patch"]["responses"]) == {
        "200",
        "400",
        "401",
        "403",
        "404",
        "413",
        "422",
        "503",
    }
    assert len(one["patch"]["responses"]["422"]["x-rules"]) == 2
    assert set(one["delete"]["responses"]) == {"204", "401", "403", "404", "422", "503"}
    rotate = paths["/webhooks/{webhook_id}/rotate-secret"]["post"]["responses"]
    assert set(rotate) == {"200", "401", "403", "404", "422", "503"}
    for operation in (paths["/webhooks"]["post"], one["get"], one["patch"], one["delete"]):
        assert operation["x-roles"] == ["partner", "care_system"]
    schemas = document["components"]["schemas"]
    assert "secret" not in schemas["WebhookPublic"]["properties"]
    assert "secret" in schemas["WebhookWithSecret"]["required"]


def test_no_secret_is_logged(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    added = add(client, PARTNER)
    rotated = client.post(f"/webhooks/{added['id']}/rotate-secret", headers=PARTNER).json()
    client.patch(f"/webhooks/{added['id']}", headers=PARTNER, json={"url": "http://10.0.0.1/"})
    client.get("/webhooks", headers=PARTNER)
    client.delete(f"/webhooks/{added['id']}", headers=PARTNER)
    logged = "\n".join(str(record.msg) for record in caplog.records)
    assert "webhook.added" in logged and "webhook.secret_rotated" in logged
    for secret in (added["secret"], rotated["secret"]):
        assert secret.removeprefix("whsec_") not in logged


def test_while_a_rotated_secret_overlaps_the_running_service_signs_with_both(
    start: Callable[..., TestClient],
) -> None:
    client = start(allow_private_webhook_targets=True, dispatcher_poll_seconds=0.05)
    offer = referral_offered(organization_id=ORG)
    with webhook_receiver() as receiver:
        added = add(client, PARTNER, url=receiver.url, event_types=[OfferWithdrawn.event_type])
        client.post(f"/webhooks/{added['id']}/rotate-secret", headers=PARTNER)
        receiver.secret = added["secret"]  # the receiver has not switched yet
        deliver(client, offer, offer_withdrawn(offer, reason="reassigned"))
        [received] = wait_for(lambda: receiver.received, "the withdrawal's webhook", 15)
    assert (received.answered, received.signature_valid) == (204, True)
    assert received.body["type"] == OfferWithdrawn.event_type  # the offer was not wanted


def deliver(client: TestClient, *events: Any) -> None:
    """Consume events in the running service, through the runtime's consumer."""
    records = [record_of(event, offset) for offset, event in enumerate(events)]
    portal = client.portal
    assert portal is not None  # there is one while the client is entered
    start_uow = client.app.state.start_uow  # type: ignore[attr-defined]
    assert portal.call(partial(consume, start_uow, *records)) == []
