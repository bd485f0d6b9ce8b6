"""Cluster rehearsal: three server processes as three hosts behind HAProxy, one killed mid-run.

On this machine (as root):
- a bridge with one network namespace per node, each with its own address (10.77.X.11-13), so the
  nodes are separate hosts to each other and to the load balancer;
- the machine's PostgreSQL and Redis, reached from the namespaces at the bridge address (HAProxy's TCP
  listeners forward to the 127.0.0.1 the services listen on, standing in for a database host's
  network address);
- HAProxy (Debian's) in front: HTTP mode, websockets tunnelled, health checks on /readyz;
- `klear loadtest` against the load balancer. At 40 % of the run node 1 is SIGKILLed; at 70 % it is
  started again, and HAProxy's per-server request counters show traffic returning to it.

Reference in the same run (unless --no-reference): the same loadtest against one process without
Redis, to show what the cluster costs.

    python bench/cluster.py [--users 300] [--rate 100] [--duration 30] [--processes 1]

Uses DATABASE_URL (a server it may create databases on; default
postgresql://postgres@127.0.0.1:5432/postgres). Writes bench/results/cluster_rehearsal.{json,md}
(or --output PATH.{json,md}).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import os
import re
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from common import DEFAULT_REDIS, free_port, machine, server_env, wait_http  # noqa: E402

NODES = 3
PASSWORD = secrets.token_urlsafe(18)
KEYS = {"KLEAR_SECRET_KEY": "rehearsal-secret-" + secrets.token_hex(24),
        "KLEAR_DATA_KEY": "rehearsal-data-key-" + secrets.token_hex(24)}
PROGRESS = re.compile(r"^\[\s*(\d+)s\]")


def sh(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


class Network:
    """A bridge and one namespace per node, with addresses; removed on exit."""

    def __init__(self, nodes: int) -> None:
        self.tag = secrets.token_hex(2)
        self.subnet = 10 + secrets.randbelow(240)
        self.bridge = f"klb{self.tag}"
        self.gateway = f"10.77.{self.subnet}.1"
        self.names = [f"klear-{self.tag}-n{i + 1}" for i in range(nodes)]
        self.addresses = [f"10.77.{self.subnet}.{11 + i}" for i in range(nodes)]

    def up(self) -> None:
        sh("ip", "link", "add", self.bridge, "type", "bridge")
        sh("ip", "addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        sh("ip", "link", "set", self.bridge, "up")
        for i, (ns, addr) in enumerate(zip(self.names, self.addresses, strict=True)):
            host, peer = f"klv{self.tag}{i}", f"klp{self.tag}{i}"
            sh("ip", "netns", "add", ns)
            sh("ip", "link", "add", host, "type", "veth", "peer", "name", peer)
            sh("ip", "link", "set", peer, "netns", ns)
            sh("ip", "link", "set", host, "master", self.bridge)
            sh("ip", "link", "set", host, "up")
            sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"{addr}/24", "dev", peer)
            sh("ip", "netns", "exec", ns, "ip", "link", "set", peer, "up")
            sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
            sh("ip", "netns", "exec", ns, "ip", "route", "add", "default", "via", self.gateway)

    def down(self) -> None:
        for i, ns in enumerate(self.names):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
            subprocess.run(["ip", "link", "del", f"klv{self.tag}{i}"], capture_output=True)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)


def netns_available() -> str | None:
    """None when namespaces, bridges and HAProxy are usable here; else what is missing."""
    if os.geteuid() != 0:
        return "root (network namespaces)"
    if shutil.which("haproxy") is None:
        return "haproxy (Debian package)"
    probe = f"klear-probe-{secrets.token_hex(2)}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True)
    if made.returncode != 0:
        return "network namespaces (ip netns add failed)"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


class Balancer:
    """HAProxy: the API frontend on 127.0.0.1, and TCP listeners that bring PostgreSQL and Redis to
    the bridge. The settings are the ones docs/operations.md recommends."""

    def __init__(self, net: Network, folder: Path, db_port: int, redis_port: int) -> None:
        self.port = free_port()
        # Each proxied connection holds two descriptors; stay inside this process's limit.
        self.maxconn = max(256, (resource.getrlimit(resource.RLIMIT_NOFILE)[1] - 200) // 2)
        self.socket = folder / "haproxy.sock"
        self.config = folder / "haproxy.cfg"
        servers = "\n".join(f"    server n{i + 1} {addr}:8080 check" for i, addr in enumerate(net.addresses))
        check = ("    option httpchk GET /readyz\n    http-check expect status 200\n"
                 "    default-server inter 500ms fall 2 rise 2 on-marked-down shutdown-sessions")
        self.config.write_text(f"""
