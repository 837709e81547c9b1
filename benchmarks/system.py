"""The system under test, started by the benchmark itself: its own broker through
infra/kafka/kafka.sh (logins and ACLs on, a data directory of its own, emptied each run),
the four services as processes (one or more replicas each), on SQLite files under
.cache/benchmarks/ or on PostgreSQL databases of their own, and a directory seeded so that
every benchmark referral can be offered. Also what /proc says of each process: CPU time
and resident memory."""

from __future__ import annotations

import base64
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from uuid import uuid4

import httpx
from sqlalchemy import make_url, text
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from benchmarks.bodies import INTERESTS, WHEELCHAIR
from benchmarks.matching import fill
from directory.app import MIGRATIONS
from directory.domain import DEFAULT_WEIGHTS, Referral, rank
from directory.geography import DISTRICTS
from directory.store import DirectoryUnitOfWork
from runtime.cli import SigningKey, create_signing_key
from runtime.kafka_security import ADMIN_PASSWORD_VARIABLE, ADMIN_USERNAME
from runtime.migrations import upgrade
from runtime.storage import make_engine
from tools import SERVICES

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".cache" / "benchmarks"
SECRETS_FILE = CACHE / "secrets.env"
KEYS_DIR = CACHE / "keys"
KAFKA_SCRIPT = REPO / "infra" / "kafka" / "kafka.sh"
POSTGRES_SCRIPT = REPO / "infra" / "postgres" / "postgres.sh"
POSTGRES_SUFFIX = "_bench"
"""The benchmark's databases: brobygger_<service>_bench, apart from development's and the
tests'."""
KEYSTORE = "referrals_keys"
READY_TIMEOUT_SECONDS = 90.0
STOP_TIMEOUT_SECONDS = 15.0
PASSED_ON = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER")
"""All a service process gets of the benchmark's own environment: nothing a shell might
hold (another setting, another service's password) changes what is measured."""


QUIET = re.compile(r"^kafka: (acl|created) ")
"""kafka.sh's lines about each topic and ACL: its summary lines say enough."""


class BenchmarkError(Exception):
    """What went wrong, and what to do next."""


KAFKA_PRINCIPALS = (ADMIN_USERNAME, "controller", *SERVICES)
"""The broker's two super users and each service (infra/acls.toml)."""


def kafka_password_variable(principal: str) -> str:
    """Where kafka.sh and the services find a principal's password."""
    if principal == ADMIN_USERNAME:
        return ADMIN_PASSWORD_VARIABLE
    if principal == "controller":
        return "KAFKA_CONTROLLER_PASSWORD"
    return f"{principal.upper()}_KAFKA_PASSWORD"


def kafka_passwords(values: dict[str, str]) -> dict[str, str]:
    """Of the benchmark's secrets, the Kafka passwords (what kafka.sh needs)."""
    names = {kafka_password_variable(p) for p in KAFKA_PRINCIPALS}
    return {name: value for name, value in values.items() if name in names}


def _secret_values() -> dict[str, str]:
    def key32() -> str:
        return base64.b64encode(secrets.token_bytes(32)).decode()

    return {
        **{kafka_password_variable(p): secrets.token_urlsafe(32) for p in KAFKA_PRINCIPALS},
        "REFERRALS_MASTER_KEYS": f"bench-1:{key32()}",
        "REFERRALS_BLIND_INDEX_KEY": secrets.token_urlsafe(48),
        "REFERRALS_FINGERPRINT_KEY": secrets.token_urlsafe(48),
        "NOTIFICATIONS_WEBHOOK_SECRET_KEYS": f"bench-1:{key32()}",
    }


