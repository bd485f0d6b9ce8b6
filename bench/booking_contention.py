"""Booking contention benchmark: many clients, two server processes, a few practitioners, no double booking.

In one run, against the same PostgreSQL:
1. reference: bare asyncpg single-row INSERT transactions/s (200 tasks, a pool
   as large as the two servers' pools together);
2. HTTP: 200 clients, spread over two real server processes (sharing Redis),
   POST /api/v1/bookings for random starts of 50 practitioners. Reports created
   bookings/s, all requests/s, p50/p99 latency, the status mix;
3. service: the same booking code called in-process (no HTTP), to show how much
   of the cost is the database transaction and how much is HTTP;
4. reference again (drift check);
then it queries the database for any two bookings of one practitioner whose
sessions plus buffers overlap: the count must be 0.

Everything runs on this machine: the load generator, both servers and
PostgreSQL share its cores, as recorded in the results (CPU seconds per part).

    .venv/bin/python bench/booking_contention.py [--seconds 15] [--redis URL]

Uses DATABASE_URL (a server it may create databases on; default
postgresql://postgres@127.0.0.1:5432/postgres). The two server processes share
the Redis of --redis (default redis://127.0.0.1:6379/0; REDIS_URL in the
environment is ignored). Writes bench/results/booking_contention.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import resource
import secrets
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import uvloop

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from common import DEFAULT_REDIS, server_env  # noqa: E402

from scheduler.bookings import Deps, book  # noqa: E402
from storage.clock import Clock  # noqa: E402
from server import keys  # noqa: E402
from server.auth.passwords import Passwords  # noqa: E402
from server.auth.tokens import Tokens  # noqa: E402
from storage.bus import MemoryBus  # noqa: E402
from server.config import load  # noqa: E402
from server.runtime import load_keyring  # noqa: E402
from storage import accounts, availability, bookings, practitioners  # noqa: E402
from storage.accounts import User  # noqa: E402
from storage.availability import WeeklyRule  # noqa: E402
from storage.crypto import Sealer  # noqa: E402
from storage.database import Database  # noqa: E402
from storage.errors import StorageError  # noqa: E402
from storage.migrate import migrate  # noqa: E402
from storage.practitioners import Rules  # noqa: E402

from common import pid_cpu_seconds, postgres_cpu_seconds  # noqa: E402

RESULTS = ROOT / "bench" / "results"
SECRET = "bench-secret-" + "s" * 40
DATA_KEY = "bench-data-key-" + "d" * 40
POOL_PER_SERVER = 10
DAYS = 365


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class World:
    """The practitioners and clients of the run."""

    offerings: list[uuid.UUID]
    clients: list[tuple[User, str]]  # the user and an access token
    first_day: datetime


class Server:
    """One `python -m server serve` process writing its logs to a file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    async def start(self) -> None:
        full = server_env(self.env)
        with self.log.open("wb") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "server", "serve"], env=full, cwd=ROOT,
                                         stdout=subprocess.DEVNULL, stderr=err)
        for _ in range(300):
            for line in self.log.read_text(errors="replace").splitlines():
                if '"event":"ready"' in line:
                    self.port = json.loads(line)["port"]
                    return
            if self.proc.poll() is not None:
                raise RuntimeError("server exited:\n" + self.log.read_text()[-3000:])
            await asyncio.sleep(0.1)
        raise RuntimeError("server did not become ready")

    def cpu_seconds(self) -> float:
        assert self.proc is not None
        return pid_cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def build_world(db: Database, tokens: Tokens, n_practitioners: int, n_clients: int) -> World:
    """Practitioners open round the clock for a year (60-minute sessions every 30 minutes, 10-minute buffers)
    and clients with live sessions, written through storage (registration's password hashing is not measured)."""
    password_hash = await Passwords().hash("bench password 1234")
    rules = Rules(buffer_before_min=0, buffer_after_min=10, min_notice_min=0, horizon_days=DAYS + 2, max_per_day=None,
                  slot_interval_min=30, request_ttl_min=1440)
    offerings = []
    for i in range(n_practitioners):
        user = await accounts.create_user(db, email=f"p{i}-{secrets.token_hex(4)}@bench.test", password_hash=password_hash,
                                          display_name=f"Practitioner {i}", role="practitioner", time_zone="UTC")
        await practitioners.save_profile(db, user.id, bio="", modalities=["yoga"], languages=["en"], time_zone="UTC",
                                         rules=rules)
        offering = await practitioners.create_offering(db, user.id, {
            "name": "Session", "duration_min": 60, "price_minor": 5000, "currency": "EUR", "mode": "video"})
        await availability.replace_hours(db, user.id, [WeeklyRule(d, 0, 1440) for d in range(1, 8)], [])
        offerings.append(offering.id)
    clients = []
    for i in range(n_clients):
        user = await accounts.create_user(db, email=f"c{i}-{secrets.token_hex(4)}@bench.test", password_hash=password_hash,
                                          display_name=f"Client {i}", role="client", time_zone="Europe/Paris")
        session_id = await accounts.create_session(db, user.id, secrets.token_bytes(32), 86400)
        access, _ = tokens.issue_access(user.id, user.role, session_id, ttl=3600)
        clients.append((user, access))
    first_day = (datetime.now(UTC) + timedelta(days=2)).replace(hour=0, minute=0, second=0, microsecond=0)
    return World(offerings, clients, first_day)