global
    maxconn {self.maxconn}
    stats socket {self.socket} mode 600 level admin
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
    timeout http-keep-alive 10s
    option redispatch
    retries 2
frontend api
    bind 127.0.0.1:{self.port}
    acl socket path_beg /socket.io
    use_backend sockets if socket
    default_backend rest
# Long-lived websockets: to the node with the fewest.
backend sockets
    balance leastconn
{check}
{servers}
# Requests: each to the next node, whatever sockets it holds (leastconn would starve a node with many).
backend rest
    balance roundrobin
{check}
{servers}
listen postgres
    mode tcp
    bind {net.gateway}:5432
    timeout client 1h
    timeout server 1h
    server pg 127.0.0.1:{db_port}
listen redis
    mode tcp
    bind {net.gateway}:6379
    timeout client 1h
    timeout server 1h
    server redis 127.0.0.1:{redis_port}
""")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with (self.config.parent / "haproxy.log").open("ab") as log:
            self.proc = subprocess.Popen(["haproxy", "-db", "-f", str(self.config)], stdout=log, stderr=log)
        for _ in range(100):
            if self.socket.exists():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"haproxy did not start: {(self.config.parent / 'haproxy.log').read_text()[-2000:]}")

    def requests_per_server(self) -> dict[str, int]:
        """HTTP requests each node has been sent so far (HAProxy's `show stat`)."""
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(self.socket))
            s.sendall(b"show stat\n")
            raw = b""
            while chunk := s.recv(65536):
                raw += chunk
        rows = csv.DictReader(io.StringIO(raw.decode().lstrip("# ")))
        out: dict[str, int] = {}
        for r in rows:
            if r["pxname"] in ("rest", "sockets") and r["svname"].startswith("n"):
                out[r["svname"]] = out.get(r["svname"], 0) + int(r["req_tot"] or r["stot"] or 0)
        return out

    def states(self) -> dict[str, str]:
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(self.socket))
            s.sendall(b"show stat\n")
            raw = b""
            while chunk := s.recv(65536):
                raw += chunk
        rows = csv.DictReader(io.StringIO(raw.decode().lstrip("# ")))
        return {r["svname"]: r["status"] for r in rows if r["pxname"] == "rest" and r["svname"].startswith("n")}

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)


class Node:
    def __init__(self, name: str, ns: str, address: str, env: dict[str, str], folder: Path) -> None:
        self.name, self.ns, self.address = name, ns, address
        self.env = {**env, "KLEAR_HOST": address, "KLEAR_PORT": "8080", "KLEAR_DATA_DIR": str(folder / name)}
        self.log = folder / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        """Start and wait until ready; returns the seconds it took."""
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                ["ip", "netns", "exec", self.ns, sys.executable, "-m", "server", "serve"],
                cwd=ROOT, env=server_env(self.env), stdout=log, stderr=log)
        try:
            return wait_http(f"http://{self.address}:8080/readyz", timeout=60)
        except RuntimeError:
            raise RuntimeError(f"node {self.name} did not become ready: {self.log.read_text()[-3000:]}") from None

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)  # `ip netns exec` execs the server: this is its pid
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _port(url: str, default: int) -> int:
    return urlsplit(url).port or default


async def _database(admin_url: str, name: str, drop: bool = False) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def _cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run([sys.executable, "-m", "server", *args], cwd=ROOT, env=server_env(env), input=stdin,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"klear {args[0]} failed: {done.stderr[-2000:]}")
    return done.stdout


