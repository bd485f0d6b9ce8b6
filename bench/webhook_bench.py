"""Webhook delivery benchmark: latency from a booking change to a local receiver, and deliveries per second.

In one run, against one `klear serve` process (no Redis) pinned to --server-cpu:
1. latency: --rate booking changes a second (each a new booking, under the
   issue's 100/s) for --seconds, one webhook subscription per practitioner.
   For every change it measures, from the event's own `at` (the server's
   clock, before commit) to arrival:
   - webhook: a signed delivery at a local aiohttp receiver, verified with
     the SDK's verifier;
   - reference: the same change on the practitioner's Socket.IO booking feed
     (`bookings:subscribe`), in the same run;
2. throughput: each practitioner gets --fanout subscriptions in all, and
   --burst-rate changes a second for --burst-seconds: deliveries received a
   second (first change to last delivery) and per server core-second.
Every delivery must arrive exactly once per subscription (duplicates, a
possibility of at-least-once delivery, are counted) and in booking_seq order.

    .venv/bin/python bench/webhook_bench.py [--rate 50] [--seconds 20] [--fanout 20]

Uses DATABASE_URL (a server it may create databases on; default
postgresql://postgres@127.0.0.1:5432/postgres); the server gets its settings
from the flags only. Writes bench/results/webhooks.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "clients" / "python"))
sys.path.insert(0, str(ROOT / "bench"))
from common import free_port, machine, pid_cpu_seconds, start_klear, stop, wait_http, write  # noqa: E402

from klear_client import InvalidSignature, KlearClient, Realtime, verify_webhook  # noqa: E402

PASSWORD = "bench passphrase 12345"
ALL_DAY = [{"weekday": d, "start": "00:00", "end": "24:00"}
           for d in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")]


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def at_of(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["at"].replace("Z", "+00:00")).timestamp()


@dataclass
class Receiver:
    """The local webhook receiver: verifies each delivery and notes when it arrived."""

    secrets_by_path: dict[str, str] = field(default_factory=dict)
    arrivals: list[tuple[str, str, float, dict[str, Any]]] = field(default_factory=list)  # path, id, time, payload
    refused: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        arrived = time.time()
        try:
            payload = verify_webhook(self.secrets_by_path[request.path], request.headers, body)
        except (InvalidSignature, KeyError):
            self.refused += 1
            return web.Response(status=400)
        self.arrivals.append((request.path, request.headers["webhook-id"], arrived, payload))
        return web.Response(status=204)


@dataclass
class Practice:
    client: KlearClient
    id: str
    offering_id: str
    next_slot: int = 0


async def practice(url: str, i: int, first_day: datetime) -> Practice:
    c = KlearClient(url)
    await c.register(f"p{i}-{secrets.token_hex(3)}@bench.test", PASSWORD, f"Practitioner {i}", "practitioner", "UTC")
    pid = c.session.user_id  # type: ignore[union-attr]
    await c.save_practitioner_profile(pid, bio="Bench.", modalities=["yoga"], languages=["en"], time_zone="UTC",
                                      booking_rules={"min_notice_min": 0, "horizon_days": 730, "slot_interval_min": 30})
    offer = await c.create_offering(pid, name="Session", duration_min=30, price_minor=1000, currency="EUR", mode="video")
    await c.set_hours(pid, ALL_DAY)
    return Practice(c, pid, offer["id"])


async def paced(practices: list[Practice], clients: list[KlearClient], rate: float, seconds: float,
                first_day: datetime) -> list[str]:
    """Create bookings at `rate` a second, round robin over practitioners; returns their ids."""
    made: list[str] = []
    tasks: list[asyncio.Task[None]] = []
    total = int(rate * seconds)
    start = time.monotonic()

    async def one(n: int) -> None:
        p = practices[n % len(practices)]
        slot = p.next_slot
        p.next_slot += 1
        when = first_day + timedelta(minutes=30 * slot)
        booking = await clients[n % len(clients)].book(p.offering_id, when.isoformat().replace("+00:00", "Z"))
        made.append(str(booking["id"]))

    for n in range(total):
        delay = start + n / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(n)))
    await asyncio.gather(*tasks)
    return made


async def drained(count: Any, expected: int, timeout: float) -> float:
    """Wait until `count()` reaches `expected`; returns when (time.time()) it did."""
    deadline = time.monotonic() + timeout
    while count() < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    return time.time()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    admin = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"klear_bench_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hooks/{n}", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    hook_base = f"http://127.0.0.1:{runner.addresses[0][1]}/hooks"
    port = free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="klear-webhook-bench-"))
    env = {
        "DATABASE_URL": with_database(admin, name), "KLEAR_DATA_DIR": str(data_dir), "KLEAR_LOG_LEVEL": "warning",
        "KLEAR_SECRET_KEY": "bench-secret-" + "s" * 40, "KLEAR_DATA_KEY": "bench-data-key-" + "d" * 40,
        "KLEAR_WEBHOOK_ALLOW_LOOPBACK": "true", "KLEAR_WEBHOOK_CONCURRENCY": str(args.concurrency),
        "KLEAR_REGISTER_RATE_IP": "100000/60", "KLEAR_LOGIN_RATE_IP": "100000/60", "KLEAR_DB_POOL_MAX": "20",
    }
    server = start_klear(port, env, cpu=args.server_cpu)
    url = f"http://127.0.0.1:{port}"
    sockets: list[Realtime] = []
    everyone: list[KlearClient] = []
    try:
        wait_http(f"{url}/readyz")
        first_day = (datetime.now(UTC) + timedelta(days=2)).replace(hour=0, minute=0, second=0, microsecond=0)
        practices = [await practice(url, i, first_day) for i in range(args.practitioners)]
        clients = []
        for i in range(args.clients):
            c = KlearClient(url)
            await c.register(f"c{i}-{secrets.token_hex(3)}@bench.test", PASSWORD, f"Client {i}", "client", "UTC")
            clients.append(c)
        everyone = [p.client for p in practices] + clients

        async def subscribe(p: Practice, n: int) -> None:
            hook = await p.client.subscribe_webhook(f"{hook_base}/{n}", ["booking.created"])
            receiver.secrets_by_path[f"/hooks/{n}"] = hook["secret"]

        for i, p in enumerate(practices):
            await subscribe(p, i)
        feed: list[tuple[str, float]] = []  # booking id, latency from `at`
        for p in practices:
            rt = Realtime(p.client)
            await rt.connect()

            async def update(u: dict[str, Any]) -> None:
                feed.append((u["booking_id"], time.time() - at_of(u["event"])))

            rt.sio.on("bookings:update", update)
            await rt.call("bookings:subscribe", {"last_seq": 0})
            sockets.append(rt)

        # 1. latency at a pace under 100 changes/s
        cpu0 = pid_cpu_seconds(server.pid)
        made = await paced(practices, clients, args.rate, args.seconds, first_day)
        await drained(lambda: len(receiver.arrivals), len(made), 60)
        await drained(lambda: len(feed), len(made), 30)
        cpu_latency = pid_cpu_seconds(server.pid) - cpu0
        hooks = [(p, wid, t - at_of(payload["data"]), payload) for p, wid, t, payload in receiver.arrivals]
        web_lat = [x[2] for x in hooks]
        sock_lat = [x[1] for x in feed]
        ids = Counter(x[1] for x in hooks)
        latency = {
            "changes": len(made), "rate": args.rate,
            "webhook": {"received": len(hooks), "unique": len(ids), "duplicates": sum(n - 1 for n in ids.values()),
                        "p50_ms": pct(web_lat, 0.5) * 1000, "p99_ms": pct(web_lat, 0.99) * 1000,
                        "max_ms": max(web_lat, default=float("nan")) * 1000},
            "socket_feed": {"received": len(feed), "p50_ms": pct(sock_lat, 0.5) * 1000,
                            "p99_ms": pct(sock_lat, 0.99) * 1000, "max_ms": max(sock_lat, default=float("nan")) * 1000},
            "server_cpu_s": cpu_latency,
        }
        missing = len(set(made) - {x[3]["data"]["booking_id"] for x in hooks})
        latency["webhook"]["missing"] = missing

        # 2. throughput: each change fans out to --fanout subscriptions per practitioner
        n = len(practices)
        for i, p in enumerate(practices):
            for k in range(1, args.fanout):
                await subscribe(p, n * k + i)
        before = len(receiver.arrivals)
        cpu0 = pid_cpu_seconds(server.pid)
        t0 = time.time()
        burst = await paced(practices, clients, args.burst_rate, args.burst_seconds, first_day)
        expected = len(burst) * args.fanout
        t1 = await drained(lambda: len(receiver.arrivals) - before, expected, 120)
        cpu_burst = pid_cpu_seconds(server.pid) - cpu0
        got = receiver.arrivals[before:]
        last = max((t for _, _, t, _ in got), default=t1)
        span = last - t0
        per_sub = defaultdict(list)
        for path, _, _, payload in got:
            per_sub[path].append(payload["data"]["booking_id"])
        unique = len({(path, wid) for path, wid, _, _ in got})
        throughput = {
            "changes": len(burst), "fanout": args.fanout, "expected": expected, "received": len(got),
            "unique": unique, "missing": expected - unique, "seconds": span,
            "deliveries_per_s": len(got) / span if span > 0 else float("nan"),
            "server_cpu_s": cpu_burst,
            "deliveries_per_server_core_s": len(got) / cpu_burst if cpu_burst > 0 else float("nan"),
            "delivery_lag_p99_ms": pct([t - at_of(p["data"]) for _, _, t, p in got], 0.99) * 1000,
        }
        return {"config": vars(args), "machine": machine(), "latency": latency, "throughput": throughput,
                "refused_signatures": receiver.refused}
    finally:
        for rt in sockets:
            await rt.close()
        for c in everyone:
            await c.close()
        stop(server)
        await runner.cleanup()
        conn = await asyncpg.connect(admin)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


def report(r: dict[str, Any]) -> str:
    lat, thr = r["latency"], r["throughput"]
    w, s = lat["webhook"], lat["socket_feed"]
    p99_ok = w["p99_ms"] < 1000 and w["missing"] == 0
    thr_ok = thr["deliveries_per_s"] >= 1000 and thr["missing"] == 0
    c = r["config"]
    return f"""# Webhook delivery (bench/webhook_bench.py)