def benchmark_secrets(path: Path = SECRETS_FILE) -> dict[str, str]:
    """The benchmark's own Kafka passwords and service keys: made once into `path` (mode
    600), any missing added; never shown."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchmod(descriptor, 0o600)  # also when it was there already
    with os.fdopen(descriptor, "r+") as file:
        file.seek(0)
        known = dict(line.split("=", 1) for line in file.read().splitlines() if "=" in line)
        missing = {k: v for k, v in _secret_values().items() if k not in known}
        file.writelines(f"{name}={value}\n" for name, value in missing.items())
    return {**known, **missing}


def token_key() -> tuple[SigningKey, Path]:
    """The benchmark's token signing key (its own, made once) and the JWKS file the
    services check tokens against."""
    key_file, jwks_file = KEYS_DIR / "token-signing-key.pem", KEYS_DIR / "jwks.json"
    if not key_file.exists() or not jwks_file.exists():
        key_file, jwks_file = create_signing_key(KEYS_DIR)
    return SigningKey.from_file(key_file), jwks_file


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) != 0


# ------------------------------------------------------------------------------ broker ---


@dataclass(frozen=True)
class Broker:
    """The benchmark's own broker (infra/kafka/kafka.sh on ports of its own)."""

    port: int
    controller_port: int
    passwords: dict[str, str] = field(repr=False)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return REPO / ".cache" / "kafka" / f"kafka-{self.port}.log"

    def _run(self, command: str) -> str:
        environment = {
            **os.environ,
            **self.passwords,
            "KAFKA_PORT": str(self.port),
            "KAFKA_CONTROLLER_PORT": str(self.controller_port),
            "BROBYGGER_CACHE": str(REPO / ".cache"),
            "PYTHON": sys.executable,
        }
        with subprocess.Popen(  # noqa: S603
            ["bash", str(KAFKA_SCRIPT), command],  # noqa: S607
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as script:
            assert script.stderr is not None
            for line in script.stderr:  # its progress, as it goes, less a line per topic and ACL
                if not QUIET.match(line):
                    sys.stderr.write(line)
            printed = script.stdout.read() if script.stdout else ""
        if script.returncode != 0:
            raise BenchmarkError(
                f"infra/kafka/kafka.sh {command} failed (its words are above; broker log: "
                f"{self.log}). If a broker of an earlier run holds the ports, stop it with "
                f"KAFKA_PORT={self.port} bash infra/kafka/kafka.sh stop; or choose other "
                "ports with --kafka-port."
            )
        return printed

    def fetch(self) -> None:
        """The broker's jars, cached: not part of the cold start."""
        self._run("fetch")

    def reset(self) -> None:
        """Stop the broker on this port if one runs, and empty its data directory."""
        self._run("reset")

    def start(self) -> None:
        """Start it (formatting the empty data directory), make the topics and ACLs."""
        self._run("start")

    def stop(self) -> None:
        self._run("stop")

    def pid(self) -> int | None:
        try:
            return int((REPO / ".cache" / "kafka" / f"kafka-{self.port}.pid").read_text())
        except (OSError, ValueError):
            return None


# --------------------------------------------------------------------------- databases ---


def sqlite_databases(folder: Path) -> dict[str, str]:
    """A SQLite file per service (and referrals' key store) in `folder`, emptied first."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return {name: f"sqlite:///{folder / name}.db" for name in (*SERVICES, KEYSTORE)}


def postgres_databases() -> dict[str, str]:
    """The `_bench` databases on the local PostgreSQL (infra/postgres/postgres.sh makes
    them, each reachable by its service's role only), emptied."""
    done = subprocess.run(  # noqa: S603
        ["bash", str(POSTGRES_SCRIPT), "start"],  # noqa: S607
        env={**os.environ, "PG_DB_SUFFIX": POSTGRES_SUFFIX},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BenchmarkError(
            f"PostgreSQL did not start:\n{done.stderr[-2000:]}\nStart it by hand "
            "(bash infra/postgres/postgres.sh start) and run again, or leave out --postgres."
        )
    urls: dict[str, str] = {}
    for line in done.stdout.splitlines():
        name, _, url = line.partition("=")
        if name.endswith("_DATABASE_URL"):
            urls[name.removesuffix("_DATABASE_URL").lower()] = url
        elif name == "REFERRALS_KEYSTORE_URL":
            urls[KEYSTORE] = url
    for url in urls.values():
        engine = make_engine(url)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
    return urls


def drop_postgres_databases(urls: dict[str, str]) -> None:
    """Drop the `_bench` databases, each by its owner from the owner's own database."""
    for url in urls.values():
        parsed = make_url(url)
        name = parsed.database or ""
        if not name.endswith(POSTGRES_SUFFIX):
            continue  # never anything but the benchmark's own
        owners = parsed.set(database=name.removesuffix(POSTGRES_SUFFIX))
        engine = make_engine(owners.render_as_string(hide_password=False))
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


# ---------------------------------------------------------------------------- directory ---


def seed_directory(url: str, how_many: int, seed: int) -> None:
    """Fill directory's database with `how_many` generated communities (as `brobygger
    directory generate` does) before it starts, then check that every referral the load
    makes fits a service with a free place (see `check_every_referral_fits`)."""
    engine = make_engine(url)
    try:
        upgrade(MIGRATIONS, engine)
        sessions = sessionmaker(engine, class_=Session, expire_on_commit=False)

        def start_uow() -> DirectoryUnitOfWork:
            return DirectoryUnitOfWork(sessions, "/brobygger/directory")

        fill(start_uow, how_many, seed)
        gaps = unfitted_referrals(start_uow)
    finally:
        engine.dispose()
    if gaps:
        raise BenchmarkError(
            f"{len(gaps)} kinds of benchmark referral fit no service with a free place in "
            f"the seeded directory, e.g. {', '.join(gaps[:3])}: seed more services "
            "(--directory-services) or another --seed."
        )


def unfitted_referrals(start_uow: Callable[[], DirectoryUnitOfWork]) -> list[str]:
    """The kinds of referral the load makes that matching would offer to no one: in each
    district, each interest alone, in Danish alone, with and without a need of wheelchair
    access. Matching requires a shared interest (or target group), a shared language and,
    for that need, an accessible place, and offers a service with a free place before any
    full one; an offer takes no place (an acceptance does, and the load accepts nothing),
    so one free place per fitting service is enough. More interests, another language or
    a target group only widen what fits; district and preferred times only rank."""
    gaps = []
    with start_uow() as uow:
        for district in DISTRICTS:
            for interest in INTERESTS:
                for needs in (frozenset[str](), frozenset({WHEELCHAIR})):
                    referral = Referral(
                        uuid4(), district.name, frozenset({interest}), frozenset({"da"}), needs
                    )
                    best = uow.services.best_fits(referral, max_matches=5, weights=DEFAULT_WEIGHTS)
                    matches = rank(referral, best, max_matches=5).matches
                    if not matches or matches[0].service_at_location.service.full:
                        gaps.append(f"{interest} in {district.name} needing {set(needs) or '-'}")
    return gaps


# ----------------------------------------------------------------------------- services ---


@dataclass
class Replica:
    service: str
    number: int
    """1, 2, ..."""
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def label(self) -> str:
        return self.service if self.number == 1 else f"{self.service}#{self.number}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def service_ports(http_port_base: int, replicas: int) -> dict[tuple[str, int], int]:
    """(service, replica) -> port: base+1..base+4 for the first replicas, then on."""
    return {
        (service, number): http_port_base + 1 + index + len(SERVICES) * (number - 1)
        for number in range(1, replicas + 1)
        for index, service in enumerate(SERVICES)
    }


def service_environment(
    service: str,
    port: int,
    *,
    databases: dict[str, str],
    bootstrap: str,
    values: dict[str, str],
    jwks_file: Path,
) -> dict[str, str]:
    """What `./run` gives a service, on the benchmark's broker and databases: its own Kafka
    password only, no signing key, the public keys as a JWKS file. No mail server: the
    notifications are stored, no e-mail is sent."""
    upper = service.upper()
    own = {name: value for name, value in values.items() if name.startswith(f"{upper}_")}
    environment = {
        **{name: os.environ[name] for name in PASSED_ON if name in os.environ},
        # The code of this checkout, whatever the virtual environment has installed.
        "PYTHONPATH": os.pathsep.join((str(REPO), str(REPO / "services"))),
        **own,
        f"{upper}_HTTP_PORT": str(port),
        f"{upper}_DATABASE_URL": databases[service],
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "BROBYGGER_JWKS_FILE": str(jwks_file),
        "DIRECTORY_SEED_DEMO": "false",  # the seeded directory instead
        "GRANTS_SEED_DEMO": "true",
        "NOTIFICATIONS_ALLOW_PRIVATE_WEBHOOK_TARGETS": "true",
    }
    if service == "referrals":
        environment["REFERRALS_KEYSTORE_URL"] = databases[KEYSTORE]
    return environment


@dataclass
class Services:
    replicas: list[Replica] = field(default_factory=list)

    def check_ports(self, http_port_base: int, replicas: int) -> None:
        taken = [p for p in service_ports(http_port_base, replicas).values() if not port_free(p)]
        if taken:
            raise BenchmarkError(
                f"HTTP port(s) {', '.join(map(str, taken))} are in use (ss -ltnp | grep "
                f":{taken[0]}): stop what holds them, or choose others with --http-port-base."
            )

    def start(
        self,
        number: int,
        http_port_base: int,
        log_dir: Path,
        *,
        databases: dict[str, str],
        bootstrap: str,
        values: dict[str, str],
        jwks_file: Path,
    ) -> None:
        """Start replica `number` of every service, all four at once, as `./run` does."""
        log_dir.mkdir(parents=True, exist_ok=True)
        for (service, replica), port in service_ports(http_port_base, number).items():
            if replica != number:
                continue
            env = service_environment(
                service,
                port,
                databases=databases,
                bootstrap=bootstrap,
                values=values,
                jwks_file=jwks_file,
            )
            log = log_dir / f"{service}-{number}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(  # noqa: S603
                    [sys.executable, "-m", service],
                    env=env,
                    cwd=REPO,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    # Its own session: a Ctrl-C reaches the benchmark, which stops it in order.
                    start_new_session=True,
                )
            self.replicas.append(Replica(service, number, port, process, log))

    def wait_ready(self, timeout: float = READY_TIMEOUT_SECONDS) -> None:
        """Until every replica answers /ready with 200 (its database and Kafka answer)."""
        deadline = time.monotonic() + timeout
        waiting = list(self.replicas)
        with httpx.Client(timeout=1) as client:
            while waiting:
                for replica in list(waiting):
                    if replica.process.poll() is not None:
                        raise BenchmarkError(
                            f"{replica.label} exited while starting; its log "
                            f"({replica.log}) ends with:\n{log_tail(replica.log)}"
                        )
                    try:
                        if client.get(f"{replica.url}/ready").status_code == 200:
                            waiting.remove(replica)
                    except httpx.HTTPError:
                        pass
                if waiting and time.monotonic() > deadline:
                    names = ", ".join(r.label for r in waiting)
                    raise BenchmarkError(
                        f"{names} not ready within {timeout:.0f} s; see their logs in "
                        f"{waiting[0].log.parent}"
                    )
                if waiting:
                    time.sleep(0.05)

    def urls(self, service: str) -> list[str]:
        return [r.url for r in self.replicas if r.service == service]

    def stop(self) -> None:
        """SIGTERM to every replica, SIGKILL to any still running after the timeout."""
        for replica in self.replicas:
            if replica.process.poll() is None:
                replica.process.send_signal(signal.SIGTERM)
        for replica in self.replicas:
            try:
                replica.process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                replica.process.kill()
                replica.process.wait()
        self.replicas.clear()

    def exited(self) -> list[Replica]:
        return [r for r in self.replicas if r.process.poll() is not None]


def log_tail(path: Path, lines: int = 10, characters: int = 3000) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])[-characters:]
    except OSError:
        return "(no log)"


