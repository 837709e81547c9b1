"""What the benchmark reads of its processes, the secrets it makes, and what each service
process is given."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from benchmarks import system
from benchmarks.system import (
    CLOCK_TICKS,
    benchmark_secrets,
    by_key,
    cpu_seconds_of,
    cpu_used,
    kafka_passwords,
    resident_bytes_of,
    service_environment,
    service_ports,
    thread_group,
)
from tools import SERVICES


def stat_line(command: str, utime: int, stime: int) -> str:
    # pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
    return f"4242 ({command}) S 1 4242 4242 0 -1 4194560 100 0 0 0 {utime} {stime} 0 0 20 0 9 0"


def test_cpu_time_is_user_and_system_time_whatever_the_command_name_holds() -> None:
    assert cpu_seconds_of(stat_line("java", 3 * CLOCK_TICKS, CLOCK_TICKS)) == 4.0
    # A name with spaces and a parenthesis does not shift the fields.
    tricky = stat_line("python -m x) S 1", CLOCK_TICKS, 0)
    assert cpu_seconds_of(tricky) == 1.0


def test_resident_memory_is_vmrss_in_bytes() -> None:
    status = "Name:\tpython\nVmPeak:\t  900 kB\nVmRSS:\t  123456 kB\nThreads:\t9\n"
    assert resident_bytes_of(status) == 123456 * 1024
    assert resident_bytes_of("Name:\tkthreadd\n") is None


def test_cpu_used_is_the_difference_per_process_and_a_new_process_counts_from_zero() -> None:
    before = {"referrals": {10: 5.0}, "postgresql backends": {20: 1.0, 21: 2.0}}
    after = {"referrals": {10: 7.5}, "postgresql backends": {20: 1.5, 22: 0.25}}
    assert cpu_used(before, after) == {"referrals": 2.5, "postgresql backends": 0.75}


def test_the_secrets_file_is_private_made_once_and_completed_when_one_is_missing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "benchmarks" / "secrets.env"
    first = benchmark_secrets(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert benchmark_secrets(path) == first  # the same passwords next time
    for name in ("KAFKA_ADMIN_PASSWORD", "KAFKA_CONTROLLER_PASSWORD", "REFERRALS_KAFKA_PASSWORD"):
        # What kafka.sh takes: 16 or more of A-Z a-z 0-9 . _ ~ -
        assert len(first[name]) >= 16 and set(first[name]) <= set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-"
        )
    os.chmod(path, 0o644)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(line for line in lines if not line.startswith("GRANTS_")) + "\n")
    again = benchmark_secrets(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert again["REFERRALS_KAFKA_PASSWORD"] == first["REFERRALS_KAFKA_PASSWORD"]
    assert again["GRANTS_KAFKA_PASSWORD"] != first["GRANTS_KAFKA_PASSWORD"]
    assert "GRANTS_KAFKA_PASSWORD=" in path.read_text()


def test_the_broker_gets_every_kafka_password_and_nothing_else(tmp_path: Path) -> None:
    values = benchmark_secrets(tmp_path / "secrets.env")
    assert set(kafka_passwords(values)) == {
        "KAFKA_ADMIN_PASSWORD",
        "KAFKA_CONTROLLER_PASSWORD",
        *(f"{s.upper()}_KAFKA_PASSWORD" for s in SERVICES),
    }


def test_a_service_gets_its_own_secrets_only_and_none_of_the_shell_s_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = benchmark_secrets(tmp_path / "secrets.env")
    monkeypatch.setenv("REFERRALS_CLOCK_SPEED", "1000")
    monkeypatch.setenv("BROBYGGER_TOKEN_SIGNING_KEY_FILE", "/somewhere/key.pem")
    databases = {name: f"sqlite:///{tmp_path}/{name}.db" for name in (*SERVICES, "referrals_keys")}
    environment = service_environment(
        "directory",
        38002,
        databases=databases,
        bootstrap="127.0.0.1:39092",
        values=values,
        jwks_file=tmp_path / "jwks.json",
    )
    assert environment["DIRECTORY_KAFKA_PASSWORD"] == values["DIRECTORY_KAFKA_PASSWORD"]
    assert environment["DIRECTORY_HTTP_PORT"] == "38002"
    assert environment["DIRECTORY_DATABASE_URL"] == databases["directory"]
    secret_values = set(values.values()) - {values["DIRECTORY_KAFKA_PASSWORD"]}
    assert not secret_values & set(environment.values())
    assert "REFERRALS_CLOCK_SPEED" not in environment
    assert "BROBYGGER_TOKEN_SIGNING_KEY_FILE" not in environment
    # The services' code from this checkout.
    assert environment["PYTHONPATH"].split(os.pathsep) == [
        str(system.REPO),
        str(system.REPO / "services"),
    ]


def test_replicas_get_ports_of_their_own_after_the_first_four() -> None:
    assert service_ports(38000, 2) == {
        ("referrals", 1): 38001,
        ("directory", 1): 38002,
        ("grants", 1): 38003,
        ("notifications", 1): 38004,
        ("referrals", 2): 38005,
        ("directory", 2): 38006,
        ("grants", 2): 38007,
        ("notifications", 2): 38008,
    }


def test_threads_are_grouped_as_the_main_one_the_jvm_s_pools_and_the_rest() -> None:
    assert thread_group(100, 100, "python", "python") == "main thread"
    assert thread_group(100, 101, "python", "python") == "other threads"
    assert thread_group(200, 230, "data-plane-kafk", "java") == "data-plane-kafk"
    assert thread_group(200, 231, "GC Thread#1", "java") == "GC Thread"
    assert thread_group(200, 232, "C2 CompilerThre", "java") == "C2 CompilerThre"
    assert thread_group(200, 233, "kafka-request-h", "java") == "kafka-request-h"


def test_thread_groups_used_between_snapshots_include_threads_started_meanwhile() -> None:
    before = {"kafka broker": {"GC Thread": 1.0, "main thread": 0.5}}
    after = {"kafka broker": {"GC Thread": 1.75, "main thread": 0.5, "new pool": 0.25}}
    assert by_key(before, after, "kafka broker") == {
        "GC Thread": 0.75,
        "main thread": 0.0,
        "new pool": 0.25,
    }