def loadtest(url: str, load: list[str], processes: int, report: Path, env: dict[str, str],
             on_second: Any = None) -> tuple[int, dict[str, Any]]:
    """Run `klear loadtest` with the flags `load` against `url`; `on_second(t)` is called at each progress
    line. The objectives are the seed's."""
    cmd = [sys.executable, "-m", "server", "loadtest", url, "--admin-email", "ops@rehearsal.invalid",
           "--admin-password-file", "-", *load, "--processes", str(processes), "--report", str(report),
           "--slo", "*:p99_ms<=200", "--slo", "*:error_ratio<=0.001"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=server_env(env), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stderr is not None
    proc.stdin.write(PASSWORD + "\n")
    proc.stdin.close()
    for line in proc.stderr:
        sys.stderr.write(line)
        m = PROGRESS.match(line)
        if m and on_second is not None:
            on_second(int(m.group(1)))
    code = proc.wait()
    return code, json.loads(report.with_suffix(".json").read_text())


@contextmanager
def sampling(lb: Balancer) -> Iterator[list[dict[str, Any]]]:
    """HAProxy's per-node request counters once a second, in a thread."""
    samples: list[dict[str, Any]] = []
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(1.0):
            try:
                samples.append({"at": time.time(), "requests": lb.requests_per_server(), "states": lb.states()})
            except OSError:
                continue

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        stop.set()
        thread.join()


@dataclass
class Cluster:
    url: str
    nodes: list[Node]
    lb: Balancer
    local: dict[str, str]  # settings for CLI runs from this host (migrate, create-admin, loadtest)
    folder: Path


@contextmanager
def cluster(args: argparse.Namespace) -> Iterator[Cluster]:
    """Three ready nodes behind HAProxy on a fresh database with an admin; all removed afterwards."""
    missing = netns_available()
    if missing:
        raise SystemExit(f"cluster rehearsal needs {missing}")
    admin_url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"klear_rehearsal_{secrets.token_hex(3)}"
    parts = urlsplit(admin_url)
    net = Network(NODES)
    folder = Path(tempfile.mkdtemp(prefix="klear-rehearsal-"))
    asyncio.run(_database(admin_url, name))
    lb = Balancer(net, folder, _port(admin_url, 5432), _port(args.redis, 6379))
    nodes: list[Node] = []
    try:
        net.up()
        lb.start()
        user = f"{parts.username}@" if parts.username else ""
        shared = {**KEYS, "DATABASE_URL": f"postgresql://{user}{net.gateway}:5432/{name}",
                  "REDIS_URL": f"redis://{net.gateway}:6379{urlsplit(args.redis).path or '/0'}",
                  "KLEAR_REDIS_PREFIX": name, "KLEAR_LOG_LEVEL": "warning", "KLEAR_DB_POOL_MAX": str(args.pool)}
        local = {**KEYS, "DATABASE_URL": urlunsplit(parts._replace(path=f"/{name}")),
                 "KLEAR_DATA_DIR": str(folder / "cli")}
        _cli(local, "migrate")
        _cli(local, "create-admin", "--email", "ops@rehearsal.invalid", "--display-name", "Rehearsal",
             "--password-stdin", stdin=PASSWORD + "\n")
        nodes = [Node(f"n{i + 1}", ns, addr, shared, folder)
                 for i, (ns, addr) in enumerate(zip(net.names, net.addresses, strict=True))]
        for node in nodes:
            node.start()
        url = f"http://127.0.0.1:{lb.port}"
        wait_http(f"{url}/readyz")
        yield Cluster(url, nodes, lb, local, folder)
    finally:
        for node in nodes:
            node.stop()
        lb.stop()
        net.down()
        asyncio.run(_database(admin_url, name, drop=True))
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def single_process(c: Cluster, pool: int) -> Iterator[str]:
    """The reference: one `klear serve` without Redis on the same database, with the cluster stopped."""
    for node in c.nodes:
        node.stop()
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "server", "serve"], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                            env=server_env({**c.local, "KLEAR_PORT": str(port), "KLEAR_LOG_LEVEL": "warning",
                                            "KLEAR_DB_POOL_MAX": str(pool)}))
    try:
        wait_http(f"http://127.0.0.1:{port}/readyz")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(30)


