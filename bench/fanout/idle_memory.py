"""Idle-connection memory: RSS per idle authenticated websocket connection.

For each server (Node reference, stock python-socketio, fast path, and our
real server `klear`, where every connection is a distinct user with a real
access token, registered in presence and its private room) and each
connection count: start the server, warm it up with a few connections
(so lazily imported code and first-use caches are in the baseline), record
its RSS, open N idle connections with CONNECT auth {"token": "user-<i>"}
(raw websocket clients from loadgen.js --idle, answering Engine.IO pings),
wait until RSS settles, record RSS again. Reports (RSS_N - RSS_base) / N.

    .venv/bin/python bench/fanout/idle_memory.py [--counts 2000,10000]
        [--servers python-stock,python-fast,node] [--out bench/results/fanout_idle_memory]

Raises the soft RLIMIT_NOFILE to the hard limit for itself and its children.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from fanout_bench import SERVERS, free_port, start_server, stop_server  # noqa: E402


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def settle(pid: int, seconds: float = 3.0) -> int:
    """RSS once it stopped moving (max 3 samples 1 s apart agree within 1%)."""
    last = rss_kib(pid)
    deadline = time.time() + 20
    time.sleep(seconds)
    while time.time() < deadline:
        cur = rss_kib(pid)
        if abs(cur - last) <= max(256, last // 100):
            return cur
        last = cur
        time.sleep(1)
    return rss_kib(pid)


def open_idle(port: int, n: int, workers: int, browser_headers: bool = False,
              auth_file: str | None = None) -> subprocess.Popen:
    cmd = ["node", str(HERE / "loadgen.js"), "--idle", "--url", f"http://127.0.0.1:{port}",
           "--clients", str(n), "--workers", str(workers)]
    cmd += ["--auth-file", auth_file] if auth_file else ["--auth", json.dumps({"token": "user-{i}"})]
    if browser_headers:
        cmd.append("--browser-headers")
    p = subprocess.Popen(cmd, cwd=HERE, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if not line:
        raise RuntimeError(f"idle clients failed: {p.stderr.read()[-2000:]}")
    return p


def close_idle(p: subprocess.Popen) -> None:
    try:
        p.stdin.close()
        p.wait(15)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def klear_auth(n: int) -> tuple[object, str, str]:
    """Our server's fixture with n + 20 users; the auth files of the warm-up and the measured connections."""
    from klear_fixture import Klear

    klear = Klear("idle")
    klear.run(klear.create())
    users = klear.run(klear.users(n + 20))
    files = []
    for part, group in (("warm", users[:20]), ("idle", users[20:])):
        path = f"/tmp/{klear.db_name}-{part}.json"
        Path(path).write_text(json.dumps([{"token": u.token} for u in group]))
        files.append(path)
    return klear, files[0], files[1]


def measure(name: str, n: int, workers: int, hold: float, browser_headers: bool) -> dict:
    port = free_port()
    klear, warm_auth, idle_auth = klear_auth(n) if name == "klear" else (None, None, None)
    srv = klear.start(port, None) if klear is not None else start_server(name, port, None, "json")
    try:
        warm = open_idle(port, 20, 1, auth_file=warm_auth)
        time.sleep(1)
        close_idle(warm)
        base = settle(srv.pid, 2)
        t0 = time.time()
        idle = open_idle(port, n, workers, browser_headers, auth_file=idle_auth)
        opened_s = time.time() - t0
        # hold past the first Engine.IO ping round (ping_interval 25 s): the
        # steady idle state, after per-connection start-up objects are gone
        loaded = settle(srv.pid, hold)
        close_idle(idle)
        return {"server": name, "connections": n, "browser_headers": browser_headers,
                "rss_base_kib": base,
                "rss_loaded_kib": loaded,
                "kib_per_connection": round((loaded - base) / n, 2),
                "open_seconds": round(opened_s, 1)}
    finally:
        stop_server(srv)
        if klear is not None:
            klear.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--counts", default="2000,10000")
    ap.add_argument("--servers", default="python-stock,python-fast,node,klear")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--browser-headers", action="store_true",
                    help="also measure with a desktop browser's handshake headers")
    ap.add_argument("--hold", type=float, default=30,
                    help="seconds to hold the idle connections before measuring")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "fanout_idle_memory"))
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    rows = []
    for n in [int(x) for x in args.counts.split(",")]:
        if n + 100 > hard:
            print(f"skip {n}: RLIMIT_NOFILE hard limit {hard}", flush=True)
            continue
        for name in args.servers.split(","):
            assert name in SERVERS or name == "klear"
            for bh in ([False, True] if args.browser_headers else [False]):
                row = measure(name, n, args.workers, args.hold, bh)
                rows.append(row)
                print(json.dumps(row), flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(
        {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "nofile": hard, "rows": rows},
        indent=2) + "\n")
    md = ["# Idle websocket connection memory", "",
          "RSS of the server process beyond its warmed-up empty state, per idle "
          "connection authenticated with CONNECT auth {token} (kept as the "
          "session). Target: <= 20 KiB.", "",
          "| server | connections | browser headers | base RSS MiB | loaded RSS MiB | KiB / connection | s to connect all |",
          "|---|---:|---|---:|---:|---:|---:|"]
    for r in rows:
        md.append(f"| {r['server']} | {r['connections']:,} | {r['browser_headers']} | "
                  f"{r['rss_base_kib'] / 1024:.1f} | "
                  f"{r['rss_loaded_kib'] / 1024:.1f} | {r['kib_per_connection']} | {r['open_seconds']} |")
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