{r["machine"]["when"]}, {r["machine"]["cpus"]} CPUs, Python {r["machine"]["python"]}. One `klear serve` process
without Redis on CPU {c["server_cpu"]} (webhook concurrency {c["concurrency"]}); PostgreSQL, the generator, the
receiver and the Socket.IO reference clients share the machine. The machine was shared with other engineers' work
during the run, so absolute figures are noisy.

## Latency from a booking change to a local receiver

{lat["changes"]} booking changes at {c["rate"]}/s over {c["practitioners"]} practitioners, one subscription each.
Measured from the event's `at` (the server's clock, before commit) to arrival.

| path | received | p50 | p99 | max |
| --- | --- | --- | --- | --- |
| webhook (signed, verified by the SDK) | {w["received"]} ({w["missing"]} missing, {w["duplicates"]} duplicates) | {w["p50_ms"]:.1f} ms | {w["p99_ms"]:.1f} ms | {w["max_ms"]:.1f} ms |
| reference: Socket.IO booking feed | {s["received"]} | {s["p50_ms"]:.1f} ms | {s["p99_ms"]:.1f} ms | {s["max_ms"]:.1f} ms |

Webhook p99 / socket p99: **{w["p99_ms"] / s["p99_ms"]:.2f}x**. Target p99 < 1 s: **{"met" if p99_ok else "missed"}**.

