"""Persisted chat: acked messages/s stored and delivered in two-person conversations, per process.

`klear serve` (one process, CPU 0, default settings, no Redis) hosts N
conversations; in each, a sender keeps one `message:send` in flight and the
other member receives `message:new` (bench/chat/pairs.js, the official
socket.io-client, CPU 1). A message counts when its ack came back, which
means it was stored in PostgreSQL first. Reported: acked and delivered
messages/s, p50/p99 ack latency and send-to-receive latency.

Reference in the same run: the raw database limit, bare asyncpg single-row
INSERT transactions/s into a table shaped like `messages`, from 32 concurrent
connections (asyncpg pool; Python on CPU 1, like the generator).

    python bench/chat_bench.py [--pairs 200] [--duration 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import time
import uuid

import asyncpg

from common import ROOT, free_port, machine, pid_cpu_seconds, pinned, postgres_cpu_seconds, write
from klear_fixture import ADMIN_URL, Klear


async def raw_insert_rate(seconds: float, concurrency: int = 32) -> float:
    """Single-row INSERT transactions/s of bare asyncpg (the database's own limit here)."""
    name = f"klear_bench_raw_{os.getpid()}"
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    pool = await asyncpg.create_pool(url, min_size=concurrency, max_size=concurrency)
    await pool.execute("""CREATE TABLE m (conversation_id uuid, seq bigint, id uuid PRIMARY KEY, sender_id uuid,
                          client_id uuid, body bytea, created_at timestamptz DEFAULT now())""")
    done = 0
    deadline = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal done
        cid, sender = uuid.uuid4(), uuid.uuid4()
        seq = 0
        while time.monotonic() < deadline:
            seq += 1
            await pool.execute("INSERT INTO m (conversation_id, seq, id, sender_id, client_id, body) VALUES ($1,$2,$3,$4,$5,$6)",
                               cid, seq, uuid.uuid4(), sender, uuid.uuid4(), b"x" * 64)
            done += 1

    start = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    rate = done / (time.monotonic() - start)
    await pool.close()
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    await admin.close()
    return rate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=200)
    ap.add_argument("--warmup", type=float, default=3)
    ap.add_argument("--duration", type=float, default=10)
    args = ap.parse_args()

    klear = Klear("chat")
    klear.run(klear.create())
    try:
        users = klear.run(klear.users(args.pairs * 2))
        pairs = []
        for i in range(args.pairs):
            sender, receiver = users[2 * i], users[2 * i + 1]
            cid = klear.run(klear.conversation([sender, receiver]))
            pairs.append({"conversation_id": str(cid), "sender": sender.token, "receiver": receiver.token})
        pairs_file = f"/tmp/{klear.db_name}-pairs.json"
        with open(pairs_file, "w") as f:
            json.dump(pairs, f)
        port = free_port()
        server = klear.start(port, 0)

        def cpu() -> tuple[float, float, float]:
            """CPU seconds so far of the server, PostgreSQL and the generator (our child): taken around the
            generator's whole run (warm-up included), they show which part limits."""
            children = os.times()
            return pid_cpu_seconds(server.pid), postgres_cpu_seconds(), children.children_user + children.children_system

        before = cpu()
        started = time.monotonic()
        out = subprocess.run(pinned(["node", str(ROOT / "bench" / "chat" / "pairs.js"), f"http://127.0.0.1:{port}",
                                     pairs_file, str(args.warmup), str(args.duration)], 1),
                             capture_output=True, text=True, timeout=600)
        wall = time.monotonic() - started
        cores = dict(zip(("server", "postgres", "generator"), (round((a - b) / wall, 2) for a, b in zip(cpu(), before))))
        if out.returncode != 0:
            raise RuntimeError(out.stderr[-2000:])
        ours = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        klear.close()
    raw = asyncio.run(raw_insert_rate(args.duration))

    met = ours["acked_per_s"] >= 3000
    result = {"benchmark": "chat_persisted", "machine": machine(), "pairs": args.pairs, "klear": ours, "cores": cores,
              "raw_asyncpg_insert_tx_per_s": raw, "fraction_of_raw": ours["acked_per_s"] / raw,
              "target_acked_per_s": 3000, "met": met}
    md = f"""# Persisted chat, one process ({machine()['when']})

{args.pairs} two-person conversations; each sender keeps one `message:send` in flight (acked only once stored
in PostgreSQL); the other member receives `message:new`. Server: `klear serve` on CPU 0, default settings, no
Redis. Generator: the official socket.io-client under node on CPU 1. {args.duration:.0f} s measured after {args.warmup:.0f} s.

| | messages/s | ack p50 ms | ack p99 ms | send→receive p50 ms | p99 ms | errors |
| --- | --- | --- | --- | --- | --- | --- |
| klear | {ours['acked_per_s']:,.0f} acked, {ours['delivered_per_s']:,.0f} delivered | {ours['ack_ms']['p50']:.2f} | {ours['ack_ms']['p99']:.2f} | {ours['e2e_ms']['p50']:.2f} | {ours['e2e_ms']['p99']:.2f} | {ours['errors']} |

Cores used during the run: server {cores['server']}, PostgreSQL {cores['postgres']}, generator {cores['generator']}
(the server is pinned to CPU 0, the generator to CPU 1; PostgreSQL takes what is left of both).

Reference, same run: bare asyncpg single-row INSERT transactions from 32 connections: **{raw:,.0f}/s**
(our acked messages are {ours['acked_per_s'] / raw:.2f}x that; each of ours is a membership check, a seq
under a row lock, a sealed insert and a fan-out, stored in batches by group commit).

Target: at least 3,000 acked messages/s per process ({'met' if met else 'missed'}).
"""
    write("chat_persisted", result, md)


if __name__ == "__main__":
    main()