# ------------------------------------------------------------------------------- /proc ---

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds_of(stat: str) -> float:
    """utime + stime of a /proc/<pid>/stat line, in seconds (all the process's threads)."""
    # The command name, in parentheses, may hold spaces and parentheses itself.
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def resident_bytes_of(status: str) -> int | None:
    """VmRSS of a /proc/<pid>/status text, in bytes."""
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return None


def cpu_seconds(pid: int) -> float | None:
    try:
        return cpu_seconds_of(Path(f"/proc/{pid}/stat").read_text())
    except (OSError, IndexError, ValueError):
        return None


def resident_bytes(pid: int) -> int | None:
    try:
        return resident_bytes_of(Path(f"/proc/{pid}/status").read_text())
    except OSError:
        return None


def postgres_backends(databases: Iterable[str]) -> list[int]:
    """The PostgreSQL server processes serving connections to `databases` (by their
    process titles, `postgres: ... <user> <database> <host> ...`)."""
    wanted = {f" {name} " for name in databases}
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if title.startswith("postgres: ") and any(name in title for name in wanted):
            found.append(int(entry.name))
    return found


@dataclass(frozen=True)
class Watched:
    """A process (or group of them) whose CPU and memory the benchmark reports."""

    label: str
    pids: tuple[int, ...]
    memory: bool = True
    """False for a group whose summed resident memory means nothing (shared buffers)."""


