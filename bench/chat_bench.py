"""Persisted chat: acked messages/s stored and delivered in two-person conversations, per process,
in both shapes in one run: one process without Redis, and N processes sharing Redis.

N conversations; in each, a sender keeps one `message:send` in flight and the other member receives
`message:new` (bench/chat/pairs.js, the official socket.io-client, CPU 1). A message counts when its
ack came back, which means it was stored in PostgreSQL first. Reported per shape: acked and delivered
messages/s, per process and per server core, p50/p99 ack and send-to-receive latency, and the delivery
check (every acked message received once, in seq order).

Shapes (flags only; REDIS_URL and KLEAR_* from the environment are ignored, see common.server_env):
- `klear serve` alone, no Redis, on CPU 0;
- --processes single-worker `klear serve` processes sharing --redis, each member of each
  conversation connected to one of them at random (so most conversations cross processes), all on
  --server-cpus (default CPU 0: the same one core as the first shape, so "acked per server
  core-second" compares the same CPU; on a machine with a spare core per process, give each one).
"Per process" targets are judged on acked messages per server core-second, which is acked/s per
process when each process has a core of its own.

Reference in the same run: the raw database limit, bare asyncpg single-row INSERT transactions/s into
a table shaped like `messages`, from 32 concurrent connections (asyncpg pool; Python on CPU 1).

    python bench/chat_bench.py [--pairs 200] [--duration 10] [--processes 2] [--redis URL | --no-redis]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import time
import uuid
from typing import Any

import asyncpg

from common import (ROOT, add_shape_flags, budget, ensure_node_modules, machine, metric, named_cpu_seconds,
                    pid_cpu_seconds, pinned, postgres_cpu_seconds, release, shapes, write)
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


TARGET_PER_PROCESS, TARGET_RATIO = 3000, 0.8


BUS_COUNTER = "klear_bus_messages_received_total"


def two_person_conversations(klear: Klear, count: int) -> list[dict[str, Any]]:
    """`count` conversations of two fresh users each, as the generator takes them: who sends, who receives."""
    users = klear.run(klear.users(count * 2))
    pairs = []
    for sender, receiver in zip(users[::2], users[1::2], strict=True):
        cid = klear.run(klear.conversation([sender, receiver]))
        pairs.append({"conversation_id": str(cid), "sender": sender.token, "receiver": receiver.token})
    return pairs


def measure(klear: Klear, pairs: list[dict[str, Any]], shape: dict[str, Any], cpus: list[int | None],
            args: argparse.Namespace, process_cores: float = 0) -> dict[str, Any]:
    """One shape: start its servers (each capped to `process_cores` of a core when > 0 and possible),
    place each member on one of them at random, run the generator, and read each server's bus counter
    around it (None where the server has no such counter). Shared with cluster_curve.py."""
    rng = random.Random(args.seed)
    ports = klear.cluster(shape["processes"], shape["redis"], cpus)
    groups = budget([p.pid for p in klear.procs], process_cores)
    try:
        bus_before = [metric(port, BUS_COUNTER) for port in ports]
        placed = [{**p, "sender_url": f"http://127.0.0.1:{rng.choice(ports)}",
                   "receiver_url": f"http://127.0.0.1:{rng.choice(ports)}"} for p in pairs]
        pairs_file = f"/tmp/{klear.db_name}-pairs.json"
        with open(pairs_file, "w") as f:
            json.dump(placed, f)
        pids = [p.pid for p in klear.procs]

        def cpu() -> tuple[float, ...]:
            """CPU seconds so far of the servers, PostgreSQL, Redis and the generator: read at the start and the
            end of the measured window (pairs.js marks both on stderr), so connecting, joining, warm-up and
            draining count neither in the messages nor in the CPU they are divided by."""
            return (sum(pid_cpu_seconds(p) for p in pids), postgres_cpu_seconds(), named_cpu_seconds("redis-server"),
                    pid_cpu_seconds(generator.pid))

        generator = subprocess.Popen(pinned(["node", str(ROOT / "bench" / "chat" / "pairs.js"),
                                             f"http://127.0.0.1:{ports[0]}", pairs_file, str(args.warmup),
                                             str(args.duration)], 1),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        marks: dict[str, tuple[tuple[float, ...], float]] = {}
        said: list[str] = []
        assert generator.stderr is not None
        for line in generator.stderr:
            if line.startswith("klear-bench: window "):
                marks[line.split()[-1]] = (cpu(), time.monotonic())
            else:
                said.append(line)
        stdout, _ = generator.communicate(timeout=600)
        if generator.returncode != 0 or len(marks) != 2:
            raise RuntimeError("".join(said)[-2000:])
        (start, t0), (end, t1) = marks["start"], marks["end"]
        cores = dict(zip(("server", "postgres", "redis", "generator"),
                         (round((a - b) / (t1 - t0), 2) for a, b in zip(end, start))))
        bus = [None if b is None else (metric(port, BUS_COUNTER) or 0) - b for port, b in zip(ports, bus_before)]
        os.unlink(pairs_file)
    finally:
        klear.stop_all()
        release(groups)
    res = json.loads(stdout.strip().splitlines()[-1])
    res["cores"] = cores
    res["process_cores_budget"] = process_cores if groups else None
    res["processes_detail"] = [{"port": port, "bus_messages_received": b,
                                "delivered_to_local_sockets": res["received_by_url"].get(f"http://127.0.0.1:{port}", 0)}
                               for port, b in zip(ports, bus)]
    res["acked_per_s_per_process"] = res["acked_per_s"] / shape["processes"]
    res["acked_per_server_core_s"] = res["acked_per_s"] / max(res["cores"]["server"], 1e-9)
    check = res["delivery_check"]
    res["delivery_ok"] = not (check["missing"] or check["duplicate_or_reordered"] or check["gaps"] or check["without_seq"])
    return {**shape, "server_cpus": cpus, **res}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=200)
    ap.add_argument("--warmup", type=float, default=3)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--server-cpus", default="0", help="CPUs of the Redis shape's processes, comma-separated (default 0)")
    ap.add_argument("--seed", type=int, default=1, help="placement of members on processes")
    ap.add_argument("--out", default="chat_persisted", help="result name in bench/results (default chat_persisted)")
    add_shape_flags(ap)
    args = ap.parse_args()
    ensure_node_modules()
    cpus = [int(c) for c in args.server_cpus.split(",")]

    klear = Klear("chat")
    klear.run(klear.create())
    try:
        pairs = two_person_conversations(klear, args.pairs)
        runs = []
        for shape in shapes(args):
            runs.append(measure(klear, pairs, shape, [0] if shape["processes"] == 1 else cpus, args))
            r = runs[-1]
            print(f"{r['name']}: {r['acked_per_s']:,.0f} acked/s, {r['acked_per_server_core_s']:,.0f} per server core-s, "
                  f"delivery {r['delivery_check']}", flush=True)
    finally:
        klear.close()
    raw = asyncio.run(raw_insert_rate(args.duration))

    alone = runs[0]
    targets = [(f"one process, no Redis: ≥ {TARGET_PER_PROCESS:,} acked/s",
                alone["acked_per_s"] >= TARGET_PER_PROCESS)]
    if len(runs) > 1:
        shared = runs[1]
        ratio = shared["acked_per_server_core_s"] / max(alone["acked_per_server_core_s"], 1e-9)
        shared["ratio_to_no_redis"] = ratio
        targets += [(f"with Redis: ≥ {TARGET_PER_PROCESS:,} acked/s per process (per server core-second)",
                     shared["acked_per_server_core_s"] >= TARGET_PER_PROCESS),
                    (f"with Redis: ≥ {TARGET_RATIO}x the same server without Redis (per server core-second): {ratio:.2f}x",
                     ratio >= TARGET_RATIO)]
    targets.append(("no loss, duplicates or reordering", all(r["delivery_ok"] for r in runs)))
    config = {"pairs": args.pairs, "warmup": args.warmup, "duration": args.duration, "seed": args.seed,
              "generator_cpu": 1, "shapes": [{k: r[k] for k in ("name", "processes", "redis", "server_cpus")} for r in runs]}
    result = {"benchmark": "chat_persisted", "machine": machine(), "config": config, "runs": runs,
              "raw_asyncpg_insert_tx_per_s": raw, "fraction_of_raw": alone["acked_per_s"] / raw,
              "targets": [{"target": t, "met": ok} for t, ok in targets], "met": all(ok for _, ok in targets)}
    rows = "\n".join(
        f"| {r['name']} (CPUs {','.join(map(str, r['server_cpus']))}) | {r['acked_per_s']:,.0f} | "
        f"{r['acked_per_s_per_process']:,.0f} | {r['acked_per_server_core_s']:,.0f} | "
        f"{r.get('ratio_to_no_redis', 1.0):.2f}x | {r['delivered_per_s']:,.0f} | "
        f"{r['ack_ms']['p50']:.2f} / {r['ack_ms']['p99']:.2f} | {r['e2e_ms']['p50']:.2f} / {r['e2e_ms']['p99']:.2f} | "
        f"{r['cores']['server']} / {r['cores']['postgres']} / {r['cores']['redis']} / {r['cores']['generator']} | "
        f"{r['errors']} | {r['delivery_check']['missing']} / {r['delivery_check']['duplicate_or_reordered']} / "
        f"{r['delivery_check']['gaps']} |" for r in runs)
    md = f"""# Persisted chat, without and with Redis ({machine()['when']})

{args.pairs} two-person conversations; each sender keeps one `message:send` in flight (acked only once stored
in PostgreSQL); the other member receives `message:new`. Generator: the official socket.io-client under node
on CPU 1. {args.duration:.0f} s measured after {args.warmup:.0f} s, per shape, one after the other in this run.
With Redis, each member is connected to one of the processes at random (seed {args.seed}). CPU (cores) is
read at the start and the end of the measured window, the same window the messages are counted in.

| shape | acked/s | acked/s per process | acked per server core-s | ratio to no Redis | delivered/s | ack p50 / p99 ms | send→receive p50 / p99 ms | cores: server / PostgreSQL / Redis / generator | errors | missing / dup-or-reordered / gaps |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
{rows}

Reference, same run: bare asyncpg single-row INSERT transactions from 32 connections: **{raw:,.0f}/s**
(one process without Redis acks {alone['acked_per_s'] / raw:.2f}x that; each of ours is a membership check, a
seq under a row lock, a sealed insert and a fan-out, stored in batches by group commit).

Targets:

""" + "\n".join(f"- {t}: **{'met' if ok else 'missed'}**" for t, ok in targets) + "\n"
    write(args.out, result, md)


if __name__ == "__main__":
    main()
