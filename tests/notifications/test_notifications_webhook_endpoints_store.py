"""Webhook endpoints on the real databases: the repository, and revision 0006 moving each
organisation's one webhook into an endpoint and back."""

from collections.abc import Callable
from datetime import timedelta
from uuid import uuid4

from alembic import command
from sqlalchemy import Engine, String, Uuid, column, insert, select, table

from notifications import services
from notifications.app import MIGRATIONS
from notifications.store import WebhookEndpointRow
from notifications.webhooks import Owner, WebhookEndpoint, new_secret
from runtime.migrations import alembic_config
from runtime.storage import UTCDateTime
from tests.fakes import FakeClock
from tests.notifications.support import (
    BOX,
    NOW,
    ORG,
    OTHER_ORG,
    StartUow,
    add_webhook,
    units_of_work,
)

CARE = Owner(care_system="care-system-a")


def stored_secret(start_uow: StartUow, endpoint: WebhookEndpoint) -> str:
    """The secret column as it is in the database."""
    with start_uow() as uow:
        row = uow.session.get(WebhookEndpointRow, endpoint.id)
        assert row is not None
        return row.secret


def test_an_endpoint_is_stored_with_everything_it_knows_and_only_its_sealed_secret(
    start_uow: StartUow,
) -> None:
    endpoint, plain = add_webhook(start_uow, clock=FakeClock(NOW))
    assert stored_secret(start_uow, endpoint) == endpoint.secret != plain
    endpoint.event_types = frozenset({"b.v1", "a.v1"})
    endpoint.rotate(BOX.seal(new_secret(), endpoint.id), NOW, timedelta(hours=24))
    endpoint.failed(NOW, timedelta(hours=72))
    endpoint.disabled_at = NOW + timedelta(hours=1)
    with start_uow() as uow:
        uow.webhooks.save(endpoint)
        uow.commit()
    with start_uow() as uow:
        assert uow.webhooks.get(endpoint.id) == endpoint
        assert uow.webhooks.get(uuid4()) is None


def test_an_owner_finds_its_endpoints_the_oldest_first_and_a_broadcast_every_enabled_partners(
    start_uow: StartUow,
) -> None:
    clock = FakeClock(NOW)
    first, _ = add_webhook(start_uow, clock=clock)
    clock.advance(timedelta(minutes=1))
    second, _ = add_webhook(start_uow, clock=clock)
    other, _ = add_webhook(start_uow, organization_id=OTHER_ORG, clock=clock)
    command = services.AddWebhook(CARE, "https://care.example/hook")
    care, _ = services.add_webhook(command, start_uow, BOX, allow_private_targets=False)
    second.disabled_at = NOW
    with start_uow() as uow:
        uow.webhooks.save(second)
        uow.commit()
    with start_uow() as uow:
        assert [e.id for e in uow.webhooks.of_organization(ORG)] == [first.id, second.id]
        assert [e.id for e in uow.webhooks.of_care_system("care-system-a")] == [care.id]
        assert uow.webhooks.of_care_system("care-system-b") == []
        assert {e.id for e in uow.webhooks.partners_enabled()} == {first.id, other.id}


def test_a_removed_endpoint_is_gone_and_removing_it_again_finds_nothing(
    start_uow: StartUow,
) -> None:
    endpoint, _ = add_webhook(start_uow)
    with start_uow() as uow:
        assert uow.webhooks.remove(endpoint.id) is True
        uow.commit()
    with start_uow() as uow:
        assert uow.webhooks.get(endpoint.id) is None
        assert uow.webhooks.remove(endpoint.id) is False


def test_a_rotation_is_stored_sealed_and_both_secrets_open_during_the_overlap(
    start_uow: StartUow,
) -> None:
    endpoint, old = add_webhook(start_uow, clock=FakeClock(NOW))
    owner = Owner(organization_id=ORG)
    clock = FakeClock(NOW + timedelta(days=1))
    _, new = services.rotate_webhook_secret(
        owner, endpoint.id, start_uow, BOX, timedelta(hours=24), clock
    )
    stored = services.webhook_of(owner, endpoint.id, start_uow)
    assert old not in repr(stored) and new not in repr(stored)
    opened = [BOX.open(s, endpoint.id) for s in stored.sealed_signing_secrets(clock.now)]
    assert opened == [new, old]


WEBHOOK_0005 = table(
    "webhook",
    column("organization_id", Uuid()),
    column("url", String()),
    column("secret", String()),
    column("registered_at", UTCDateTime()),
)


def old_webhooks(engine: Engine) -> dict[object, dict[str, object]]:
    """Revision 0005's `webhook` rows, by organisation."""
    with engine.connect() as connection:
        rows = connection.execute(select(WEBHOOK_0005)).mappings().all()
    return {row["organization_id"]: dict(row) for row in rows}


def test_each_organisations_webhook_becomes_an_endpoint_sealed_at_start_up_and_goes_back(
    engine_for: Callable[[str], Engine],
) -> None:
    engine = engine_for("notifications")
    config = alembic_config(MIGRATIONS, engine)
    command.upgrade(config, "0005")
    before = [
        {
            "organization_id": organization_id,
            "url": f"https://partner.example/{n}",
            "secret": new_secret(),
            "registered_at": NOW - timedelta(days=n),
        }
        for n, organization_id in enumerate((ORG, OTHER_ORG), 1)
    ]
    with engine.begin() as connection:
        connection.execute(insert(WEBHOOK_0005), before)

    command.upgrade(config, "head")
    start_uow = units_of_work(engine)
    # Not used until sealed: its secret is in the clear.
    assert services.webhooks_of(Owner(organization_id=ORG), start_uow) == []
    assert services.seal_legacy_secrets(start_uow, BOX) == 2
    assert services.seal_legacy_secrets(start_uow, BOX) == 0
    for organization_id, old in zip((ORG, OTHER_ORG), before, strict=True):
        [endpoint] = services.webhooks_of(Owner(organization_id=organization_id), start_uow)
        assert (endpoint.url, endpoint.created_at, endpoint.event_types, endpoint.enabled) == (
            old["url"],
            old["registered_at"],
            frozenset(),
            True,
        )
        assert stored_secret(start_uow, endpoint) != old["secret"]
        assert BOX.open(endpoint.secret, endpoint.id) == old["secret"]
    add_webhook(start_uow, "https://partner.example/later", clock=FakeClock(NOW))
    care = services.AddWebhook(CARE, "https://care.example/hook")
    services.add_webhook(care, start_uow, BOX, allow_private_targets=False)

    command.downgrade(config, "0005")
    after = old_webhooks(engine)
    assert set(after) == {ORG, OTHER_ORG}
    for old in before:
        back = after[old["organization_id"]]
        assert (back["url"], back["registered_at"]) == (old["url"], old["registered_at"])
        # Sealed, it cannot be opened without the key: a new secret nobody knows.
        assert str(back["secret"]).startswith("whsec_")
        assert back["secret"] != old["secret"]


def test_webhooks_moved_up_and_down_before_any_start_up_keep_their_secrets(
    engine_for: Callable[[str], Engine],
) -> None:
    engine = engine_for("notifications")
    config = alembic_config(MIGRATIONS, engine)
    command.upgrade(config, "0005")
    old = {
        "organization_id": ORG,
        "url": "https://partner.example/hook",
        "secret": new_secret(),
        "registered_at": NOW,
    }
    with engine.begin() as connection:
        connection.execute(insert(WEBHOOK_0005), [old])
    command.upgrade(config, "head")
    command.downgrade(config, "0005")
    assert old_webhooks(engine) == {ORG: old}