def random_start(world: World) -> datetime:
    return world.first_day + timedelta(days=random.randrange(DAYS), minutes=30 * random.randrange(47))


async def reference_inserts(url: str, seconds: float, tasks: int, pool_size: int) -> dict[str, Any]:
    """Bare single-row INSERT transactions per second."""
    conn = await asyncpg.connect(url)
    await conn.execute("DROP TABLE IF EXISTS bench_reference; CREATE TABLE bench_reference "
                       "(id uuid PRIMARY KEY, owner uuid NOT NULL, at timestamptz NOT NULL DEFAULT now(), note text)")
    await conn.close()
    pool = await asyncpg.create_pool(url, min_size=pool_size, max_size=pool_size)
    done = 0
    latencies: list[float] = []
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            async with pool.acquire() as c:
                await c.execute("INSERT INTO bench_reference (id, owner, note) VALUES ($1, $2, $3)",
                                uuid.uuid4(), uuid.uuid4(), "x")
            latencies.append(time.perf_counter() - t0)
            done += 1

    cpu_pg, cpu_own = postgres_cpu_seconds(), own_cpu_seconds()
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    elapsed = time.perf_counter() - started
    cpu = {"postgres": round(postgres_cpu_seconds() - cpu_pg, 2), "load_generator": round(own_cpu_seconds() - cpu_own, 2)}
    await pool.close()  # after measuring: the pool's backends exit with it
    return {"tx_per_s": done / elapsed, "count": done, "seconds": elapsed,
            "p50_ms": pct(latencies, 0.5) * 1000, "p99_ms": pct(latencies, 0.99) * 1000, "cpu_seconds": cpu}


async def http_run(world: World, servers: list[Server], seconds: float) -> dict[str, Any]:
    """Each client books random starts at random practitioners through its server until time is up."""
    statuses: Counter[int] = Counter()
    codes: Counter[str] = Counter()
    latencies: list[float] = []
    created_latencies: list[float] = []
    stop = time.perf_counter() + seconds

    async def client(i: int, user_token: str) -> None:
        url = f"http://127.0.0.1:{servers[i % len(servers)].port}/api/v1/bookings"
        headers = {"Authorization": f"Bearer {user_token}", "Content-Type": "application/json"}
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as http:
            while time.perf_counter() < stop:
                body = json.dumps({"offering_id": str(random.choice(world.offerings)),
                                   "start_at": random_start(world).isoformat()})
                t0 = time.perf_counter()
                async with http.post(url, data=body, headers={**headers, "Idempotency-Key": uuid.uuid4().hex}) as resp:
                    payload = await resp.read()
                elapsed = time.perf_counter() - t0
                latencies.append(elapsed)
                statuses[resp.status] += 1
                if resp.status == 201:
                    created_latencies.append(elapsed)
                elif resp.status >= 400:
                    codes[json.loads(payload)["error"]["code"]] += 1

    cpu_servers = [s.cpu_seconds() for s in servers]
    cpu_pg, cpu_own = postgres_cpu_seconds(), own_cpu_seconds()
    started = time.perf_counter()
    await asyncio.gather(*(client(i, token) for i, (_, token) in enumerate(world.clients)))
    elapsed = time.perf_counter() - started
    return {
        "seconds": elapsed,
        "created_per_s": statuses[201] / elapsed,
        "requests_per_s": sum(statuses.values()) / elapsed,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "error_codes": dict(codes),
        "p50_ms": pct(latencies, 0.5) * 1000,
        "p99_ms": pct(latencies, 0.99) * 1000,
        "created_p99_ms": pct(created_latencies, 0.99) * 1000,
        "cpu_seconds": {
            "servers": round(sum(s.cpu_seconds() for s in servers) - sum(cpu_servers), 2),
            "postgres": round(postgres_cpu_seconds() - cpu_pg, 2),
            "load_generator": round(own_cpu_seconds() - cpu_own, 2),
        },
    }


