"""The local infrastructure the project's scripts start is what the services rely on."""

import tomllib

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from tests.conftest import ROOT
from tests.kit import kafka_options

pytestmark = pytest.mark.infra


def test_a_services_role_reaches_its_own_database_and_no_other(
    postgres_urls: dict[str, str],
) -> None:
    own = create_engine(postgres_urls["referrals"])
    with own.connect() as connection:
        assert connection.execute(text("select current_user")).scalar() == "brobygger_referrals"
    own.dispose()
    directory_db = make_url(postgres_urls["directory"]).database
    trespass = create_engine(make_url(postgres_urls["referrals"]).set(database=directory_db))
    with pytest.raises(OperationalError, match="permission denied"), trespass.connect():
        pass
    trespass.dispose()


async def test_every_declared_topic_exists_with_its_partitions_and_retention(kafka: str) -> None:
    declared = tomllib.loads((ROOT / "infra" / "topics.toml").read_text())["topic"]
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka, **kafka_options())
    await admin.start()
    try:
        described = await admin.describe_topics([t["name"] for t in declared])
        configs = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, t["name"]) for t in declared]
        )
    finally:
        await admin.close()
    partitions = {d["topic"]: len(d["partitions"]) for d in described}
    assert partitions == {t["name"]: t["partitions"] for t in declared}
    retention = {
        resource["resource_name"]: next(
            int(entry["config_value"])
            for entry in resource["config_entries"]
            if entry["config_names"] == "retention.ms"
        )
        for response in configs
        for resource in response.to_object()["resources"]
    }
    assert retention == {t["name"]: t["retention_hours"] * 3_600_000 for t in declared}