def rehearse(args: argparse.Namespace) -> dict[str, Any]:
    load = ["--users", str(args.users), "--rate", str(args.rate), "--duration", str(args.duration),
            "--video-pairs", str(args.video_pairs), "--ice", "host"]  # media goes to the nodes' own addresses
    with cluster(args) as c:
        timeline: dict[str, float] = {}
        victim = c.nodes[0]
        kill_at, restart_at = int(args.duration * 0.4), int(args.duration * 0.7)

        def on_second(t: int) -> None:
            if t == kill_at and "killed" not in timeline:
                timeline["killed"] = time.time()
                timeline["killed_t"] = t
                victim.kill()
            elif t == restart_at and "restarted" not in timeline:
                timeline["restart_ready_s"] = victim.start()
                timeline["restarted"] = time.time()
                timeline["restarted_t"] = t

        with sampling(c.lb) as samples:
            code, report = loadtest(c.url, load, args.processes, c.folder / "cluster", c.local, on_second)
        result = summarize(report, samples, timeline, args)
        result["loadtest_exit_code"] = code
        if args.reference:
            with single_process(c, args.pool) as url:
                ref_code, ref_report = loadtest(url, load, args.processes, c.folder / "reference", c.local)
            result["reference"] = {"exit_code": ref_code, "total": ref_report["total"],
                                   "slos": ref_report["slos"], "integrity": ref_report["integrity"]}
        return result


def capacity(args: argparse.Namespace) -> dict[str, Any]:
    """`--profile seed` scaled up step by step, on the cluster (no kill) and then on one process without
    Redis, until a step misses an objective: the largest step that held is what this machine holds."""
    scales = [float(x) for x in args.scales.split(",")]
    steps: dict[str, list[dict[str, Any]]] = {"cluster": [], "single": []}

    def climb(shape: str, url: str, c: Cluster) -> None:
        for scale in scales:
            load = ["--profile", "seed", "--scale", str(scale), "--duration", str(args.duration)]
            code, report = loadtest(url, load, args.processes, c.folder / f"{shape}-{scale}", c.local)
            total = report["total"]
            steps[shape].append({
                "scale": scale, "users": report["mix"]["users"]["total"],
                "requests_per_min": round(report["mix"]["requests_per_min"]),
                "done_per_min": round(total["count"] * 60 / args.duration), "p99_ms": total["p99_ms"],
                "errors": total["errors"], "passed": report["passed"], "slos": report["slos"]})
            if not report["passed"]:
                return

    with cluster(args) as c:
        climb("cluster", c.url, c)
        with single_process(c, args.pool) as url:
            climb("single", url, c)
    held = {shape: max((s for s in rows if s["passed"]), key=lambda s: s["scale"], default=None)
            for shape, rows in steps.items()}
    return {"config": {"scales": scales, "duration_s": args.duration, "generator_processes": args.processes,
                       "pool_max_per_node": args.pool, "nodes": NODES},
            "machine": machine(), "steps": steps, "largest_held": held}