def cpu_snapshot(watched: Iterable[Watched]) -> dict[str, dict[int, float]]:
    """label -> pid -> CPU seconds so far."""
    return {
        w.label: {pid: cpu for pid in w.pids if (cpu := cpu_seconds(pid)) is not None}
        for w in watched
    }


TRAILING_NUMBER = re.compile(r"[-_# ]*\d+$")


def thread_group(pid: int, tid: int, name: str, process_name: str) -> str:
    """What a thread is called in the profile: the main thread; a named thread (the JVM's
    are) without its number, so that a pool adds up; or, for threads that carry only the
    process's name (Python's), the other threads."""
    if tid == pid:
        return "main thread"
    if name == process_name:
        return "other threads"
    return TRAILING_NUMBER.sub("", name) or name


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of a process's threads so far, by `thread_group`."""
    groups: dict[str, float] = {}
    try:
        process_name = Path(f"/proc/{pid}/comm").read_text().strip()
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return groups
    for task in tasks:
        try:
            name = (task / "comm").read_text().strip()
            cpu = cpu_seconds_of((task / "stat").read_text())
        except (OSError, IndexError, ValueError):
            continue  # it ended meanwhile
        group = thread_group(pid, int(task.name), name, process_name)
        groups[group] = groups.get(group, 0.0) + cpu
    return groups


def thread_snapshot(watched: Iterable[Watched]) -> dict[str, dict[str, float]]:
    """label -> thread group -> CPU seconds so far, for each single process watched."""
    return {w.label: thread_cpu(w.pids[0]) for w in watched if w.memory and len(w.pids) == 1}


K = TypeVar("K")


def cpu_used(
    before: Mapping[str, Mapping[K, float]], after: Mapping[str, Mapping[K, float]]
) -> dict[str, float]:
    """CPU seconds each watched label used between two snapshots (a process that appeared
    in between counts from zero)."""
    return {label: sum(by_key(before, after, label).values()) for label in after}


def by_key(
    before: Mapping[str, Mapping[K, float]], after: Mapping[str, Mapping[K, float]], label: str
) -> dict[K, float]:
    """CPU seconds of each process (or thread group) of `label` between two snapshots."""
    earlier = before.get(label, {})
    return {key: cpu - earlier.get(key, 0.0) for key, cpu in after[label].items()}


def each_pid(watched: Iterable[Watched]) -> Iterator[tuple[str, int]]:
    for w in watched:
        if w.memory:
            for pid in w.pids:
                yield w.label, pid
