"""Socket.IO fan-out benchmark: Node reference vs stock python-socketio vs
python-socketio with the channels.broadcast fast path vs our real server, all
driven by the same Node load generator (bench/fanout/loadgen.js) in one run.

Every Socket.IO server but ours runs the same bare room logic
(bench/fanout/README.md). `klear` is `klear serve` itself: 1,000 subscribers
and the publisher are authenticated users of one conversation, subscribers
join it, and each publish is a `message:send` that is validated, rate
limited, sealed and stored in PostgreSQL before its ack and its fan-out as
`message:new`. That is strictly more work per publish than the reference does.
Our server is measured in both shapes in the same run: `klear` is one process
without Redis; `klear-redis` is `klear serve --workers N` (--processes,
default 2) sharing --redis, the production shape, its workers on the same
server CPU, so the kernel spreads the subscribers over them and each message
reaches the other worker through Redis. Both shapes come from the flags only
(REDIS_URL and KLEAR_* in the environment are ignored). Loss is checked for
every server; for ours, whose deliveries carry a seq, also duplicates and
reordering per subscriber. By default the
server under test is pinned to CPU 0 and the generator to CPU 1, so each side
has exactly one core of this 2-core machine; servers run one at a time, in a
rotating order, for --rounds rounds, and the summary reports the median round
per server. Each run also records the server's CPU use, the generator's own
utilisation and the machine's total busy cores during the measurement window,
so a generator-bound or disturbed run is visible instead of silently counted.

    .venv/bin/python bench/fanout_bench.py              # full run, ~3 min
    .venv/bin/python bench/fanout_bench.py --quick      # 1 round, short
    .venv/bin/python bench/fanout_bench.py --capacity   # + generator ceiling
    .venv/bin/python bench/fanout_bench.py --processes 4 --redis redis://host:6379/0
    .venv/bin/python bench/fanout_bench.py --no-redis   # leave out klear-redis

Writes bench/results/fanout.json and bench/results/fanout.md (or --out PREFIX).
Needs `npm ci` in bench/fanout first (done automatically when node_modules is
missing).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import add_shape_flags, ensure_node_modules, workers_of  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FANOUT = ROOT / "bench" / "fanout"
RESULTS = ROOT / "bench" / "results"
PY = sys.executable

SERVERS = {
    "node": ["node", str(FANOUT / "server_node.js")],
    "python-stock": [PY, str(FANOUT / "stock_python.py")],
    "python-fast": [PY, str(FANOUT / "fast_python.py")],
    # not a subject: measures the generator's own ceiling
    "capacity": ["node", str(FANOUT / "capacity_server.js")],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pinned(cmd: list[str], cpu: str | None) -> list[str]:
    if cpu is None or not shutil.which("taskset"):
        return cmd
    return ["taskset", "-c", cpu, *cmd]


def start_server(name: str, port: int, cpu: str | None, parser: str) -> subprocess.Popen:
    cmd = SERVERS[name] + ["--port", str(port)]
    if parser == "msgpack" and name != "capacity":
        cmd.append("--msgpack")
    proc = subprocess.Popen(pinned(cmd, cpu), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.time() + 30
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited: {proc.stderr.read()}")
            continue
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("ready"):
            return proc
    proc.kill()
    raise RuntimeError(f"{name} did not become ready")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_loadgen(port: int, server_pid: int | str, args: argparse.Namespace,
                cpu: str | None, rate: float = 0, window: int | None = None,
                extra: list[str] | None = None) -> dict:
    cmd = ["node", str(FANOUT / "loadgen.js"),
           "--url", f"http://127.0.0.1:{port}",
           "--clients", str(args.clients), "--workers", str(args.workers),
           "--window", str(window or args.window), "--warmup", str(args.warmup),
           "--duration", str(args.duration), "--payload-bytes", str(args.payload_bytes),
           "--parser", args.parser, "--server-pid", str(server_pid)]
    if rate:
        cmd += ["--rate", str(rate)]
    cmd += extra or []
    out = subprocess.run(pinned(cmd, cpu), cwd=FANOUT, capture_output=True,
                         text=True, timeout=args.warmup + args.duration + 120)
    if out.returncode != 0:
        raise RuntimeError(f"loadgen failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def total(values) -> int | None:
    """Sum, or None when a run could not check (deliveries without a seq)."""
    values = list(values)
    return None if None in values else sum(values)


def summarize(runs: list[dict]) -> dict:
    by = {}
    for r in runs:
        if r.get("phase", "throughput") != "throughput":
            continue
        by.setdefault(r["server"], []).append(r)
    summary = {}
    for name, rs in by.items():
        rs = sorted(rs, key=lambda r: r["deliveries_per_s"])
        med = rs[len(rs) // 2]
        summary[name] = {
            "rounds": len(rs),
            "deliveries_per_s_median": med["deliveries_per_s"],
            "deliveries_per_s_all": [r["deliveries_per_s"] for r in rs],
            "p50_ms_median_run": med["latency_ms"]["p50"],
            "p99_ms_median_run": med["latency_ms"]["p99"],
            "p99_ms_all": [r["latency_ms"]["p99"] for r in rs],
            "server_cpu_median_run": med.get("server_cpu"),
            # generator-independent cost: server CPU time per delivery
            # (includes the kernel's loopback TCP work charged to the sender)
            "server_us_per_delivery_median": statistics.median(
                round(r["server_cpu"] * 1e6 / r["deliveries_per_s"], 2)
                for r in rs if r.get("server_cpu") and r["deliveries_per_s"]) if any(
                r.get("server_cpu") for r in rs) else None,
            "generator_cpu_median_run": round(sum(med["generator"]["subscriber_cpu"])
                                              + med["generator"]["publisher_cpu"], 3),
            "deflate_negotiated": med.get("deflate_negotiated"),
            "missing_deliveries": sum(r["loss_check"]["missing"] or 0 for r in rs),
            "duplicate_or_reordered": total(r["loss_check"].get("duplicate_or_reordered") for r in rs),
            "gaps": total(r["loss_check"].get("gaps") for r in rs),
        }
    node = summary.get("node")
    for name, s in summary.items():
        if node and name != "node":
            s["ratio_to_node"] = round(s["deliveries_per_s_median"]
                                       / node["deliveries_per_s_median"], 3)
            s["p99_vs_node"] = round(s["p99_ms_median_run"] / node["p99_ms_median_run"], 3)
    return summary


def summarize_latency(runs: list[dict]) -> dict:
    by = {}
    for r in runs:
        if r.get("phase") == "fixed-rate":
            by.setdefault(r["server"], []).append(r)
    out = {}
    for name, rs in by.items():
        rs = sorted(rs, key=lambda r: r["latency_ms"]["p99"])
        med = rs[len(rs) // 2]
        out[name] = {
            "target_deliveries_per_s": med["target_deliveries_per_s"],
            "achieved_deliveries_per_s": med["deliveries_per_s"],
            "sustained": med["deliveries_per_s"] >= 0.95 * med["target_deliveries_per_s"],
            "p50_ms": med["latency_ms"]["p50"],
            "p99_ms": med["latency_ms"]["p99"],
            "p99_ms_all": [r["latency_ms"]["p99"] for r in rs],
            "server_cpu": med.get("server_cpu"),
        }
    return out


def targets(summary: dict) -> list[dict]:
    """Issue 15's fan-out target for each of our shapes measured, and the delivery check for all servers."""
    out = [{"target": f"`{name}` ≥ 1.0x Node in the same run: {summary[name].get('ratio_to_node', 0):.2f}x",
            "met": summary[name].get("ratio_to_node", 0) >= 1.0}
           for name in ("klear", "klear-redis") if name in summary and "node" in summary]
    out.append({"target": "no loss, duplicates or reordering (duplicates and order: our server only)",
                "met": all(s["missing_deliveries"] == 0 and not s["duplicate_or_reordered"] and not s["gaps"]
                           for s in summary.values())})
    return out