def capacity_markdown(r: dict[str, Any]) -> str:
    lines = ["# Seed profile capacity on this machine", "",
             f"`klear loadtest --profile seed --scale S` for {r['config']['duration_s']:g} s per step "
             f"({r['config']['generator_processes']} generator process on the same machine), first against "
             f"{r['config']['nodes']} nodes behind HAProxy sharing Redis (bench/cluster.py's cluster, no kill), "
             "then against one process without Redis (the reference). Objectives: p99 of every operation "
             f"<= 200 ms, errors <= 0.1 %. {r['machine']['cpus']} CPUs shared with other work; "
             f"{r['machine']['when']}.", "",
             "| shape | scale | users | requests/min asked | done/min | p99 ms | errors | held |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for shape, rows in r["steps"].items():
        lines += [f"| {shape} | {s['scale']:g} | {s['users']} | {s['requests_per_min']} | {s['done_per_min']} | "
                  f"{s['p99_ms']} | {s['errors']} | {'yes' if s['passed'] else 'no'} |" for s in rows]
    lines.append("")
    for shape, best in r["largest_held"].items():
        lines.append(f"- {shape}: " + ("no step held" if best is None else
                     f"largest mix that held every objective: {best['users']} users, "
                     f"{best['requests_per_min']} requests a minute (scale {best['scale']:g})"))
    return "\n".join(lines) + "\n"


def summarize(report: dict[str, Any], samples: list[dict[str, Any]], timeline: dict[str, float],
              args: argparse.Namespace) -> dict[str, Any]:
    integrity = report["integrity"]
    killed_t = timeline.get("killed_t")
    window = [r for r in report["series"] if killed_t is not None and killed_t <= r["t"] <= killed_t + 10]
    traffic = []
    for before, after in zip(samples, samples[1:]):
        traffic.append({"at": round(after["at"] - timeline.get("killed", after["at"]), 1),
                        **{n: after["requests"].get(n, 0) - before["requests"].get(n, 0) for n in after["requests"]},
                        "states": " ".join(f"{n}:{st}" for n, st in sorted(after["states"].items()))})
    returned = [s for s in traffic if timeline.get("restarted") and s["at"] > timeline["restarted"] - timeline["killed"]
                and s.get("n1", 0) > 0]
    return {
        "config": {"nodes": NODES, "users": args.users, "rate_per_s": args.rate, "duration_s": args.duration,
                   "generator_processes": args.processes, "pool_max_per_node": args.pool,
                   "video_pairs": args.video_pairs, "kill_at_s": killed_t, "restart_at_s": timeline.get("restarted_t")},
        "machine": machine(),
        "acked_chat_messages": integrity["chat_acked"], "acked_lost": integrity["chat_lost"],
        "acked_duplicated": integrity["chat_duplicated"], "double_bookings": integrity["double_bookings"],
        "bookings_audited": integrity["bookings_audited"],
        "disconnected_clients": integrity["disconnects"], "recovered_clients": integrity["recovered"],
        "recovery_p50_s": integrity["recovery_p50_s"], "recovery_p99_s": integrity["recovery_p99_s"],
        "failed_in_failover_window": sum(r["errors"] for r in window),
        "ok_in_failover_window": sum(r["ok"] for r in window),
        "error_codes": report["error_codes"],
        "restart_ready_s": timeline.get("restart_ready_s"),
        "n1_requests_after_restart": sum(s.get("n1", 0) for s in returned),
        "traffic_per_node": traffic,
        "loadtest": {"total": report["total"], "slos": report["slos"], "operations": report["operations"]},
        "video_pairs": integrity["video_pairs"], "video_joined": integrity["video_joined"],
        "video_interrupted": integrity["video_interrupted"], "video_rejoined": integrity["video_rejoined"],
        "video_rejoin_p50_s": integrity["video_rejoin_p50_s"], "video_rejoin_p99_s": integrity["video_rejoin_p99_s"],
    }


def markdown(r: dict[str, Any]) -> str:
    c = r["config"]
    total = r["loadtest"]["total"]

    def f(v: Any) -> str:
        return "n/a" if v is None else f"{v:.3g}" if isinstance(v, float) else str(v)

    lines = [
        "# Cluster rehearsal", "",
        f"{c['nodes']} `klear serve` processes, each in its own network namespace, behind HAProxy (websockets, "
        f"/readyz checks), on the machine's PostgreSQL and Redis; `klear loadtest` with {c['users']} users at "
        f"{c['rate_per_s']:g} operations/s for {c['duration_s']:g} s ({c['generator_processes']} generator "
        f"process). Node n1 SIGKILLed at {c['kill_at_s']} s, restarted at {c['restart_at_s']} s. "
        f"{r['machine']['cpus']} CPUs, shared with other work during the run; {r['machine']['when']}.", "",
        "| measure | value | target | |", "| --- | --- | --- | --- |",
        f"| acked chat messages | {r['acked_chat_messages']} | | |",
        f"| acked messages lost | {r['acked_lost']} | 0 | {'met' if r['acked_lost'] == 0 else 'MISSED'} |",
        f"| acked messages duplicated | {r['acked_duplicated']} | 0 | "
        f"{'met' if r['acked_duplicated'] == 0 else 'MISSED'} |",
        f"| double bookings (of {r['bookings_audited']} live bookings) | {r['double_bookings']} | 0 | "
        f"{'met' if r['double_bookings'] == 0 else 'MISSED'} |",
        f"| clients disconnected by the kill / recovered | {r['disconnected_clients']} / {r['recovered_clients']} | | |",
        f"| recovery p50 / p99 (s) | {f(r['recovery_p50_s'])} / {f(r['recovery_p99_s'])} | p99 < 10 s | "
        f"{'met' if r['recovery_p99_s'] is not None and r['recovery_p99_s'] < 10 else 'MISSED'} |",
        f"| failed operations in the 10 s after the kill (of ok) | {r['failed_in_failover_window']} "
        f"({r['ok_in_failover_window']}) | | |",
        f"| n1 ready after restart (s) / requests it served afterwards | {f(r['restart_ready_s'])} / "
        f"{r['n1_requests_after_restart']} | > 0 | {'met' if r['n1_requests_after_restart'] > 0 else 'MISSED'} |",
        f"| whole run: operations, errors, p50 / p99 ms | {total['count']}, {total['errors']}, "
        f"{f(total['p50_ms'])} / {f(total['p99_ms'])} | | |",
        f"| video pairs joined / interrupted by the kill / rejoined | {r['video_joined']} of {r['video_pairs']} / "
        f"{r['video_interrupted']} / {r['video_rejoined']} | | |",
        f"| video interruption p50 / p99 (s, last frame before to first after) | {f(r['video_rejoin_p50_s'])} / "
        f"{f(r['video_rejoin_p99_s'])} | | |",
    ]
    if "reference" in r:
        ref = r["reference"]["total"]
        lines += ["", "Reference, same mix against one process without Redis: "
                  f"{ref['count']} operations, {ref['errors']} errors, p50 {f(ref['p50_ms'])} ms, "
                  f"p99 {f(ref['p99_ms'])} ms (cluster p99 / reference p99 = "
                  f"{f((total['p99_ms'] or 0) / ref['p99_ms']) if ref['p99_ms'] else 'n/a'}; the cluster run "
                  "includes the kill)."]
    lines += ["", "Requests HAProxy sent each node per second (t = seconds after the kill):", "",
              "| t | n1 | n2 | n3 | HAProxy's view |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {s['at']} | {s.get('n1', 0)} | {s.get('n2', 0)} | {s.get('n3', 0)} | {s['states']} |"
              for s in r["traffic_per_node"]]
    if r["error_codes"]:
        lines += ["", "Errors by operation and code: " + ", ".join(f"{k} {v}" for k, v in
                                                                   sorted(r["error_codes"].items()))]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=300)
    ap.add_argument("--rate", type=float, default=100.0, help="operations per second")
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--processes", type=int, default=1, help="loadtest generator processes")
    ap.add_argument("--video-pairs", type=int, default=3, help="video pairs in the rehearsal")
    ap.add_argument("--pool", type=int, default=10, help="KLEAR_DB_POOL_MAX of each node")
    ap.add_argument("--redis", default=DEFAULT_REDIS, help=f"Redis on this machine (default {DEFAULT_REDIS})")
    ap.add_argument("--no-reference", dest="reference", action="store_false")
    ap.add_argument("--capacity", action="store_true",
                    help="instead of the rehearsal: the largest --profile seed scale each shape holds")
    ap.add_argument("--scales", default="0.01,0.02,0.04,0.08,0.16", help="--capacity steps (scale of the seed)")
    ap.add_argument("--output", help="results path without suffix (default bench/results/cluster_rehearsal, "
                                     "or seed_capacity with --capacity)")
    args = ap.parse_args()
    result = capacity(args) if args.capacity else rehearse(args)
    default = "seed_capacity" if args.capacity else "cluster_rehearsal"
    out = Path(args.output or ROOT / "bench" / "results" / default)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    text = capacity_markdown(result) if args.capacity else markdown(result)
    out.with_suffix(".md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