async def service_run(url: str, world: World, seconds: float, tasks: int, pool_size: int) -> dict[str, Any]:
    """The booking service called in-process: the database work of a booking without HTTP."""
    secrets = keys.resolve(bench_settings(url))
    db = await Database.connect(url, Sealer(secrets.data), min_size=pool_size, max_size=pool_size)
    await load_keyring(db, secrets)  # names, notes and notices are sealed with their owners' keys
    deps = Deps(db, MemoryBus(), Clock(), email=False)  # as the servers: no SMTP relay in the bench
    await deps.bus.start()
    created = refused = 0
    latencies: list[float] = []
    stop = time.perf_counter() + seconds

    async def worker(i: int) -> None:
        nonlocal created, refused
        user = world.clients[i % len(world.clients)][0]
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            try:
                await book(deps, user, offering_id=random.choice(world.offerings), start=random_start(world), note=None,
                           key=uuid.uuid4().hex)
                created += 1
                latencies.append(time.perf_counter() - t0)
            except Exception as exc:  # a refusal (slot taken) is part of the workload; anything else is reported
                if getattr(exc, "code", None) != "slot_unavailable":
                    raise
                refused += 1

    started = time.perf_counter()
    try:
        await asyncio.gather(*(worker(i) for i in range(tasks)))
    finally:
        await deps.bus.stop()
        await db.close()
    elapsed = time.perf_counter() - started
    return {"created_per_s": created / elapsed, "refused": refused, "seconds": elapsed,
            "p50_ms": pct(latencies, 0.5) * 1000, "p99_ms": pct(latencies, 0.99) * 1000}


def bench_settings(url: str) -> Any:
    return load(env={"DATABASE_URL": url, "KLEAR_SECRET_KEY": SECRET, "KLEAR_DATA_KEY": DATA_KEY,
                     "KLEAR_DATA_DIR": str(ROOT / ".test-data" / "bench")})


async def run(args: argparse.Namespace) -> dict[str, Any]:
    load_before = os.getloadavg()
    admin = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    redis_url = args.redis
    name = f"klear_bench_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    url = with_database(admin, name)
    servers: list[Server] = []
    try:
        migrate_conn = await asyncpg.connect(url)
        await migrate(migrate_conn)
        await migrate_conn.close()
        settings = bench_settings(url)
        db = await Database.connect(url, Sealer(keys.resolve(settings).data), min_size=2, max_size=4)
        await load_keyring(db, keys.resolve(settings))
        world = await build_world(db, Tokens(keys.resolve(settings).jwt, 900), args.practitioners, args.clients)
        log_dir = ROOT / ".test-data" / "bench"
        log_dir.mkdir(parents=True, exist_ok=True)
        env = {"DATABASE_URL": url, "REDIS_URL": redis_url, "KLEAR_REDIS_PREFIX": name, "KLEAR_SECRET_KEY": SECRET,
               "KLEAR_DATA_KEY": DATA_KEY, "KLEAR_PORT": "0", "KLEAR_DATA_DIR": str(log_dir),
               "KLEAR_DB_POOL_MAX": str(POOL_PER_SERVER), "KLEAR_DB_POOL_MIN": str(POOL_PER_SERVER)}
        servers = [Server(env, log_dir / f"server{i}.log") for i in range(2)]
        await asyncio.gather(*(s.start() for s in servers))
        pool = POOL_PER_SERVER * len(servers)

        print("reference (bare inserts) ...", file=sys.stderr)
        before = await reference_inserts(url, args.seconds, args.clients, pool)
        print("warm-up ...", file=sys.stderr)
        await http_run(world, servers, 3)
        print("HTTP bookings ...", file=sys.stderr)
        http = await http_run(world, servers, args.seconds)
        print("service bookings (in-process) ...", file=sys.stderr)
        service = await service_run(url, world, args.seconds, args.clients, pool)
        print("reference again ...", file=sys.stderr)
        after = await reference_inserts(url, args.seconds, args.clients, pool)

        overlaps = await bookings.overlapping_pairs(db)
        total = await db.fetchrow("bench.count", "SELECT count(*) AS n, count(DISTINCT practitioner_id) AS p FROM bookings")
        await db.close()
    except StorageError:
        raise
    finally:
        for s in servers:
            s.stop()
        conn = await asyncpg.connect(admin)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()
    reference = statistics.mean([before["tx_per_s"], after["tx_per_s"]])
    assert total is not None
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "load_average_before": load_before, "load_average_after": os.getloadavg()},
        "setup": {"practitioners": args.practitioners, "clients": args.clients, "servers": len(servers),
                  "redis": redis_url,
                  "pool_per_server": POOL_PER_SERVER, "seconds": args.seconds,
                  "workload": "random 60-minute starts on a 30-minute grid over 365 days, 10-minute buffer after"},
        "reference_before": before,
        "reference_after": after,
        "http": http,
        "service": service,
        "fraction_http": http["created_per_s"] / reference,
        "fraction_service": service["created_per_s"] / reference,
        "bookings_in_database": total["n"],
        "overlapping_pairs": overlaps,
    }