def markdown(result: dict) -> str:
    cfg = result["config"]
    lines = [
        "# Socket.IO fan-out benchmark",
        "",
        f"{cfg['clients']} subscribers, 1 publisher, window {cfg['window']} "
        f"publish(es) in flight, {cfg['payload_bytes']} B payload, parser "
        f"{cfg['parser']}, {cfg['duration']} s measured after {cfg['warmup']} s "
        f"warm-up, {cfg['rounds']} round(s), server pinned to CPU "
        f"{cfg['server_cpu']}, generator to CPU {cfg['generator_cpu']}. "
        f"Generated {result['when']} on {result['host']['cpus']} CPUs.",
        "",
        "Throughput (publisher paced by acks):",
        "",
        f"Shapes of our server: {'; '.join(f'`{k}` = {v}' for k, v in cfg['klear_shapes'].items())}.",
        "",
        "| server | deliveries/s (median) | all rounds | ratio to Node | p50 ms | p99 ms | p99 vs Node | server CPU | server µs/delivery | generator CPU | deflate conns | missing | dup-or-reordered / gaps |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, s in result["summary"].items():
        lines.append(
            f"| {name} | {s['deliveries_per_s_median']:,} | "
            f"{', '.join(f'{x:,}' for x in s['deliveries_per_s_all'])} | "
            f"{s.get('ratio_to_node', 1.0 if name == 'node' else '-')} | "
            f"{s['p50_ms_median_run']} | {s['p99_ms_median_run']} | "
            f"{s.get('p99_vs_node', '-')} | {s['server_cpu_median_run']} | "
            f"{s['server_us_per_delivery_median']} | "
            f"{s['generator_cpu_median_run']} | {s['deflate_negotiated']} | "
            f"{s['missing_deliveries']} | "
            f"{'n/a' if s['duplicate_or_reordered'] is None else s['duplicate_or_reordered']} / "
            f"{'n/a' if s['gaps'] is None else s['gaps']} |")
    lat = result.get("latency_at_fixed_rate") or {}
    if lat:
        lines += [
            "",
            f"Latency at a fixed offered load ({cfg['latency_rate']:g} publishes/s "
            f"= {cfg['latency_rate'] * cfg['clients']:,.0f} deliveries/s, window 64, "
            "median-p99 round):",
            "",
            "| server | achieved deliveries/s | sustained | p50 ms | p99 ms | p99 all rounds | server CPU |",
            "|---|---:|---|---:|---:|---|---:|",
        ]
        for name, s in lat.items():
            lines.append(f"| {name} | {s['achieved_deliveries_per_s']:,} | {s['sustained']} | "
                         f"{s['p50_ms']} | {s['p99_ms']} | {', '.join(map(str, s['p99_ms_all']))} | "
                         f"{s['server_cpu']} |")
    lines += ["", "Targets:", ""]
    lines += [f"- {t['target']}: **{'met' if t['met'] else 'missed'}**" for t in result["targets"]]
    lines += [
        "",
        "CPU columns are cores used during the measured window (1.0 = one core "
        "fully busy). `capacity` (when present) is not a Socket.IO server: it "
        "writes one prebuilt frame per subscriber and shows the generator's own "
        "ceiling on its core. A run whose generator CPU is near 1.0 while the "
        "server CPU is below 1.0 is generator-bound.",
        "",
        "Machine busy cores per run (foreign load shows up as busy > server + generator):",
        "",
    ]
    for r in result["runs"]:
        gen = sum(r["generator"]["subscriber_cpu"]) + r["generator"]["publisher_cpu"]
        lines.append(f"- round {r['round']} {r['server']} {r.get('phase')}: {r['deliveries_per_s']:,}/s, "
                     f"server {r.get('server_cpu')}, generator {gen:.2f}, "
                     f"machine busy {r.get('machine_busy_cores')}")
    return "\n".join(lines) + "\n"


class OurServer:
    """`klear serve` with 1,000 subscribers and a publisher in one conversation (bench/klear_fixture.py)."""

    def __init__(self, args: argparse.Namespace) -> None:
        sys.path.insert(0, str(ROOT / "bench"))
        from klear_fixture import Klear

        self.klear = Klear("fanout")
        self.klear.run(self.klear.create())
        users = self.klear.run(self.klear.users(args.clients + 1))
        self.publisher, self.subscribers = users[0], users[1:]
        self.cid = str(self.klear.run(self.klear.conversation(users)))
        self.auth_file = Path(f"/tmp/{self.klear.db_name}-auth.json")
        self.auth_file.write_text(json.dumps([{"token": u.token} for u in self.subscribers]))
        self.pad = "x" * max(0, args.payload_bytes - 24)
        self.parser = args.parser

    def start(self, port: int, cpu: str | None, redis: str | None = None,
              processes: int = 1) -> tuple[subprocess.Popen, list[int]]:
        """One process without Redis, or `processes` workers sharing `redis`; returns the serving pids too."""
        extra = {"REDIS_URL": redis, "KLEAR_WORKERS": str(processes),
                 "KLEAR_REDIS_PREFIX": f"fanout{port}"} if redis else {}
        proc = self.klear.start(port, None if cpu is None else int(cpu), **extra)
        return proc, workers_of(proc.pid, processes if redis else 1)

    def loadgen_args(self) -> list[str]:
        join = [{"conversation_id": self.cid, "last_seq": 2**53 - 1}]  # live only: no history replay
        publish = [{"conversation_id": self.cid, "client_id": "__UUID__", "body": "__TS__" + self.pad}]
        path = ["--path", "/socket.io-msgpack/"] if self.parser == "msgpack" else []
        return ["--auth-file", str(self.auth_file), "--publisher-auth", json.dumps({"token": self.publisher.token}),
                "--join-event", "conversation:join", "--join-args", json.dumps(join),
                "--publish-event", "message:send", "--publish-args", json.dumps(publish),
                "--deliver-event", "message:new", *path]

    def close(self) -> None:
        self.klear.close()
        self.auth_file.unlink(missing_ok=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=1,
                    help="generator subscriber processes (default 1: with the "
                         "generator pinned to one core more processes only add "
                         "context switches)")
    ap.add_argument("--window", type=int, default=2,
                    help="publishes in flight, same for every server (default "
                         "2: the next publish is already waiting when a "
                         "broadcast ends, so the server never idles on the "
                         "generator's turnaround; 1 measures the serial "
                         "publish->fan-out->ack cycle instead)")
    ap.add_argument("--rate", type=float, default=0,
                    help="cap publishes/s (0 = as fast as acks allow)")
    ap.add_argument("--warmup", type=float, default=3)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--payload-bytes", type=int, default=100)
    ap.add_argument("--parser", choices=["json", "msgpack"], default="json")
    ap.add_argument("--servers", default="node,python-stock,python-fast,klear,klear-redis",
                    help="klear = our server, one process, no Redis; klear-redis = --processes workers "
                         "sharing --redis (left out by --no-redis)")
    ap.add_argument("--latency-rate", type=float, default=40,
                    help="publishes/s of the fixed-rate latency phase (0 = skip); "
                         "default 40 = 40,000 deliveries/s at 1,000 clients, "
                         "about half of what Node sustains on one core here")
    ap.add_argument("--capacity", action="store_true",
                    help="also measure the generator ceiling (capacity server)")
    ap.add_argument("--no-pin", action="store_true")
    ap.add_argument("--server-cpu", default="0")
    ap.add_argument("--generator-cpu", default="1")
    ap.add_argument("--quick", action="store_true",
                    help="1 round, 2 s warm-up, 5 s measured")
    ap.add_argument("--out", default=str(RESULTS / "fanout"),
                    help="output path prefix (.json and .md are appended)")
    add_shape_flags(ap)
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.warmup, args.duration = 1, 2, 5
    scpu = None if args.no_pin else args.server_cpu
    gcpu = None if args.no_pin else args.generator_cpu

    ensure_node_modules()

    names = [s for s in args.servers.split(",") if s and not (s == "klear-redis" and args.no_redis)]
    if args.capacity:
        names.append("capacity")
    ours = OurServer(args) if {"klear", "klear-redis"} & set(names) else None
    runs = []
    for rnd in range(args.rounds):
        order = names[rnd % len(names):] + names[:rnd % len(names)]
        for name in order:
            phases = [("throughput", 0, None)]
            if args.latency_rate and name != "capacity":
                phases.append(("fixed-rate", args.latency_rate, 64))
            for phase, rate, window in phases:
                port = free_port()
                if name in ("klear", "klear-redis"):
                    assert ours is not None
                    redis = args.redis if name == "klear-redis" else None
                    proc, pids = ours.start(port, scpu, redis, args.processes)
                    extra = ours.loadgen_args()
                else:
                    proc, extra = start_server(name, port, scpu, args.parser), []
                    pids = [proc.pid]
                try:
                    time.sleep(0.5)
                    res = run_loadgen(port, ",".join(map(str, pids)), args, gcpu, rate, window, extra)
                finally:
                    stop_server(proc)
                res["server"] = name
                res["round"] = rnd + 1
                res["phase"] = phase
                if rate:
                    res["target_deliveries_per_s"] = rate * args.clients
                runs.append(res)
                gen = sum(res["generator"]["subscriber_cpu"]) + res["generator"]["publisher_cpu"]
                print(f"round {rnd + 1} {name:13s} {phase:10s} {res['deliveries_per_s']:>8,} deliveries/s  "
                      f"p50 {res['latency_ms']['p50']} ms  p99 {res['latency_ms']['p99']} ms  "
                      f"server cpu {res.get('server_cpu')}  generator cpu {gen:.2f}  "
                      f"machine {res.get('machine_busy_cores')}  "
                      f"missing {res['loss_check']['missing']}  "
                      f"dup-or-reordered {res['loss_check']['duplicate_or_reordered']}  "
                      f"gaps {res['loss_check']['gaps']}", flush=True)
                time.sleep(1)

    summary = summarize(runs)
    result = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "host": {"cpus": os.cpu_count(), "python": platform.python_version(),
                 "node": subprocess.run(["node", "--version"], capture_output=True,
                                        text=True).stdout.strip()},
        "config": {"clients": args.clients, "workers": args.workers,
                   "window": args.window, "rate": args.rate,
                   "warmup": args.warmup, "duration": args.duration,
                   "rounds": args.rounds, "payload_bytes": args.payload_bytes,
                   "parser": args.parser, "server_cpu": scpu,
                   "generator_cpu": gcpu, "latency_rate": args.latency_rate,
                   "klear_shapes": {"klear": "1 process, no Redis",
                                    **({} if args.no_redis else {"klear-redis": f"{args.processes} worker processes "
                                                                               f"sharing Redis {args.redis}"})}},
        "summary": summary,
        "targets": targets(summary),
        "latency_at_fixed_rate": summarize_latency(runs),
        "runs": runs,
    }
    if ours is not None:
        ours.close()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
