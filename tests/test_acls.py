"""infra/acls.toml, the Kafka ACL list, says exactly what each service's events module says
it publishes and consumes: it cannot drift from the code (no broker needed)."""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import ROOT
from tools import SERVICES

ACLS_FILE = ROOT / "infra" / "acls.toml"


def infra_admin() -> ModuleType:
    """infra/kafka/admin.py, which reads the list for the broker (it is a script, no package)."""
    name = "brobygger_infra_kafka_admin"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "infra" / "kafka" / "admin.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while it loads
        spec.loader.exec_module(module)
    return sys.modules[name]


def granted() -> dict[str, Any]:
    return {p.name: p for p in infra_admin().load_acls(ACLS_FILE)}


def topics_of(service: str, direction: str) -> set[str]:
    events = importlib.import_module(f"{service}.events")
    return {event.topic for event in getattr(events, direction)}


def test_the_acl_list_names_every_service_and_no_other_principal() -> None:
    assert sorted(granted()) == sorted(SERVICES)


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_may_write_exactly_the_topics_it_publishes_and_its_dead_letter_topic(
    service: str,
) -> None:
    writes = set(granted()[service].write)
    assert writes == topics_of(service, "PUBLISHES") | {f"{service}.deadletter.v1"}


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_may_read_exactly_the_topics_it_consumes(service: str) -> None:
    assert set(granted()[service].read) == topics_of(service, "CONSUMES")


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_may_use_only_its_own_consumer_group_by_its_exact_name(service: str) -> None:
    principal = granted()[service]
    assert principal.group == f"brobygger-{service}"
    acls = principal.acls()
    assert {(a.resource, a.name) for a in acls if a.resource == "GROUP"} == {
        ("GROUP", f"brobygger-{service}")
    }
    # Literal names only, allowed from anywhere: no prefix reaches another's topic or group.
    assert {(a.pattern, a.permission, a.host) for a in acls} == {("LITERAL", "ALLOW", "*")}


def test_every_topic_the_acl_list_names_is_declared_in_topics_toml() -> None:
    declared = {
        t["name"] for t in tomllib.loads((ROOT / "infra" / "topics.toml").read_text())["topic"]
    }
    named = {
        topic for principal in granted().values() for topic in (*principal.write, *principal.read)
    }
    assert named <= declared, named - declared


def test_an_acl_list_with_an_unknown_key_is_refused(tmp_path: Path) -> None:
    wrong = tmp_path / "acls.toml"
    wrong.write_text('[principal.referrals]\nwrite = []\nread = []\ngroup = "g"\nprefix = "x"\n')
    admin = infra_admin()
    with pytest.raises(admin.AdminError, match="'write', 'read' and 'group' only"):
        admin.load_acls(wrong)


def test_the_broker_scripts_read_the_same_principals_as_admin_py() -> None:
    # kafka.sh and compose-broker.sh need the principals before Python is there to ask.
    listed = subprocess.run(
        ["bash", "-c", f'. "{ROOT}/infra/kafka/security.sh" && kafka_principals "{ACLS_FILE}"'],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert listed == list(granted())
