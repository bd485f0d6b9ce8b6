"""Slot list benchmark: 30 days of slots for a practitioner with 200 existing bookings, through a real server.

The practitioner is open 08:00-20:00 every day (Europe/Paris), offers
30-minute sessions every 15 minutes with 10-minute buffers, and has 200
bookings spread over the month (made through the booking service, so every
row a real booking writes is there). A client in Asia/Kolkata asks for the
30-day list: about a thousand starts, each in UTC and in local time.

Server time is read from the server's own access log (duration_ms of each
slots request, measured inside the process from first byte to response);
client-side latency is reported too. Sequential requests first, then 8 at a
time to see the list under concurrent load.

    .venv/bin/python bench/slots.py [--requests 500]

Writes bench/results/slots.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import secrets
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import uvloop

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from booking_contention import DATA_KEY, SECRET, Server, bench_settings, pct, with_database  # noqa: E402
from scheduler.bookings import Deps, book  # noqa: E402
from storage.clock import Clock  # noqa: E402
from scheduler.errors import Refused  # noqa: E402
from server import keys  # noqa: E402
from server.auth.passwords import Passwords  # noqa: E402
from server.auth.tokens import Tokens  # noqa: E402
from server.runtime import load_keyring  # noqa: E402
from storage.bus import MemoryBus  # noqa: E402
from storage import accounts, availability, practitioners  # noqa: E402
from storage.availability import WeeklyRule  # noqa: E402
from storage.crypto import Sealer  # noqa: E402
from storage.database import Database  # noqa: E402
from storage.migrate import migrate  # noqa: E402
from storage.practitioners import Rules  # noqa: E402

RESULTS = ROOT / "bench" / "results"
ROUTE = "/api/v1/practitioners/{practitioner_id}/slots"


async def setup(db: Database, tokens: Tokens, bookings_wanted: int) -> tuple[str, str, str, datetime]:
    """The practitioner id, offering id, a client's access token, and the first day of the month asked for."""
    password_hash = await Passwords().hash("bench password 1234")
    rules = Rules(buffer_before_min=10, buffer_after_min=10, min_notice_min=0, horizon_days=90, max_per_day=None,
                  slot_interval_min=15, request_ttl_min=1440)
    p = await accounts.create_user(db, email=f"p-{secrets.token_hex(4)}@bench.test", password_hash=password_hash,
                                   display_name="Busy Practitioner", role="practitioner", time_zone="Europe/Paris")
    await practitioners.save_profile(db, p.id, bio="", modalities=["yoga"], languages=["fr"], time_zone="Europe/Paris",
                                     rules=rules)
    offering = await practitioners.create_offering(db, p.id, {
        "name": "Session", "duration_min": 30, "price_minor": 3000, "currency": "EUR", "mode": "video"})
    await availability.replace_hours(db, p.id, [WeeklyRule(d, 8 * 60, 20 * 60) for d in range(1, 8)], [])
    deps = Deps(db, MemoryBus(), Clock(), email=False)
    await deps.bus.start()
    first_day = (datetime.now(UTC) + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    made = 0
    clients = []
    for i in range(20):
        user = await accounts.create_user(db, email=f"c{i}-{secrets.token_hex(4)}@bench.test", password_hash=password_hash,
                                          display_name=f"Client {i}", role="client", time_zone="Asia/Kolkata")
        clients.append(user)
    while made < bookings_wanted:
        start = first_day + timedelta(days=random.randrange(30), hours=random.randrange(7, 19), minutes=15 * random.randrange(4))
        try:
            await book(deps, random.choice(clients), offering_id=offering.id, start=start, note=None, key=uuid.uuid4().hex)
            made += 1
        except Refused:
            continue
    await deps.bus.stop()
    viewer = clients[0]
    session_id = await accounts.create_session(db, viewer.id, secrets.token_bytes(32), 86400)
    token, _ = tokens.issue_access(viewer.id, viewer.role, session_id, ttl=3600)
    return str(p.id), str(offering.id), token, first_day


def server_durations(log: Path, after: int) -> list[float]:
    """duration_ms of the slots requests in the access log, from byte offset `after`."""
    out = []
    with log.open("rb") as f:
        f.seek(after)
        for line in f:
            if b'"route":"' + ROUTE.encode() + b'"' in line and b'"status":200' in line:
                out.append(json.loads(line)["duration_ms"])
    return out


async def measure(url: str, token: str, requests: int, concurrency: int) -> dict[str, Any]:
    latencies: list[float] = []
    sizes: list[int] = []
    remaining = requests

    async def worker(http: aiohttp.ClientSession) -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            t0 = time.perf_counter()
            async with http.get(url, headers={"Authorization": f"Bearer {token}"}) as resp:
                body = await resp.read()
                assert resp.status == 200, body[:300]
            latencies.append(time.perf_counter() - t0)
            sizes.append(len(json.loads(body)["slots"]))

    async with aiohttp.ClientSession() as http:
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
    return {"requests": len(latencies), "slots_per_list": round(sum(sizes) / len(sizes)),
            "client_p50_ms": pct(latencies, 0.5) * 1000, "client_p99_ms": pct(latencies, 0.99) * 1000}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    admin = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"klear_bench_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    url = with_database(admin, name)
    server: Server | None = None
    try:
        migrate_conn = await asyncpg.connect(url)
        await migrate(migrate_conn)
        await migrate_conn.close()
        settings = bench_settings(url)
        db = await Database.connect(url, Sealer(keys.resolve(settings).data), min_size=2, max_size=4)
        await load_keyring(db, keys.resolve(settings))
        pid, offering, token, first_day = await setup(db, Tokens(keys.resolve(settings).jwt, 900), args.bookings)
        held = await db.fetchrow("bench.count", "SELECT count(*) AS n FROM bookings")
        await db.close()
        log_dir = ROOT / ".test-data" / "bench"
        log_dir.mkdir(parents=True, exist_ok=True)
        log = log_dir / "slots-server.log"
        server = Server({"DATABASE_URL": url, "KLEAR_SECRET_KEY": SECRET, "KLEAR_DATA_KEY": DATA_KEY, "KLEAR_PORT": "0",
                         "KLEAR_DATA_DIR": str(log_dir)}, log)
        await server.start()
        start, end = first_day.date().isoformat(), (first_day + timedelta(days=29)).date().isoformat()
        query = f"?offering={offering}&from={start}&to={end}&tz=Asia/Kolkata"
        target = f"http://127.0.0.1:{server.port}/api/v1/practitioners/{pid}/slots{query}"
        await measure(target, token, 50, 1)  # warm-up: connections, prepared statements
        results: dict[str, Any] = {}
        for concurrency in (1, 8):
            await asyncio.sleep(0.5)
            offset = log.stat().st_size
            client = await measure(target, token, args.requests, concurrency)
            await asyncio.sleep(0.5)  # the access log is flushed once per loop iteration
            durations = server_durations(log, offset)
            results[f"concurrency_{concurrency}"] = {
                **client, "server_p50_ms": pct(durations, 0.5), "server_p99_ms": pct(durations, 0.99),
                "server_max_ms": max(durations), "server_samples": len(durations),
            }
    finally:
        if server is not None:
            server.stop()
        conn = await asyncpg.connect(admin)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()
    assert held is not None
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_average": os.getloadavg()},
        "setup": {"bookings": held["n"], "days": 30, "hours": "08:00-20:00 Europe/Paris", "session_min": 30,
                  "grid_min": 15, "buffers_min": 10, "viewer_tz": "Asia/Kolkata"},
        **results,
    }


