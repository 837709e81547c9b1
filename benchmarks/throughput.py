"""How many referrals per second Brobygger sustains end to end, measured from outside on a
system the benchmark starts itself (docs/benchmarks.md).

    .venv/bin/python -m benchmarks.throughput [--postgres] [--replicas 2]
        [--rates 5,10,20,50,100,200,300,400,600] [--seconds 30]

It starts its own Kafka broker (infra/kafka/kafka.sh, logins and ACLs on, ports 39092 and
39093, an empty data directory) and the four services as processes (each replica on an HTTP
port of its own from 38001), on SQLite files under .cache/benchmarks/ or, with --postgres,
on `brobygger_<service>_bench` databases it creates and drops; the directory is seeded so
that every referral of the load can be offered. It times the cold start (broker start to
every service ready), then offers referrals at each rate in turn, open loop, watching the
`offered` events on Kafka, until a rate is not sustained (p99 POST -> offered of 1 s or
more, or anything lost); measures a plain aiokafka producer and consumer on the same
broker; and prints one table with issue 13's targets beside the figures, also written as
JSON under .cache/benchmarks/. Everything it started is stopped at the end, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from uuid import uuid4

import httpx
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import SecretStr
from sqlalchemy import make_url
from sqlalchemy.exc import SQLAlchemyError

from benchmarks.bodies import referral_body
from benchmarks.openloop import StepResult, Submission, open_loop, summarize, sweep
from benchmarks.report import ColdStart, Measured, Results, render, step_line, write_json
from benchmarks.system import (
    CACHE,
    BenchmarkError,
    Broker,
    Services,
    Watched,
    benchmark_secrets,
    by_key,
    cpu_snapshot,
    cpu_used,
    drop_postgres_databases,
    each_pid,
    kafka_password_variable,
    kafka_passwords,
    log_tail,
    postgres_backends,
    postgres_databases,
    resident_bytes,
    seed_directory,
    sqlite_databases,
    thread_snapshot,
    token_key,
)
from benchmarks.transport import Lag, Observer, RawRates, raw_rates
from contracts import ReferralEscalated, ReferralOffered
from runtime.auth import Role
from runtime.cli import SigningKey, mint_token
from runtime.kafka_security import ADMIN_USERNAME, KafkaLogin

WARM_UP_REFERRALS = 6
WARM_UP_DEADLINE_SECONDS = 90.0
"""The first referrals wait for the consumer groups to form: /ready says only that the
database and the broker answer."""
MEMORY_SAMPLE_SECONDS = 0.25
IDLE_SECONDS = 5.0


def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def rates_of(text: str) -> list[float]:
    try:
        rates = sorted({float(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--rates takes numbers separated by commas, e.g. 10,50,100 (got {text!r})"
        ) from None
    if not rates or rates[0] <= 0:
        raise argparse.ArgumentTypeError("--rates must be positive numbers, e.g. 10,50,100")
    return rates


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.throughput",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL instead of SQLite")
    parser.add_argument("--replicas", type=int, default=1, choices=range(1, 5), metavar="N")
    parser.add_argument(
        "--rates",
        type=rates_of,
        default=rates_of("5,10,20,50,100,200,300,400,600"),
        help="arrival rates to try, referrals/s (default 5,10,20,50,100,200,300,400,600)",
    )
    parser.add_argument("--seconds", type=float, default=30, help="length of each step")
    parser.add_argument(
        "--deadline",
        type=float,
        default=10,
        help="seconds after its POST was due within which a referral must be offered, or it "
        "counts as lost (default 10)",
    )
    parser.add_argument("--directory-services", type=int, default=400)
    parser.add_argument("--seed", type=int, default=13, help="of the directory and the bodies")
    parser.add_argument("--raw-messages", type=int, default=50_000)
    parser.add_argument("--connections", type=int, default=100, help="HTTP pool per replica")
    parser.add_argument("--settle-seconds", type=float, default=60)
    parser.add_argument("--kafka-port", type=int, default=39092, help="its controller: +1")
    parser.add_argument("--http-port-base", type=int, default=38000)
    return parser.parse_args(argv)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


class Run:
    """One benchmark run: what it started, so that it can stop all of it."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.database = "postgresql" if args.postgres else "sqlite"
        self.folder = CACHE / f"{self.database}-{args.replicas}"
        self.services = Services()
        self.broker: Broker | None = None
        self.broker_started = False
        self.postgres_urls: dict[str, str] = {}
        self.notes: list[str] = []

    # ---------------------------------------------------------------- start and stop ---

    def execute(self) -> Results:
        args = self.args
        self.services.check_ports(args.http_port_base, args.replicas)
        values = benchmark_secrets()
        key, jwks_file = token_key()
        self.broker = Broker(args.kafka_port, args.kafka_port + 1, kafka_passwords(values))
        say("the broker's jars (cached after the first run)")
        self.broker.fetch()
        if args.postgres:
            say("PostgreSQL: the brobygger_*_bench databases")
            self.postgres_urls = databases = postgres_databases()
        else:
            databases = sqlite_databases(self.folder / "data")
        say(f"seeding the directory with {args.directory_services} communities")
        seed_directory(databases["directory"], args.directory_services, args.seed)
        self.broker_started = True
        # Also stops a broker an interrupted run left behind.
        self.broker.reset()
        say(f"cold start: Kafka on {self.broker.bootstrap}, then every service")
        started = time.perf_counter()
        self.broker.start()
        broker_ready = time.perf_counter()
        for number in range(1, args.replicas + 1):
            # The first replicas migrate the databases; the others start once they are
            # ready, as in a rolling start (together they would take turns migrating).
            self.services.start(
                number,
                args.http_port_base,
                self.folder / "logs",
                databases=databases,
                bootstrap=self.broker.bootstrap,
                values=values,
                jwks_file=jwks_file,
            )
            self.services.wait_ready()
        if args.replicas > 1:
            self.notes.append(
                "replicas 2 and on were started once replica 1 of every service was ready, "
                "as in a rolling start; the cold start counts both"
            )
        ready = time.perf_counter()
        say(
            f"ready in {ready - started:.1f} s (broker {broker_ready - started:.1f} s, "
            f"services {ready - broker_ready:.1f} s)"
        )
        admin = KafkaLogin(
            username=ADMIN_USERNAME,
            password=SecretStr(values[kafka_password_variable(ADMIN_USERNAME)]),
        )
        return asyncio.run(self.measure(key, admin, started, broker_ready, ready))

    def stop(self) -> None:
        if self.services.replicas:
            say("stopping the services")
            self.services.stop()
        if self.broker is not None and self.broker_started:
            say("stopping the broker")
            try:
                self.broker.stop()
            except BenchmarkError as error:
                say(str(error))
        if self.postgres_urls:
            say("dropping the brobygger_*_bench databases")
            try:
                drop_postgres_databases(self.postgres_urls)
            except SQLAlchemyError as error:
                say(
                    f"could not drop them ({type(error).__name__}); they are emptied at the "
                    "next --postgres run, or drop them as the postgres user"
                )

    # -------------------------------------------------------------------- measuring ---

    async def measure(
        self, key: SigningKey, admin: KafkaLogin, started: float, broker_ready: float, ready: float
    ) -> Results:
        assert self.broker is not None
        bootstrap = self.broker.bootstrap
        async with contextlib.AsyncExitStack() as stack:
            kafka_admin = AIOKafkaAdminClient(
                bootstrap_servers=bootstrap, **admin.aiokafka_options()
            )
            await kafka_admin.start()
            stack.push_async_callback(kafka_admin.close)
            self.observer = Observer(bootstrap, admin)
            stack.push_async_callback(self.observer.stop)
            await self.observer.start(kafka_admin)
            self.lag = Lag(bootstrap, admin, kafka_admin)
            stack.push_async_callback(self.lag.stop)
            await self.lag.start()
            limits = httpx.Limits(
                max_connections=self.args.connections,
                max_keepalive_connections=self.args.connections,
            )
            self.clients = [
                await stack.enter_async_context(
                    httpx.AsyncClient(base_url=url, limits=limits, timeout=30)
                )
                for url in self.services.urls("referrals")
            ]
            self.key = key
            say(f"warm-up: {WARM_UP_REFERRALS} referrals, until the consumer groups have formed")
            warm_up = await self.load(2, WARM_UP_REFERRALS, WARM_UP_DEADLINE_SECONDS)
            if warm_up.lost or warm_up.accepted < warm_up.arrivals:
                raise BenchmarkError(
                    f"the warm-up's referrals were not all offered ({step_line(warm_up)}); "
                    f"see the services' logs in {self.folder / 'logs'}"
                )
            first_offered = min(self.observer.first(ReferralOffered.event_type, self.ids).values())
            await self.lag.wait_settled(self.args.settle_seconds)
            raw: RawRates | None = None
            if self.args.raw_messages > 0:
                say(f"raw aiokafka: {self.args.raw_messages} records on a scratch topic")
                raw = await raw_rates(bootstrap, admin, self.args.raw_messages)
                say(f"produce {raw.produce:,.0f}/s, consume {raw.consume:,.0f}/s")
            idle = await self.idle_cpu()
            steps: list[Measured] = []

            async def step(rate: float) -> StepResult:
                steps.append(await self.measured_step(rate))
                return steps[-1].step

            await sweep(self.args.rates, step)
        return Results(
            database=self.database,
            replicas=self.args.replicas,
            cores=os.cpu_count() or 0,
            cpu_model=cpu_model(),
            step_seconds=self.args.seconds,
            deadline=self.args.deadline,
            services=[r.label for r in self.services.replicas],
            cold_start=ColdStart(
                broker_ready - started, ready - broker_ready, first_offered - started
            ),
            raw=raw,
            steps=steps,
            idle_cpu=idle,
            notes=self.notes,
        )

    def watched(self) -> list[Watched]:
        assert self.broker is not None
        found = [Watched(r.label, (r.process.pid,)) for r in self.services.replicas]
        broker = self.broker.pid()
        if broker is not None:
            found.append(Watched("kafka broker", (broker,)))
        if self.postgres_urls:
            names = [make_url(url).database or "" for url in self.postgres_urls.values()]
            found.append(Watched("postgresql backends", tuple(postgres_backends(names)), False))
        found.append(Watched("load generator", (os.getpid(),)))
        return found

    async def idle_cpu(self) -> dict[str, float]:
        """CPU seconds per second each process spends with nothing to do."""
        say(f"{IDLE_SECONDS:g} s with no load")
        before = cpu_snapshot(self.watched())
        await asyncio.sleep(IDLE_SECONDS)
        used = cpu_used(before, cpu_snapshot(self.watched()))
        return {label: seconds / IDLE_SECONDS for label, seconds in used.items()}

    async def measured_step(self, rate: float) -> Measured:
        say(f"{rate:g} referrals/s for {self.args.seconds:g} s")
        peaks: dict[str, int] = {}
        sampling = asyncio.create_task(self.sample_memory(peaks))
        before = cpu_snapshot(self.watched())
        threads_before = thread_snapshot(self.watched())
        count = max(1, round(rate * self.args.seconds))
        step = await self.load(rate, count, self.args.deadline)
        # A rate that was not sustained leaves a queue that would take long to drain; the
        # sweep ends there, and its CPU is not reported.
        settled = step.passed and await self.lag.wait_settled(self.args.settle_seconds)
        after = cpu_snapshot(self.watched())
        threads_after = thread_snapshot(self.watched())
        sampling.cancel()
        await asyncio.gather(sampling, return_exceptions=True)
        if step.passed and not settled:
            self.notes.append(
                f"at {rate:g}/s the consumer groups had not caught up "
                f"{self.args.settle_seconds:g} s after the step"
            )
        for replica in self.services.exited():
            self.notes.append(
                f"{replica.label} exited during the step at {rate:g}/s; its log "
                f"({replica.log}) ends with:\n{log_tail(replica.log, 5)}"
            )
        say(step_line(step))
        threads = {label: by_key(threads_before, threads_after, label) for label in threads_after}
        return Measured(step, cpu_used(before, after), peaks, settled, threads)

    async def sample_memory(self, peaks: dict[str, int]) -> None:
        watched = self.watched()
        while True:
            for label, pid in each_pid(watched):
                resident = resident_bytes(pid)
                if resident is not None:
                    peaks[label] = max(peaks.get(label, 0), resident)
            await asyncio.sleep(MEMORY_SAMPLE_SECONDS)

    async def load(self, rate: float, count: int, deadline: float) -> StepResult:
        """`count` referrals arriving at `rate` per second (open loop, round-robin over the
        referrals replicas), then until each is offered or `deadline` s after it was due."""
        rng = random.Random(f"{self.args.seed}/{rate}/{count}")
        today = date.today()
        bodies = [json.dumps(referral_body(rng, today)).encode() for _ in range(count)]
        token = mint_token(self.key, subject="benchmark", role=Role.CARE_SYSTEM)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        submissions = [Submission(due=0.0) for _ in range(count)]

        async def send(index: int, due: float) -> None:
            submission = submissions[index]
            submission.due, submission.started = due, time.perf_counter()
            client = self.clients[index % len(self.clients)]
            try:
                response = await client.post(
                    "/referrals",
                    content=bodies[index],
                    headers={**headers, "Idempotency-Key": str(uuid4())},
                )
            except httpx.HTTPError as error:
                submission.refusal = type(error).__name__
            else:
                if response.status_code in (200, 201):
                    submission.referral_id = str(response.json()["id"])
                else:
                    submission.refusal = f"HTTP {response.status_code}"
            finally:
                submission.answered = time.perf_counter()

        await asyncio.gather(*await open_loop(rate, count, send))
        self.ids = [s.referral_id for s in submissions if s.referral_id is not None]
        await self.observer.wait_for(
            ReferralOffered.event_type, self.ids, until=submissions[-1].due + deadline
        )
        return summarize(
            rate,
            count / rate,
            submissions,
            self.observer.seen,
            offered_type=ReferralOffered.event_type,
            escalated_type=ReferralEscalated.event_type,
            deadline=deadline,
        )


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    # SIGTERM as Ctrl-C: everything started is stopped either way.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    run = Run(args)
    try:
        results = run.execute()
    except BenchmarkError as error:
        say(f"ERROR: {error}")
        return 1
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    finally:
        run.stop()
    print(render(results))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = CACHE / f"throughput-{run.database}-{args.replicas}r-{stamp}.json"
    write_json(results, path)
    say(f"results written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
