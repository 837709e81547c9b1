"""Matching one referral, and a citizen's search, at N services, on SQLite or PostgreSQL.

    .venv/bin/python -m benchmarks.matching --services 10000
    .venv/bin/python -m benchmarks.matching --services 100000 --database postgresql \\
        --url postgresql+psycopg://user:password@127.0.0.1:55432/brobygger_bench

Fills the database once with `brobygger directory generate`'s `fill` (a SQLite file under
.cache/benchmarks/ by default; later runs reuse it). `--reproject` first writes matching's
view of every service anew, its posting lists and areas' reach recreated from the models:
for a database filled before they changed. Then times `match_referral` for random
realistic referrals, each in a unit of work that is rolled back instead of committed, and
`services.services(ServiceQuery(search=...))` for a citizen's queries. Prints p50, p99 and
the worst, and the service count; the same for referrals nothing fits (then the no-match
counts are taken too). Targets at 100,000 services on a 2-core machine: matching p99 <= 20
ms, search p99 <= 50 ms.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

from directory import generate, services
from directory.app import MIGRATIONS
from directory.geography import DISTRICTS
from directory.hsds import vocabulary
from directory.services.reading import Paging
from directory.store import DirectoryUnitOfWork, ServiceQuery
from directory.store.records import table_of
from directory.store.tables import ReachRow, ServiceRow, ServiceTermRow
from runtime.migrations import upgrade
from runtime.storage import make_engine
from tests.events import referral_submitted

StartUow = Callable[[], DirectoryUnitOfWork]

INTERESTS = sorted(vocabulary.codes(vocabulary.Taxonomy.INTERESTS))
TARGET_GROUPS = sorted(vocabulary.codes(vocabulary.Taxonomy.TARGET_GROUPS))
REPROJECTED_AT_ONCE = 5000
WARM_UP = 10
"""Referrals matched untimed before the timed ones."""
SEARCHES = ["gåtur", "gaatur", "skak", "norrebro", "sang", "strik", "kaffe", "motion", "besøg"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--url",
        default=os.environ.get("BROBYGGER_BENCHMARK_URL"),
        help="the database's URL (default: a SQLite file under .cache/benchmarks/; "
        "PostgreSQL needs one, or BROBYGGER_BENCHMARK_URL)",
    )
    parser.add_argument("--referrals", type=int, default=500)
    parser.add_argument("--searches", type=int, default=200)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument(
        "--reproject",
        action="store_true",
        help="write matching's view of the services anew before timing",
    )
    arguments = parser.parse_args()
    url = arguments.url
    if url is None:
        if arguments.database == "postgresql":
            sys.exit("--database postgresql needs --url (or BROBYGGER_BENCHMARK_URL)")
        folder = Path(".cache/benchmarks")
        folder.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{folder}/matching-{arguments.services}.db"
    engine = make_engine(url)
    upgrade(MIGRATIONS, engine)
    sessions = sessionmaker(engine, class_=Session, expire_on_commit=False)

    def start_uow() -> DirectoryUnitOfWork:
        return DirectoryUnitOfWork(sessions, "/brobygger/directory")

    rng = random.Random(arguments.seed)
    count = service_count(start_uow)
    if count < arguments.services:
        started = time.perf_counter()
        fill(start_uow, arguments.services - count, rng.randrange(2**31))
        print(f"filled in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        count = service_count(start_uow)
    if arguments.reproject:
        started = time.perf_counter()
        reproject(start_uow, engine)
        print(f"re-projected in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    print(f"{engine.dialect.name}: {count} services")
    report("match_referral", time_matching(start_uow, rng, arguments.referrals))
    report("match_referral, nothing fits", time_matching(start_uow, rng, 20, ["kl"]))
    report("search", time_search(start_uow, rng, arguments.searches))


def service_count(start_uow: StartUow) -> int:
    with start_uow() as uow:
        return int(uow.session.execute(select(func.count()).select_from(ServiceRow)).scalar_one())


def fill(start_uow: StartUow, how_many: int, seed: int) -> None:
    # As `brobygger directory generate` does: the vocabularies services refer to first.
    services.keep_vocabulary(start_uow)
    if generate.fill(start_uow, services=how_many, seed=seed):
        sys.exit("the generator failed")


def reproject(start_uow: StartUow, engine: Engine) -> None:
    """Matching's posting lists and areas' reach dropped and created as the models have
    them, the service table's indexes created where missing, and every service projected
    again (its row and location as they were)."""
    with start_uow() as uow:
        everything = uow.services.all()
    rebuilt = [table_of(ServiceTermRow), table_of(ReachRow)]
    with engine.begin() as connection:
        for table in rebuilt:
            table.drop(connection, checkfirst=True)
            table.create(connection)
        for index in table_of(ServiceRow).indexes:
            index.create(connection, checkfirst=True)
    for start in range(0, len(everything), REPROJECTED_AT_ONCE):
        with start_uow() as uow:
            uow.services.project_many(everything[start : start + REPROJECTED_AT_ONCE])
            uow.commit()
    if engine.dialect.name == "postgresql":
        # As autovacuum would in time: statistics, and a visibility map for index-only scans.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(
                text("VACUUM ANALYZE service, location, service_term, service_reach")
            )


def time_matching(
    start_uow: StartUow, rng: random.Random, how_many: int, languages: list[str] | None = None
) -> list[float]:
    """Matching random referrals, in `languages` if given (Greenlandic: none of the
    generated services has it, so nothing fits and the no-match counts are taken)."""
    timings = []
    for done in range(WARM_UP + how_many):
        event = referral_submitted(
            district=rng.choice(DISTRICTS).name,
            interests=rng.sample(INTERESTS, rng.randint(1, 3)),
            languages=languages or (["da", "en"] if rng.random() < 0.3 else ["da"]),
            needs=rng.sample([*TARGET_GROUPS, "wheelchair_access"], rng.randint(0, 2)),
            preferred_times=rng.sample(["morning", "afternoon", "evening"], rng.randint(0, 2)),
        )
        with start_uow() as uow:
            # Left as it was: every referral meets the same directory.
            uow.commit = uow.session.rollback  # type: ignore[method-assign]
            started = time.perf_counter()
            services.match_referral(event, uow, max_matches=5)
            if done >= WARM_UP:  # as for searches: the first few warm up, untimed
                timings.append(time.perf_counter() - started)
    return timings


def time_search(start_uow: StartUow, rng: random.Random, how_many: int) -> list[float]:
    # Untimed first: a running service has met its queries before (its connections open,
    # its statements compiled, the pages they read in memory).
    for search in SEARCHES:
        services.services(ServiceQuery(search=search), Paging(1, 20), start_uow)
    timings = []
    for _ in range(how_many):
        query = ServiceQuery(search=rng.choice(SEARCHES))
        started = time.perf_counter()
        services.services(query, Paging(1, 20), start_uow)
        timings.append(time.perf_counter() - started)
    return timings


def report(what: str, timings: list[float]) -> None:
    ms = sorted(t * 1000 for t in timings)
    p99 = statistics.quantiles(ms, n=100)[98] if len(ms) > 1 else ms[0]
    print(
        f"{what}: {len(ms)} runs, p50 {statistics.median(ms):.1f} ms, "
        f"p99 {p99:.1f} ms, max {ms[-1]:.1f} ms"
    )


if __name__ == "__main__":
    main()
