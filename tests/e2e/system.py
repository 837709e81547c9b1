"""The four services as separate processes on the real Kafka broker and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx

from directory.hsds.brobygger import PLACES_UNIT_ID
from runtime.auth import Role
from runtime.cli import mint_token
from tests.conftest import TEST_JWKS_FILE, TEST_SECRETS, TEST_SIGNING_KEY
from tests.kit import wait_for

_BASE = int(os.environ.get("BROBYGGER_TEST_HTTP_PORT_BASE", "18000"))
PORTS = {
    "referrals": _BASE + 1,
    "directory": _BASE + 2,
    "grants": _BASE + 3,
    "notifications": _BASE + 4,
    # A second replica of a service, on the same database and in the same consumer group.
    "referrals-2": _BASE + 5,
    "directory-2": _BASE + 6,
    "grants-2": _BASE + 7,
    "notifications-2": _BASE + 8,
}


def free_places_of(service: dict[str, Any]) -> int:
    """A service's free places as directory publishes them (GET /services/{id}): the
    `available` of its capacity in places (HSDS 3.1's `capacities`, the unit `places`)."""
    [places] = [c for c in service["capacities"] if c["unit"]["id"] == str(PLACES_UNIT_ID)]
    return int(places["available"])


@dataclass
class System:
    kafka: str
    database_urls: dict[str, str]
    log_dir: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def url(self, service: str) -> str:
        """Of the service, or of one replica of it (`referrals-2`)."""
        return f"http://127.0.0.1:{PORTS[service]}"

    def client(self, service: str, role: Role | None = None, **claims: Any) -> httpx.Client:
        headers = {}
        if role is not None:
            headers["Authorization"] = f"Bearer {self.token(role, **claims)}"
        return httpx.Client(base_url=self.url(service), headers=headers, timeout=10)

    def token(self, role: Role, **claims: Any) -> str:
        return mint_token(
            TEST_SIGNING_KEY,
            subject=claims.pop("subject", f"e2e-{role.value}"),
            role=role,
            **claims,
        )

    def free_places(self, service_id: UUID | str) -> int:
        with self.client("directory") as public:
            response = public.get(f"/services/{service_id}")
        assert response.status_code == 200, response.text
        return free_places_of(response.json())

    def start(self, name: str, **env: str) -> None:
        """Start the service `name`, or a second replica of one (`referrals-2`)."""
        service = name.split("-")[0]
        upper = service.upper()
        # Each service logs in to Kafka as its own principal, knowing no other's password.
        secrets = {
            name: value
            for name, value in TEST_SECRETS.items()
            if not name.endswith("_KAFKA_PASSWORD") or name.startswith(f"{upper}_")
        }
        environment = {
            **os.environ,
            **secrets,
            f"{upper}_KAFKA_USERNAME": service,
            "BROBYGGER_JWKS_FILE": str(TEST_JWKS_FILE),
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka,
            f"{upper}_DATABASE_URL": self.database_urls[service],
            # The key store in a database of its own, as in a deployment.
            "REFERRALS_KEYSTORE_URL": self.database_urls["referrals_keys"],
            f"{upper}_HTTP_PORT": str(PORTS[name]),
            "DIRECTORY_SEED_DEMO": "true",
            # The demo's awards: the public awards and their 360Giving export have content.
            "GRANTS_SEED_DEMO": "true",
            "NOTIFICATIONS_ALLOW_PRIVATE_WEBHOOK_TARGETS": "true",
            "NOTIFICATIONS_DISPATCHER_POLL_SECONDS": "0.2",
            # A partner given Kafka access is written to within half a second.
            "NOTIFICATIONS_PARTNER_FEEDS_REFRESH_SECONDS": "0.5",
            "BROBYGGER_CONSUMER_BACKOFF_SECONDS": "0.05",
            # A replica takes over the outbox of one that died within half a second.
            "BROBYGGER_LEADER_RETRY_SECONDS": "0.5",
            **env,
        }
        log = (self.log_dir / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", service], env=environment, stdout=log, stderr=log
        )
        self.wait_ready(name)

    def wait_ready(self, service: str, timeout: float = 60) -> None:
        """Until `service` answers /ready with 200: its database and Kafka answer."""

        def ready() -> bool:
            if self.processes[service].poll() is not None:
                raise RuntimeError(f"{service} exited: {self.log_tail(service)}")
            try:
                return httpx.get(f"{self.url(service)}/ready", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        try:
            wait_for(ready, f"{service} to be ready", timeout)
        except AssertionError as error:
            raise RuntimeError(f"{error}: {self.log_tail(service)}") from error

    def restart(self, service: str, **env: str) -> None:
        """Stop `service` as an orchestrator would (SIGTERM) and start it with `env`."""
        process = self.processes.pop(service)
        process.terminate()
        process.wait(timeout=30)
        self.start(service, **env)

    def stop(self, name: str) -> None:
        """SIGTERM, as an orchestrator scales a service down, and wait for it to end."""
        process = self.processes.pop(name)
        process.terminate()
        process.wait(timeout=30)

    def kill(self, service: str) -> None:
        """SIGKILL: no shutdown hooks, no flushing; what was committed must survive."""
        process = self.processes.pop(service)
        process.send_signal(signal.SIGKILL)
        process.wait()

    def stop_all(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        self.processes.clear()

    def log_tail(self, service: str) -> str:
        return (self.log_dir / f"{service}.log").read_text(errors="replace")[-3000:]
