"""Scale-out: deliveries/s of our server as one process and as two processes sharing Redis.

The same fan-out load as bench/fanout_bench.py's `klear` subject (1,000
authenticated subscribers in one conversation, a publisher of persisted
`message:send`), but with enough publishes in flight (--window, default 8)
to saturate the server rather than measure one publish's round trip, against `klear serve --workers 1` and
`--workers 2`. With two workers the kernel spreads connections over them
(SO_REUSEPORT); each message is stored by the worker that took it and
reaches the other through Redis. Both configurations use Redis, so the only
difference is the number of processes.

This machine has 2 cores, which the load generator, PostgreSQL and Redis
also need: unconstrained, one worker already saturates the machine and a
second one has nowhere to run. So every worker process gets the same CPU
budget through a cgroup CFS quota (--worker-cores, default 0.4 of a core),
and the comparison is one budgeted process against two equally budgeted ones,
which is what adding a process on a machine with spare cores does. Server CPU
(all worker processes) is recorded; quotas need root and cgroup v1's cpu
controller, and without them the run is unconstrained and says so. The
quota mechanism is common.budget, shared with cluster_curve.py.

    python bench/scaleout_bench.py [--rounds 2] [--duration 10] [--redis URL]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import time
from pathlib import Path

import psutil

from common import DEFAULT_REDIS, ROOT, budget, free_port, machine, release, wait_http, workers_of, write
from klear_fixture import Klear

FANOUT = ROOT / "bench" / "fanout"


def cpu_seconds(proc: psutil.Process) -> float:
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            continue
    return total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--warmup", type=float, default=3)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--window", type=int, default=8)
    ap.add_argument("--worker-cores", type=float, default=0.4)
    ap.add_argument("--redis", default=DEFAULT_REDIS, metavar="URL",
                    help=f"Redis both configurations share (default {DEFAULT_REDIS}); never read from REDIS_URL")
    args = ap.parse_args()
    redis_url = args.redis

    klear = Klear("scaleout")
    klear.run(klear.create())
    users = klear.run(klear.users(args.clients + 1))
    publisher, subscribers = users[0], users[1:]
    cid = str(klear.run(klear.conversation(users)))
    auth_file = f"/tmp/{klear.db_name}-auth.json"
    with open(auth_file, "w") as f:
        json.dump([{"token": u.token} for u in subscribers], f)
    loadgen_args = [
        "--auth-file", auth_file, "--publisher-auth", json.dumps({"token": publisher.token}),
        "--join-event", "conversation:join", "--join-args", json.dumps([{"conversation_id": cid, "last_seq": 2**53 - 1}]),
        "--publish-event", "message:send",
        "--publish-args", json.dumps([{"conversation_id": cid, "client_id": "__UUID__", "body": "__TS__" + "x" * 76}]),
        "--deliver-event", "message:new",
    ]
    runs: dict[int, list[dict]] = {1: [], 2: []}
    budgeted = False
    try:
        for _ in range(args.rounds):
            for workers in (1, 2):
                port = free_port()
                server = klear.start(port, None, REDIS_URL=redis_url, KLEAR_WORKERS=str(workers),
                                     KLEAR_REDIS_PREFIX=f"scale{secrets.token_hex(3)}")
                groups: list[Path] = []
                try:
                    wait_http(f"http://127.0.0.1:{port}/readyz")
                    proc = psutil.Process(server.pid)
                    groups = budget(workers_of(server.pid, workers), args.worker_cores)
                    cmd = ["node", str(FANOUT / "loadgen.js"), "--url", f"http://127.0.0.1:{port}",
                           "--clients", str(args.clients), "--workers", "1", "--window", str(args.window),
                           "--warmup", str(args.warmup), "--duration", str(args.duration),
                           "--payload-bytes", "100", *loadgen_args]
                    gen = subprocess.Popen(cmd, cwd=FANOUT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                    time.sleep(args.warmup + 2)  # connect + warm-up
                    cpu0, t0 = cpu_seconds(proc), time.monotonic()
                    out, err = gen.communicate(timeout=args.warmup + args.duration + 120)
                    server_cores = (cpu_seconds(proc) - cpu0) / (time.monotonic() - t0)
                    if gen.returncode != 0:
                        raise RuntimeError(err[-2000:])
                    res = json.loads(out.strip().splitlines()[-1])
                    res["server_cores"] = round(server_cores, 2)
                    runs[workers].append(res)
                    print(workers, "worker(s):", res["deliveries_per_s"], "deliveries/s, server cores", res["server_cores"],
                          flush=True)
                finally:
                    klear.stop_all()
                    release(groups)
                    budgeted = bool(groups)
    finally:
        klear.close()
        os.unlink(auth_file)

    def median(workers: int, key: str) -> float:
        return statistics.median(float(r[key]) for r in runs[workers])

    one, two = median(1, "deliveries_per_s"), median(2, "deliveries_per_s")
    ratio = two / one
    per_core = {w: statistics.median(r["deliveries_per_s"] / max(r["server_cores"], 1e-9) for r in runs[w]) for w in (1, 2)}
    config = {"clients": args.clients, "window": args.window, "warmup": args.warmup, "duration": args.duration,
              "rounds": args.rounds, "redis": redis_url, "processes": [1, 2], "worker_cores": args.worker_cores}
    result = {"benchmark": "scaleout", "machine": machine(), "config": config, "clients": args.clients, "runs": runs,
              "worker_cores_budget": args.worker_cores if budgeted else None,
              "one_process": one, "two_processes": two, "ratio": ratio,
              "deliveries_per_server_core": per_core, "target_ratio": 1.6, "met": ratio >= 1.6}
    budget_note = (f"Each worker process is capped at {args.worker_cores} of a core (cgroup CFS quota), so one and two "
                   "processes are compared at the same CPU per process; the load generator, PostgreSQL and Redis share "
                   "the rest of the 2 CPUs." if budgeted else
                   "Unconstrained (no cgroup quota available): on 2 CPUs the generator, PostgreSQL and Redis compete "
                   "with the workers, so this understates scale-out.")
    md = f"""# Scale-out: one process vs two processes sharing Redis ({machine()['when']})

{args.clients} subscribers of one conversation, persisted `message:send` with {args.window} in flight, {args.rounds} rounds of
{args.duration:.0f} s (median shown). `klear serve --workers N`, both with Redis at {redis_url}. {budget_note}

| processes | deliveries/s | server cores used | deliveries per server core-second |
| --- | --- | --- | --- |
| 1 | {one:,.0f} | {statistics.median(r['server_cores'] for r in runs[1]):.2f} | {per_core[1]:,.0f} |
| 2 | {two:,.0f} | {statistics.median(r['server_cores'] for r in runs[2]):.2f} | {per_core[2]:,.0f} |

Ratio two/one: **{ratio:.2f}x** (target ≥ 1.6x; {'met' if ratio >= 1.6 else 'missed'}).
"""
    write("scaleout", result, md)


if __name__ == "__main__":
    main()
