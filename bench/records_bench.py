"""Records benchmark (issue 12 targets), against a real `klear serve` (bench/records_server.py).

1. Reading a sealed record through the API vs the same read of a plaintext copy, in the same run: the same
   server process serves two clients' records, one sealed with the client's data key, the other kept in
   clear (the only difference: bench/records_server.py hands out an identity sealer for that client). Both
   are read by their owner (no audit) and by a practitioner under a consent grant (each read audited).
   Reported: requests/s and server CPU per request, the ratio sealed / plaintext. Target >= 0.7x.
2. The audit append (target: adds < 1 ms p99 to a request), two ways, one reader/writer and 8 concurrent:
   a. on a request's critical path: what a practitioner's record read does once access is decided (the
      sealed record read and opened) alone, against the same read through `records.access.read_audited`,
      which production uses and which returns only once the audit entry is committed. Added = the p99
      difference: what a request waits for its entry.
   b. the append alone: `storage.audit.record` round trips (hash chain, head-row lock) against an insert
      into an identical table without the chain: what the chain costs over a plain insert.
3. Export of a person with --messages messages, --bookings bookings and --attachment-mb MB of attachments:
   from GET /me/export to the downloaded archive. Target < 10 s.

    .venv/bin/python bench/records_bench.py [--duration 5] [--rounds 3] [--concurrency 16]

Server pinned to CPU 0, this script (the load generator) to CPU 1 when there are two. Writes
bench/results/records.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg

from common import RESULTS, ROOT, free_port, pid_cpu_seconds, pinned, server_env, wait_http

sys.path.insert(0, str(ROOT))
from scheduler.bookings import Deps, book  # noqa: E402
from server.auth.passwords import Passwords  # noqa: E402
from server.auth.tokens import Tokens  # noqa: E402
from server.config import load  # noqa: E402
from server.keys import resolve  # noqa: E402
from records.access import Actor, read_audited  # noqa: E402
from server.runtime import load_keyring  # noqa: E402
from storage import accounts, audit, availability, messages, practitioners  # noqa: E402
from storage import records as records_store  # noqa: E402
from storage.availability import WeeklyRule  # noqa: E402
from storage.bus import MemoryBus  # noqa: E402
from storage.clock import Clock  # noqa: E402
from storage.crypto import Sealer  # noqa: E402
from storage.database import Database  # noqa: E402
from storage.migrate import migrate  # noqa: E402
from storage.practitioners import Rules  # noqa: E402

ADMIN_URL = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
KEYS = {"KLEAR_SECRET_KEY": "bench-secret-" + "s" * 40, "KLEAR_DATA_KEY": "bench-data-key-" + "d" * 40}
MARKER = "plaintext-marker-4711"
TEXT = ("Migraine with aura since 2019; triggered by poor sleep. " * 36)[:2000]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


class Setup:
    """A fresh database with a practitioner, two clients (one sealed, one in clear), bookings and messages."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.name = f"klear_bench_records_{secrets.token_hex(3)}"
        self.url = ADMIN_URL.rsplit("/", 1)[0] + "/" + self.name
        self.env = {**KEYS, "DATABASE_URL": self.url}

    async def create(self) -> Database:
        admin = await asyncpg.connect(ADMIN_URL)
        await admin.execute(f'CREATE DATABASE "{self.name}"')
        await admin.close()
        conn = await asyncpg.connect(self.url)
        await migrate(conn)
        await conn.close()
        keys = resolve(load(env=self.env))
        self.tokens = Tokens(keys.jwt, 7200)
        db = await Database.connect(self.url, Sealer(keys.data), min_size=1, max_size=10)  # the server's default pool
        await load_keyring(db, keys)
        hashed = await Passwords().hash("bench passphrase 1234")

        async def user(role: str, name: str) -> accounts.User:
            return await accounts.create_user(db, email=f"{role}-{secrets.token_hex(4)}@bench.test", password_hash=hashed,
                                              display_name=name, role=role, time_zone="UTC")

        self.practitioner = await user("practitioner", "Bench Practitioner")
        self.sealed = await user("client", "Sealed Client")
        self.plain = await user("client", "Plain Client")
        await practitioners.save_profile(db, self.practitioner.id, bio="", modalities=["yoga"], languages=["en"],
                                         time_zone="UTC", rules=Rules(0, 0, 0, 730, None, 60, 1440))
        offering = await practitioners.create_offering(db, self.practitioner.id, {
            "name": "Session", "duration_min": 60, "price_minor": 5000, "currency": "EUR", "mode": "video"})
        await availability.replace_hours(db, self.practitioner.id, [WeeklyRule(d, 0, 24 * 60) for d in range(1, 8)], [])
        deps = Deps(db, MemoryBus(), Clock(), email=False)
        await deps.bus.start()
        first = (datetime.now(UTC) + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
        conversations = []
        for i in range(self.args.bookings):
            detail, _ = await book(deps, self.sealed, offering_id=offering.id, start=first + timedelta(days=i),
                                   note="Lower back pain", key=uuid.uuid4().hex)
            conversations.append(detail.booking.conversation_id)
        await deps.bus.stop()
        batch = [messages.NewMessage(conversations[i % len(conversations)],
                                     self.sealed.id if i % 2 else self.practitioner.id, uuid.uuid4(),
                                     body=f"Message {i}: how did the stretches go this week?")
                 for i in range(self.args.messages)]
        for start in range(0, len(batch), 200):
            await messages.post_batch(db, batch[start:start + 200])
        self.token = {}
        for who in (self.practitioner, self.sealed, self.plain):
            session = await accounts.create_session(db, who.id, secrets.token_bytes(32), 86400)
            self.token[who.id] = self.tokens.issue_access(who.id, who.role, session, ttl=7200)[0]
        return db

    async def drop(self) -> None:
        admin = await asyncpg.connect(ADMIN_URL)
        await admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        await admin.close()


async def load_run(base: str, token: str, path: str, seconds: float, concurrency: int, pid: int) -> dict[str, Any]:
    """`concurrency` connections reading `path` for `seconds`: requests/s, latency, server CPU per request."""
    latencies: list[float] = []
    errors = 0
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:
        deadline = time.monotonic() + seconds
        cpu0 = pid_cpu_seconds(pid)

        async def worker() -> None:
            nonlocal errors
            while time.monotonic() < deadline:
                t = time.perf_counter()
                async with http.get(base + path, headers=headers) as resp:
                    await resp.read()
                    if resp.status != 200:
                        errors += 1
                latencies.append(time.perf_counter() - t)

        start = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.monotonic() - start
        cpu = pid_cpu_seconds(pid) - cpu0
    n = len(latencies)
    return {"requests": n, "errors": errors, "rps": n / elapsed, "p50_ms": pct(latencies, 0.5) * 1000,
            "p99_ms": pct(latencies, 0.99) * 1000, "server_cpu_us_per_request": cpu / max(n, 1) * 1e6}


async def measure_audit(db: Database, n: int, record_id: uuid.UUID, reader: uuid.UUID) -> dict[str, Any]:
    """A record read with and without its audit entry, then the chained append vs a plain insert."""
    async with db.connection("bench") as conn:
        await conn.execute("CREATE TABLE bench_audit_plain (LIKE audit_log INCLUDING DEFAULTS INCLUDING IDENTITY)")
    subject = uuid.uuid4()

    async def chained() -> None:
        await audit.record(db, actor_id=uuid.uuid4(), action="record.read", subject_id=subject,
                           resource=f"record:{uuid.uuid4()}", request_id=secrets.token_hex(8), reason="grant:bench")

    async def plain() -> None:
        await db.execute("bench.plain", """INSERT INTO bench_audit_plain (actor_id, action, subject_id, resource,
            request_id, reason, outcome) VALUES ($1, $2, $3, $4, $5, $6, 'allowed')""",
                         uuid.uuid4(), "record.read", subject, f"record:{uuid.uuid4()}", secrets.token_hex(8), "grant:bench")

    async def timed(op: Any, writers: int) -> list[float]:
        out: list[float] = []

        async def one() -> None:
            for _ in range(n // writers):
                t = time.perf_counter()
                await op()
                out.append(time.perf_counter() - t)

        await asyncio.gather(*(one() for _ in range(writers)))
        return out

    meta = await records_store.meta(db, record_id)
    assert meta is not None
    actor = Actor(reader, "practitioner", "bench", datetime.now(UTC))

    async def read() -> None:
        await records_store.latest(db, await db.keys.sealer_for(db, meta.client_id), [meta])

    async def read_with_entry() -> None:
        await read_audited(db, actor, "record.read", meta.client_id, f"record:{meta.id}", "grant:bench", read())

    result: dict[str, Any] = {}
    for writers in (1, 8):
        for label, op in (("read", read), ("read_audited", read_with_entry)):
            await timed(op, writers)  # warm-up
            got = await timed(op, writers)
            result[f"{label}_{writers}"] = {"p50_ms": pct(got, 0.5) * 1000, "p99_ms": pct(got, 0.99) * 1000}
        result[f"request_added_p99_ms_{writers}"] = (result[f"read_audited_{writers}"]["p99_ms"]
                                                     - result[f"read_{writers}"]["p99_ms"])
        for label, op in (("plain", plain), ("chained", chained)):
            await timed(op, writers)  # warm-up
            got = await timed(op, writers)
            result[f"{label}_{writers}"] = {"p50_ms": pct(got, 0.5) * 1000, "p99_ms": pct(got, 0.99) * 1000}
        result[f"added_p99_ms_{writers}"] = result[f"chained_{writers}"]["p99_ms"] - result[f"plain_{writers}"]["p99_ms"]
    verdict = await audit.verify(db)
    result["chain_intact_after"] = verdict.ok
    result["chain_entries"] = verdict.checked
    return result


async def measure_export(base: str, token: str, megabytes: int) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http:
        pieces = max(1, (megabytes + 4) // 5)
        for i in range(pieces):
            size = megabytes * 1024 * 1024 // pieces
            data = b"%PDF-1.7\n" + os.urandom(size - 9)
            async with http.post(f"{base}/api/v1/records/attachments", data=data, headers=headers,
                                 params={"filename": f"scan-{i}.pdf", "content_type": "application/pdf"}) as resp:
                assert resp.status == 201, await resp.text()
        start = time.monotonic()
        while True:
            async with http.get(f"{base}/api/v1/me/export", headers=headers) as resp:
                body = await resp.json()
            if body["status"] == "ready":
                break
            await asyncio.sleep(0.05)
        async with http.get(base + body["download_url"]) as resp:
            archive = await resp.read()
        seconds = time.monotonic() - start
    doc = json.loads(zipfile.ZipFile(io.BytesIO(archive)).read("export.json"))
    return {"seconds": seconds, "archive_bytes": len(archive), "bookings": len(doc["bookings"]),
            "messages": len(doc["messages"]), "attachments": len([r for r in doc["records"] if r["kind"] == "attachment"])}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    setup = Setup(args)
    db = await setup.create()
    port = free_port()
    data_dir = tempfile.mkdtemp(prefix="klear-bench-records-")
    env = server_env({**setup.env, "KLEAR_PORT": str(port), "KLEAR_DATA_DIR": data_dir, "KLEAR_LOG_LEVEL": "warning",
                      "KLEAR_DB_POOL_MAX": "10"})
    proc = subprocess.Popen(pinned([sys.executable, str(ROOT / "bench" / "records_server.py"), "--plaintext-owner",
                                    str(setup.plain.id)], 0), cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{port}/readyz")
        base = f"http://127.0.0.1:{port}"
        record: dict[uuid.UUID, str] = {}
        async with aiohttp.ClientSession() as http:
            for who in (setup.sealed, setup.plain):
                h = {"Authorization": f"Bearer {setup.token[who.id]}"}
                async with http.post(f"{base}/api/v1/records/history", headers=h, json={
                        "category": "condition", "title": "Migraine", "text": MARKER + " " + TEXT}) as resp:
                    record[who.id] = (await resp.json())["id"]
                async with http.post(f"{base}/api/v1/consents", headers=h, json={
                        "practitioner_id": str(setup.practitioner.id), "scopes": ["history"],
                        "expires_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()}) as resp:
                    assert resp.status == 201, await resp.text()
        stored = await db.fetch("bench.stored", "SELECT r.client_id, v.body_sealed FROM health_records r "
                                "JOIN health_record_versions v ON v.record_id = r.id")
        in_clear = {r["client_id"]: MARKER.encode() in bytes(r["body_sealed"]) for r in stored}
        assert in_clear == {setup.plain.id: True, setup.sealed.id: False}, in_clear

        reads: dict[str, Any] = {}
        for reader in ("owner", "practitioner"):
            rounds: dict[str, list[dict[str, Any]]] = {"sealed": [], "plaintext": []}
            for r in range(args.rounds):
                order = [("sealed", setup.sealed), ("plaintext", setup.plain)]
                for label, who in (order if r % 2 == 0 else order[::-1]):
                    token = setup.token[who.id if reader == "owner" else setup.practitioner.id]
                    rounds[label].append(await load_run(base, token, f"/api/v1/records/{record[who.id]}",
                                                        args.duration, args.concurrency, proc.pid))
            med = {k: {m: statistics.median(x[m] for x in v) for m in v[0]} for k, v in rounds.items()}
            reads[reader] = {"rounds": rounds, "median": med,
                             "ratio_rps": med["sealed"]["rps"] / med["plaintext"]["rps"],
                             "ratio_cpu": med["plaintext"]["server_cpu_us_per_request"]
                             / med["sealed"]["server_cpu_us_per_request"]}
        audit_result = await measure_audit(db, args.audit_appends, record[setup.sealed.id], setup.practitioner.id)
        export_result = await measure_export(base, setup.token[setup.sealed.id], args.attachment_mb)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        await db.close()
        await setup.drop()
    return {"reads": reads, "audit": audit_result, "export": export_result}


def write(args: argparse.Namespace, result: dict[str, Any]) -> None:
    config = {k: v for k, v in vars(args).items()}
    out = {"benchmark": "records", "date": datetime.now(UTC).isoformat(), "machine": platform.node(),
           "cpus": os.cpu_count(), "config": config,
           "load_average_after": ", ".join(f"{x:.2f}" for x in os.getloadavg()), **result}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "records.json").write_text(json.dumps(out, indent=1, default=str))
    lines = [
        "# Records benchmark (issue 12)", "",
        f"{out['date']}, {out['cpus']} CPUs, load average at the end {out['load_average_after']} (1, 5, 15 min). Server `bench/records_server.py` (= `klear serve`, one process, no Redis) on CPU 0, "
        f"load generator on CPU 1; {args.concurrency} connections, {args.duration} s x {args.rounds} rounds per "
        "subject, alternating order; medians.", "",
        "## Reading a sealed record vs its plaintext copy, through the API (target >= 0.7x)", "",
        "| reader | subject | req/s | p50 ms | p99 ms | server CPU µs/req |", "| --- | --- | --- | --- | --- | --- |",
    ]
    for reader, r in result["reads"].items():
        for label in ("sealed", "plaintext"):
            m = r["median"][label]
            lines.append(f"| {reader} | {label} | {m['rps']:.0f} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f} | "
                         f"{m['server_cpu_us_per_request']:.0f} |")
    lines += [""] + [f"- {reader}: sealed / plaintext = **{r['ratio_rps']:.2f}x** req/s, **{r['ratio_cpu']:.2f}x** "
                     "by server CPU per request" for reader, r in result["reads"].items()]
    a = result["audit"]
    lines += ["", "## Audit append (target: adds < 1 ms p99 to a request)", "",
              "On a request's critical path: the sealed record read a practitioner's request makes once access is "
              "decided, alone and through `read_audited` (the entry is appended while the record is read, and the "
              "answer waits until it is committed).", "",
              "| readers | read p50 / p99 ms | read + audit entry p50 / p99 ms | added p99 ms |", "| --- | --- | --- | --- |"]
    for w in (1, 8):
        lines.append(f"| {w} | {a[f'read_{w}']['p50_ms']:.3f} / {a[f'read_{w}']['p99_ms']:.3f} | "
                     f"{a[f'read_audited_{w}']['p50_ms']:.3f} / {a[f'read_audited_{w}']['p99_ms']:.3f} | "
                     f"**{a[f'request_added_p99_ms_{w}']:.3f}** |")
    lines += ["", "The append alone, against the same insert into a table without the chain (what the chain costs):", "",
              "| writers | plain insert p50 / p99 ms | chained append p50 / p99 ms | added p99 ms |", "| --- | --- | --- | --- |"]
    for w in (1, 8):
        lines.append(f"| {w} | {a[f'plain_{w}']['p50_ms']:.3f} / {a[f'plain_{w}']['p99_ms']:.3f} | "
                     f"{a[f'chained_{w}']['p50_ms']:.3f} / {a[f'chained_{w}']['p99_ms']:.3f} | {a[f'added_p99_ms_{w}']:.3f} |")
    lines += ["", f"`klear audit verify`'s check after the run: {a['chain_entries']} entries, "
              f"{'intact' if a['chain_intact_after'] else 'BROKEN'} (concurrent appends chain in one order)."]
    e = result["export"]
    lines += ["", "## Export (target < 10 s)", "",
              f"{e['bookings']} bookings, {e['messages']} messages, {e['attachments']} attachments "
              f"({args.attachment_mb} MB, incompressible): **{e['seconds']:.2f} s** from GET /me/export to the "
              f"downloaded archive ({e['archive_bytes'] / 1e6:.1f} MB).", ""]
    (RESULTS / "records.md").write_text("\n".join(lines))
    print("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--audit-appends", type=int, default=2000)
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--bookings", type=int, default=100)
    ap.add_argument("--attachment-mb", type=int, default=20)
    args = ap.parse_args()
    if (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {1})
    write(args, asyncio.run(run(args)))


if __name__ == "__main__":
    main()
