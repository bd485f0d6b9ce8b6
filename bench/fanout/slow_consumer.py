"""Slow-consumer memory: one client stops reading while others keep going.

For each server (stock python-socketio, fast path): start it, connect one
websocket client that completes the Socket.IO CONNECT and then never reads
again (4 KiB receive buffer, never answers pings), then run loadgen.js with
healthy subscribers and a rate-limited publisher of large payloads. The
server's RSS is sampled every 0.5 s. Reports RSS at start / max / end,
whether and when the stalled client was disconnected (from the server's log),
and the healthy subscribers' deliveries and loss.

    .venv/bin/python bench/fanout/slow_consumer.py [--seconds 30]
        [--payload-bytes 65536] [--rate 50] [--clients 20]
"""
from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from fanout_bench import free_port, start_server, stop_server  # noqa: E402
from idle_memory import rss_kib  # noqa: E402


def stalled_client(port: int) -> socket.socket:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.sendall((
        "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
    ).encode())
    buf = b""
    # the OPEN packet follows the 101 response (compressed by a server that
    # accepted permessage-deflate, so just wait for any frame after it)
    while b"\r\n\r\n" not in buf or len(buf) < buf.index(b"\r\n\r\n") + 6:
        buf += s.recv(4096)
    s.sendall(bytes([0x81, 0x82]) + b"\0\0\0\0" + b"40")
    time.sleep(0.3)  # CONNECT reply arrives; from now on we never read
    return s


def run(name: str, args: argparse.Namespace) -> dict:
    port = free_port()
    srv = start_server(name, port, None, "json")
    log: list[str] = []
    threading.Thread(target=lambda: log.extend(srv.stderr), daemon=True).start()
    samples = []
    try:
        time.sleep(0.5)
        rss0 = rss_kib(srv.pid)
        stalled = stalled_client(port)
        gen = subprocess.Popen(
            ["node", str(HERE / "loadgen.js"), "--url", f"http://127.0.0.1:{port}",
             "--clients", str(args.clients), "--workers", "1", "--window", "4",
             "--rate", str(args.rate), "--payload-bytes", str(args.payload_bytes),
             "--warmup", "0.5", "--duration", str(args.seconds), "--server-pid", str(srv.pid)],
            cwd=HERE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        t0 = time.time()
        while gen.poll() is None:
            samples.append((round(time.time() - t0, 1), rss_kib(srv.pid)))
            time.sleep(0.5)
        out = gen.stdout.read()
        res = json.loads(out.strip().splitlines()[-1])
        rss_end = rss_kib(srv.pid)
        stalled.close()
    finally:
        stop_server(srv)
    evicted = [line.strip() for line in log if "slow consumer" in line]
    return {
        "server": name,
        "seconds": args.seconds,
        "payload_bytes": args.payload_bytes,
        "publish_rate": args.rate,
        "healthy_clients": args.clients,
        "rss_start_kib": rss0,
        "rss_max_kib": max(r for _, r in samples),
        "rss_end_kib": rss_end,
        "rss_samples": samples,
        "stalled_client_disconnected": bool(evicted),
        "server_log": evicted[:3],
        "healthy_deliveries_per_s": res["deliveries_per_s"],
        "healthy_missing": res["loss_check"]["missing"],
        "healthy_closed": res["loss_check"]["subscribers_closed"],
        "latency_ms": res["latency_ms"],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--payload-bytes", type=int, default=65536)
    ap.add_argument("--rate", type=float, default=50)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--servers", default="python-stock,python-fast")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "fanout_slow_consumer"))
    args = ap.parse_args()
    rows = [run(name, args) for name in args.servers.split(",")]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(
        {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "rows": rows}, indent=2) + "\n")
    md = ["# Slow consumer", "",
          f"One websocket client stops reading; {args.clients} healthy subscribers; "
          f"{args.rate:g} publishes/s of {args.payload_bytes} B for {args.seconds:g} s.", "",
          "| server | RSS start MiB | RSS max MiB | RSS end MiB | stalled client dropped | healthy deliveries/s | healthy: not delivered 5 s after the last ack |",
          "|---|---:|---:|---:|---|---:|---:|"]
    for r in rows:
        md.append(f"| {r['server']} | {r['rss_start_kib'] / 1024:.1f} | {r['rss_max_kib'] / 1024:.1f} | "
                  f"{r['rss_end_kib'] / 1024:.1f} | {r['stalled_client_disconnected']} | "
                  f"{r['healthy_deliveries_per_s']:,} | {r['healthy_missing']} |")
    out.with_suffix(".md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    for r in rows:
        print(r["server"], r["server_log"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