## Deliveries per second, one process

{thr["changes"]} changes at {c["burst_rate"]}/s, each to {thr["fanout"]} subscriptions: {thr["expected"]} deliveries
expected, {thr["received"]} received ({thr["missing"]} missing), in {thr["seconds"]:.1f} s from the first change to
the last delivery: **{thr["deliveries_per_s"]:.0f} deliveries/s**, {thr["deliveries_per_server_core_s"]:.0f} per
server core-second ({thr["server_cpu_s"]:.1f} s of server CPU); delivery lag p99 {thr["delivery_lag_p99_ms"]:.0f} ms.
Target ≥ 1,000/s per process: **{"met" if thr_ok else "missed"}**.
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--practitioners", type=int, default=10)
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--rate", type=float, default=50.0, help="booking changes a second in the latency phase (< 100)")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--fanout", type=int, default=20, help="subscriptions per practitioner in the throughput phase")
    ap.add_argument("--burst-rate", type=float, default=90.0)
    ap.add_argument("--burst-seconds", type=float, default=10.0)
    ap.add_argument("--concurrency", type=int, default=32, help="KLEAR_WEBHOOK_CONCURRENCY of the server")
    ap.add_argument("--server-cpu", type=int, default=0)
    ap.add_argument("--client-cpu", type=int, default=1)
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {args.client_cpu})
    import uvloop

    result = uvloop.run(run(args))
    write("webhooks", result, report(result))


if __name__ == "__main__":
    main()
