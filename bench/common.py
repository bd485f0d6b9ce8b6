"""Shared benchmark plumbing: servers in subprocesses, pinned CPUs, CPU quotas, explicit server
configuration (Redis or not, how many processes), /metrics scraping, wrk, result files."""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pinned(cmd: list[str], cpu: int | None) -> list[str]:
    """`cmd` pinned to one CPU with taskset, when there is more than one to choose from."""
    if cpu is None or shutil.which("taskset") is None or (os.cpu_count() or 1) < 2:
        return cmd
    return ["taskset", "-c", str(cpu), *cmd]


def pid_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of one process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """CPU time of every postgres process on the machine (the benchmark is the only heavy user)."""
    return named_cpu_seconds("postgres")


def named_cpu_seconds(prefix: str) -> float:
    """CPU time of every process whose name starts with `prefix` (postgres, redis-server)."""
    total = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                raw = f.read()
        except OSError:
            continue
        name = raw[raw.index("(") + 1: raw.rindex(")")]
        if name.startswith(prefix):
            fields = raw.rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def wait_http(url: str, timeout: float = 60.0) -> float:
    """Poll `url` until it answers 200; return the seconds it took."""
    start = time.monotonic()
    while True:
        try:
            with urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return time.monotonic() - start
        except OSError:
            pass
        if time.monotonic() - start > timeout:
            raise RuntimeError(f"{url} did not answer within {timeout} s")
        time.sleep(0.01)


def server_env(env: dict[str, str]) -> dict[str, str]:
    """The environment a server under test gets: ours minus every setting that changes what is measured
    (REDIS_URL and every KLEAR_*), plus `env`. The benchmark's flags decide those, never the caller's
    shell: an exported REDIS_URL must not silently turn a one-process run into a Redis one."""
    inherited = {k: v for k, v in os.environ.items() if k != "REDIS_URL" and not k.startswith("KLEAR_")}
    return {**inherited, **env}


DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def add_shape_flags(ap: argparse.ArgumentParser, processes: int = 2) -> None:
    """--redis URL / --no-redis and --processes N: the shape a benchmark measures comes from its flags."""
    ap.add_argument("--redis", default=DEFAULT_REDIS, metavar="URL",
                    help=f"Redis of the multi-process shape (default {DEFAULT_REDIS}); never read from REDIS_URL")
    ap.add_argument("--no-redis", action="store_true",
                    help="measure only the one-process shape without Redis")
    ap.add_argument("--processes", type=int, default=processes,
                    help=f"server processes of the Redis shape (default {processes})")


def shapes(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The configurations to measure, as written into results: one process without Redis, then (unless
    --no-redis) --processes processes sharing --redis."""
    out: list[dict[str, Any]] = [{"name": "1 process, no Redis", "processes": 1, "redis": None}]
    if not args.no_redis:
        out.append({"name": f"{args.processes} processes, Redis", "processes": args.processes, "redis": args.redis})
    return out


CGROUP = Path("/sys/fs/cgroup/cpu")


def budget(pids: list[int], cores: float) -> list[Path]:
    """Give each process its own CFS quota of `cores` (cgroup v1, root); returns the cgroups made, empty
    when quotas are not possible, so callers can say the run was unconstrained."""
    if cores <= 0 or not os.access(CGROUP, os.W_OK):
        return []
    made = []
    for pid in pids:
        group = CGROUP / f"klear-bench-{pid}"
        group.mkdir(exist_ok=True)
        (group / "cpu.cfs_period_us").write_text("100000")
        (group / "cpu.cfs_quota_us").write_text(str(int(cores * 100_000)))
        (group / "cgroup.procs").write_text(str(pid))
        made.append(group)
    return made


def release(groups: list[Path]) -> None:
    for group in groups:
        for _ in range(50):
            try:
                group.rmdir()
                break
            except OSError:  # processes still exiting
                time.sleep(0.1)


def workers_of(pid: int, expected: int) -> list[int]:
    """The serving processes of `klear serve` started as `pid`: itself with one worker, else its
    supervisor's `expected` worker children (once they have all started)."""
    import psutil

    if expected == 1:
        return [pid]
    proc = psutil.Process(pid)
    for _ in range(100):
        children = proc.children()
        if len(children) == expected:
            return [c.pid for c in children]
        time.sleep(0.1)
    raise RuntimeError("workers did not start")


def metric(port: int, name: str) -> float | None:
    """Sum of every sample of the metric `name` on a server's /metrics; None when it has no such metric
    (e.g. a counter a newer server adds), so results can say "n/a" instead of 0."""
    with urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
              if line.startswith(name) and line[len(name):len(name) + 1] in ("{", " ")]
    declared = f"# TYPE {name} " in text  # a counter with no samples yet has counted nothing: 0, not n/a
    return sum(values) if values or declared else None


def ensure_node_modules() -> None:
    """The Socket.IO generators (bench/fanout, bench/chat) use bench/fanout's own locked packages."""
    fanout = ROOT / "bench" / "fanout"
    if not (fanout / "node_modules").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=fanout, check=True)


def start_klear(port: int, env: dict[str, str], cpu: int | None = 0, args: list[str] | None = None) -> subprocess.Popen[bytes]:
    full = {**server_env(env), "KLEAR_PORT": str(port)}
    return subprocess.Popen(
        pinned([sys.executable, "-m", "server", "serve", *(args or [])], cpu),
        cwd=ROOT, env=full, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(url: str, *, connections: int, seconds: int, headers: dict[str, str], cpu: int | None = 1) -> dict[str, float]:
    """Run wrk and return requests/s, p50/p99 latency in ms, and non-2xx count."""
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    out = subprocess.run(pinned([*cmd, url], cpu), capture_output=True, text=True, check=True).stdout

    def latency(pct: str) -> float:
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        assert m, out
        return float(m.group(1)) * _UNITS[m.group(2)]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {"requests_per_s": rps, "p50_ms": latency("50"), "p99_ms": latency("99"),
            "non_2xx": float(bad.group(1)) if bad else 0.0}


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def write(name: str, data: dict[str, Any], markdown: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n")
    (RESULTS / f"{name}.md").write_text(markdown.rstrip() + "\n")
    print(markdown)