def markdown(r: dict[str, Any]) -> str:
    h, s = r["http"], r["service"]
    ref = statistics.mean([r["reference_before"]["tx_per_s"], r["reference_after"]["tx_per_s"]])
    return "\n".join([
        "# Booking contention",
        "",
        f"Run {r['when']} on {r['machine']['cpus']} CPUs (load generator, 2 servers and PostgreSQL share them; "
        f"load average before {r['machine']['load_average_before'][0]:.2f}, after {r['machine']['load_average_after'][0]:.2f}).",
        f"{r['setup']['clients']} clients, {r['setup']['practitioners']} practitioners, {r['setup']['seconds']} s per phase; "
        f"{r['setup']['workload']}.",
        "",
        "| Measure | Value |",
        "| --- | --- |",
        f"| Reference: bare single-row INSERT transactions/s (before / after) | "
        f"{r['reference_before']['tx_per_s']:.0f} / {r['reference_after']['tx_per_s']:.0f} |",
        f"| HTTP: bookings created/s (2 processes) | {h['created_per_s']:.0f} |",
        f"| HTTP: requests/s (created + refused) | {h['requests_per_s']:.0f} |",
        f"| HTTP: p50 / p99 latency, all requests | {h['p50_ms']:.1f} ms / {h['p99_ms']:.1f} ms |",
        f"| HTTP: p99 latency, created | {h['created_p99_ms']:.1f} ms |",
        f"| HTTP: statuses | {h['statuses']} {h['error_codes']} |",
        f"| HTTP: CPU seconds (servers / PostgreSQL / load generator) | "
        f"{h['cpu_seconds']['servers']} / {h['cpu_seconds']['postgres']} / {h['cpu_seconds']['load_generator']} |",
        f"| Reference: CPU seconds (PostgreSQL / load generator), first run | "
        f"{r['reference_before']['cpu_seconds']['postgres']} / {r['reference_before']['cpu_seconds']['load_generator']} |",
        f"| Service in-process: bookings created/s (p99) | {s['created_per_s']:.0f} ({s['p99_ms']:.1f} ms) |",
        f"| **Booking creation / reference, HTTP** | **{r['fraction_http']:.2f}x** (reference {ref:.0f}/s) |",
        f"| Booking creation / reference, in-process | {r['fraction_service']:.2f}x |",
        f"| Bookings in the database | {r['bookings_in_database']} |",
        f"| **Overlapping pairs (must be 0)** | **{r['overlapping_pairs']}** |",
        "",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--practitioners", type=int, default=50)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--out", default=str(RESULTS / "booking_contention"))
    parser.add_argument("--redis", default=DEFAULT_REDIS, metavar="URL",
                        help=f"Redis the two server processes share (default {DEFAULT_REDIS})")
    args = parser.parse_args()
    result = uvloop.run(run(args))
    Path(args.out + ".json").write_text(json.dumps(result, indent=2) + "\n")
    Path(args.out + ".md").write_text(markdown(result))
    print(markdown(result))
    if result["overlapping_pairs"] != 0:
        sys.exit("DOUBLE BOOKING DETECTED")


if __name__ == "__main__":
    main()
