"""Scale curve: many two-person conversations over N = 1, 2, 4 server processes sharing one Redis.

Why: one 1,000-member room (scaleout_bench.py) has members on every process, so it cannot show
what happens when each process only cares about a small part of the cluster's traffic. Here
every member of every conversation connects to one of the N processes at random, so most
conversations cross processes, and a process that hears the whole cluster's bus traffic pays for
messages it has no one to deliver to.

Each `klear serve` process (one worker, its own port) gets the same CPU share through a cgroup
CFS quota (--process-cores, common.budget, as scaleout_bench.py); all of them share one
PostgreSQL and one Redis (--redis; every N uses Redis, N = 1 included, so only N changes). The
load is bench/chat/pairs.js: each sender keeps one persisted `message:send` in flight.

Reported at each N:
- delivered messages per server core-second (all processes' CPU together);
- bus messages received per process per delivered message: the processes'
  `klear_bus_messages_received_total` (each one's /metrics) over the messages they delivered to
  their own sockets, sum over sum ("n/a" when a server has no such counter). It stays at most 1
  when a process hears only what its sockets need; it grows like N when every process hears
  everything;
- p50/p99 send-to-receive; loss, duplicates and reordering (pairs.js's delivery check).

Targets: delivered per server core-second at the largest N ≥ 0.8x that at N = 1; bus messages per
process per delivered message flat: at most 1 at every N (each message a process delivers came over the
bus at most once, and a process without the conversation's members hears nothing). With members placed
at random it is about 1 - 1/N (0 at N = 1, where everything is local), bounded by 1; a bus that every
process hears gives about N instead, which is what the target rules out. No loss, duplicates or
reordering.
Results go to bench/results/cluster_curve.{json,md} unless --out says otherwise.

    python bench/cluster_curve.py [--counts 1,2,4] [--pairs 400] [--duration 10] [--process-cores 0.2]
"""

from __future__ import annotations

import argparse
from typing import Any

from chat_bench import measure, two_person_conversations
from common import DEFAULT_REDIS, ensure_node_modules, machine, write
from klear_fixture import Klear

TARGET_PER_CORE_RATIO, FLAT_BOUND = 0.8, 1.0


