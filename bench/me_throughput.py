"""Authenticated request throughput: GET /api/v1/me against a bare aiohttp handler, same run.

Both servers run as one process pinned to CPU 0 on uvloop; wrk (1 thread, 64
connections, 10 s) is pinned to CPU 1. Ours runs with its default settings
(info-level logs with an access line per request, metrics, the full
middleware), signed in with a real token. The reference returns the same
bytes our /me returned, with nothing else. Two rounds each, alternating;
the median round is reported.

    python bench/me_throughput.py [--seconds 10] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile

from common import ROOT, free_port, machine, pinned, start_klear, stop, wait_http, wrk, write

sys.path.insert(0, str(ROOT / "clients" / "python"))
from klear_client import KlearClient  # noqa: E402


async def _sign_in(url: str) -> tuple[str, bytes]:
    async with KlearClient(url) as c:
        await c.register("bench@example.org", "a long bench passphrase", "Bench User", "client", "Europe/London")
        resp = await c.raw("GET", "/api/v1/me")
        assert c.session is not None and resp.status == 200
        return c.session.access_token, resp.raw


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--connections", type=int, default=64)
    args = ap.parse_args()

    data_dir = tempfile.mkdtemp(prefix="klear-bench-me-")
    env = {"KLEAR_DATA_DIR": data_dir, "KLEAR_LOGIN_RATE_IP": "1000/60"}
    if os.environ.get("DATABASE_URL"):
        env["DATABASE_URL"] = os.environ["DATABASE_URL"]
    port, ref_port = free_port(), free_port()
    ours = start_klear(port, env, cpu=0)
    try:
        wait_http(f"http://127.0.0.1:{port}/readyz")
        token, body = asyncio.run(_sign_in(f"http://127.0.0.1:{port}"))
        ref = subprocess.Popen(pinned([sys.executable, str(ROOT / "bench" / "bare_me.py"), str(ref_port), body.decode()], 0),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_http(f"http://127.0.0.1:{ref_port}/api/v1/me")
            headers = {"Authorization": f"Bearer {token}"}
            ours_url, ref_url = f"http://127.0.0.1:{port}/api/v1/me", f"http://127.0.0.1:{ref_port}/api/v1/me"
            for url in (ours_url, ref_url):  # warm-up
                wrk(url, connections=args.connections, seconds=2, headers=headers)
            rounds: dict[str, list[dict[str, float]]] = {"klear": [], "bare_aiohttp": []}
            for _ in range(args.rounds):
                rounds["klear"].append(wrk(ours_url, connections=args.connections, seconds=args.seconds, headers=headers))
                rounds["bare_aiohttp"].append(wrk(ref_url, connections=args.connections, seconds=args.seconds, headers=headers))
        finally:
            stop(ref)
    finally:
        stop(ours)

    def median(name: str) -> dict[str, float]:
        runs = sorted(rounds[name], key=lambda r: r["requests_per_s"])
        return runs[(len(runs) - 1) // 2] if len(runs) % 2 else {
            k: statistics.mean(r[k] for r in runs[len(runs) // 2 - 1 : len(runs) // 2 + 1]) for k in runs[0]}

    k, b = median("klear"), median("bare_aiohttp")
    ratio = k["requests_per_s"] / b["requests_per_s"]
    result = {"benchmark": "me_throughput", "machine": machine(), "connections": args.connections, "seconds": args.seconds,
              "rounds": rounds, "klear": k, "bare_aiohttp": b, "ratio": ratio,
              "targets": {"ratio_at_least": 0.5, "p99_ms_below": 20},
              "met": {"ratio": ratio >= 0.5, "p99": k["p99_ms"] < 20}}
    md = f"""# GET /api/v1/me throughput ({machine()['when']})

One process each on CPU 0 (uvloop); wrk on CPU 1, {args.connections} connections, {args.seconds} s, {args.rounds} rounds (median shown).
Ours runs with default settings: info logs with an access line per request, metrics, token and session checks.

| server | requests/s | p50 ms | p99 ms | non-2xx |
| --- | --- | --- | --- | --- |
| klear `/api/v1/me` | {k['requests_per_s']:,.0f} | {k['p50_ms']:.2f} | {k['p99_ms']:.2f} | {k['non_2xx']:.0f} |
| bare aiohttp handler | {b['requests_per_s']:,.0f} | {b['p50_ms']:.2f} | {b['p99_ms']:.2f} | {b['non_2xx']:.0f} |

Ratio: **{ratio:.2f}x** (target ≥ 0.5x; {'met' if ratio >= 0.5 else 'missed'}). p99 {k['p99_ms']:.2f} ms (target < 20 ms; {'met' if k['p99_ms'] < 20 else 'missed'}).
"""
    write("me_throughput", result, md)


if __name__ == "__main__":
    main()