def markdown(r: dict[str, Any]) -> str:
    rows = ["| Requests at a time | Slots per list | Server p50 | Server p99 | Server max | Client p50 | Client p99 |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for c in (1, 8):
        m = r[f"concurrency_{c}"]
        rows.append(f"| {c} | {m['slots_per_list']} | {m['server_p50_ms']:.2f} ms | **{m['server_p99_ms']:.2f} ms** | "
                    f"{m['server_max_ms']:.2f} ms | {m['client_p50_ms']:.2f} ms | {m['client_p99_ms']:.2f} ms |")
    s = r["setup"]
    return "\n".join([
        "# 30-day slot list",
        "",
        f"Run {r['when']} on {r['machine']['cpus']} CPUs (load average at the end: "
        f"{', '.join(f'{x:.2f}' for x in r['machine']['load_average'])}). One server process; client on the same machine.",
        f"{s['bookings']} bookings in the month; open {s['hours']}; {s['session_min']}-minute sessions every "
        f"{s['grid_min']} minutes with {s['buffers_min']}-minute buffers; viewer in {s['viewer_tz']}.",
        "Server time: duration_ms of the access log (inside the process). Target: p99 under 15 ms.",
        "",
        *rows,
        "",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--bookings", type=int, default=200)
    parser.add_argument("--out", default=str(RESULTS / "slots"))
    args = parser.parse_args()
    result = uvloop.run(run(args))
    Path(args.out + ".json").write_text(json.dumps(result, indent=2) + "\n")
    Path(args.out + ".md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