def bus_per_delivered(run: dict[str, Any]) -> float | None:
    """Bus messages a process receives per message it delivers to its own sockets, over all processes
    (sum ÷ sum, so a process that hears traffic but delivers nothing still counts); None without the
    counter. Hearing the whole cluster gives about N; hearing only what local sockets need, at most 1."""
    detail = run["processes_detail"]
    if any(p["bus_messages_received"] is None for p in detail):
        return None
    delivered = sum(p["delivered_to_local_sockets"] for p in detail)
    return sum(p["bus_messages_received"] for p in detail) / delivered if delivered else None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--counts", default="1,2,4", help="numbers of server processes (default 1,2,4)")
    ap.add_argument("--pairs", type=int, default=400)
    ap.add_argument("--warmup", type=float, default=3)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--process-cores", type=float, default=0.2,
                    help="CFS quota of each server process, in cores (default 0.2: 4 processes take 0.8 of a "
                         "core, leaving the rest of a 2-core machine to PostgreSQL, Redis and the generator)")
    ap.add_argument("--redis", default=DEFAULT_REDIS, metavar="URL",
                    help=f"the Redis every N shares (default {DEFAULT_REDIS}); never read from REDIS_URL")
    ap.add_argument("--seed", type=int, default=1, help="placement of members on processes")
    ap.add_argument("--out", default="cluster_curve", help="result name in bench/results (default cluster_curve)")
    args = ap.parse_args()
    counts = [int(n) for n in args.counts.split(",")]
    ensure_node_modules()

    klear = Klear("curve")
    klear.run(klear.create())
    runs = []
    try:
        pairs = two_person_conversations(klear, args.pairs)
        for n in counts:
            shape = {"name": f"{n} process{'es' if n > 1 else ''}, Redis", "processes": n, "redis": args.redis}
            run = measure(klear, pairs, shape, [None], args, process_cores=args.process_cores)
            run["delivered_per_server_core_s"] = run["delivered_per_s"] / max(run["cores"]["server"], 1e-9)
            run["bus_per_process_per_delivered"] = bus_per_delivered(run)
            runs.append(run)
            print(f"N={n}: {run['delivered_per_s']:,.0f} delivered/s, {run['delivered_per_server_core_s']:,.0f} per "
                  f"server core-s, bus/process/delivered {run['bus_per_process_per_delivered']}, "
                  f"e2e p99 {run['e2e_ms']['p99']} ms, delivery {run['delivery_check']}", flush=True)
    finally:
        klear.close()

    first, last = runs[0], runs[-1]
    per_core_ratio = last["delivered_per_server_core_s"] / max(first["delivered_per_server_core_s"], 1e-9)
    bus = [r["bus_per_process_per_delivered"] for r in runs]
    targets: list[tuple[str, bool | None]] = [
        (f"delivered per server core-second at N={last['processes']} ≥ {TARGET_PER_CORE_RATIO}x N={first['processes']}: "
         f"{per_core_ratio:.2f}x", per_core_ratio >= TARGET_PER_CORE_RATIO),
        (f"bus messages per process per delivered message flat: ≤ {FLAT_BOUND:g} at every N "
         f"({', '.join('n/a' if b is None else f'{b:.2f}' for b in bus)})",
         None if None in bus else all(b <= FLAT_BOUND for b in bus)),  # type: ignore[operator]
        ("no loss, duplicates or reordering", all(r["delivery_ok"] for r in runs)),
    ]
    budgeted = all(r["process_cores_budget"] for r in runs)
    config = {"counts": counts, "pairs": args.pairs, "warmup": args.warmup, "duration": args.duration,
              "redis": args.redis, "process_cores": args.process_cores if budgeted else None, "seed": args.seed,
              "generator_cpu": 1}
    result = {"benchmark": "cluster_curve", "machine": machine(), "config": config, "runs": runs,
              "per_core_ratio_last_to_first": per_core_ratio,
              "targets": [{"target": t, "met": ok} for t, ok in targets]}

    def fmt(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.2f}"

    rows = "\n".join(
        f"| {r['processes']} | {r['delivered_per_s']:,.0f} | {r['cores']['server']} | "
        f"{r['delivered_per_server_core_s']:,.0f} | {fmt(r['bus_per_process_per_delivered'])} | "
        f"{r['e2e_ms']['p50']:.2f} / {r['e2e_ms']['p99']:.2f} | {r['cores']['postgres']} / {r['cores']['redis']} | "
        f"{r['errors']} | {r['delivery_check']['missing']} / {r['delivery_check']['duplicate_or_reordered']} / "
        f"{r['delivery_check']['gaps']} |" for r in runs)
    budget_note = (f"Each server process is capped at {args.process_cores} of a core (cgroup CFS quota)." if budgeted else
                   "Unconstrained: no cgroup quota was possible (needs root and cgroup v1's cpu controller).")
    md = f"""# Scale curve: two-person chat over N processes sharing Redis ({machine()['when']})

{args.pairs} two-person conversations, each member connected to one of N `klear serve` processes at random
(seed {args.seed}); each sender keeps one persisted `message:send` in flight. All N share one PostgreSQL and
one Redis ({args.redis}). {budget_note} Generator on CPU 1. {args.duration:.0f} s measured after
{args.warmup:.0f} s per N; CPU (cores) is read over the measured window. Bus messages per process per delivered message: each process's
`klear_bus_messages_received_total` ÷ messages it delivered to its own sockets, summed over the processes
(whole run, warm-up included; about 1 - 1/N when each process hears only its members' conversations, about N
when every process hears everything; n/a: no such counter).

| N | delivered/s | server cores | delivered per server core-s | bus msgs per process per delivered | send→receive p50 / p99 ms | cores: PostgreSQL / Redis | errors | missing / dup-or-reordered / gaps |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
{rows}

Targets:

""" + "\n".join(f"- {t}: **{'n/a' if ok is None else 'met' if ok else 'missed'}**" for t, ok in targets) + "\n"
    write(args.out, result, md)


if __name__ == "__main__":
    main()
