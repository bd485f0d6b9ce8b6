"""`klear loadtest`: seed users through the admin path, run N generator processes against a base URL,
show progress every second, merge their histograms, judge the objectives, write the report, clean up.

Exit code: 0 when every objective held, 1 when one did not, 2 for a usage or set-up error.
"""

from __future__ import annotations

import argparse
import getpass
import multiprocessing
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import uvloop
from klear_client import KlearClient, Session

from . import generator, population, report
from .latency import Merged
from .mix import Mix
from .options import mix_from

READY_TIMEOUT = 600.0


def _password(args: argparse.Namespace) -> str:
    if args.admin_password_file == "-":
        return sys.stdin.readline().rstrip("\n")
    if args.admin_password_file:
        return Path(args.admin_password_file).read_text().rstrip("\n")
    return getpass.getpass("Admin password: ")


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def _seed(base_url: str, email: str, password: str, mix: Mix, processes: int) -> tuple[Session, population.Plan]:
    async with KlearClient(base_url) as admin:
        session = await admin.login(email, password)
        plan = await population.seed(admin, mix, processes, say)
        return admin.session or session, plan


async def _remove(base_url: str, session: Session, batch_id: str) -> int:
    async with KlearClient(base_url) as admin:
        admin.session = session
        await admin.refresh()  # the run may have outlasted the access token
        return await population.remove(admin, batch_id)


def main(args: argparse.Namespace) -> int:
    try:
        mix = mix_from(args)
    except ValueError as exc:
        say(f"klear loadtest: {exc}")
        return 2
    base_url = args.base_url.rstrip("/")
    say(f"klear loadtest: {mix.counts()['total']} users, {mix.rate:.1f} ops/s for {mix.duration:g} s "
        f"against {base_url} with {args.processes} process(es)")
    session, plan = uvloop.run(_seed(base_url, args.admin_email, _password(args), mix, args.processes))
    try:
        result = _drive(base_url, mix, plan, args)
    finally:
        if not args.keep_users:
            removed = uvloop.run(_remove(base_url, session, plan.batch_id))
            say(f"removed {removed} test users (batch {plan.batch_id})")
    json_path, html_path = report.write(Path(args.report), result)
    for s in result["slos"]:
        say(f"  {'pass' if s['pass'] else 'FAIL'}  {s['slo']}  (measured {report.fmt(s['value'])})")
    say(f"report: {json_path} {html_path}")
    return 0 if result["passed"] else 1


def _drive(base_url: str, mix: Mix, plan: population.Plan, args: argparse.Namespace) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    reports = ctx.Queue()
    rates = {op: r / args.processes for op, r in mix.rates().items()}
    setup = {"base_url": base_url, "rates": rates, "catalog": plan.practitioners, "duration": mix.duration,
             "seed": args.seed, "ice": args.ice}
    controls = [ctx.Queue() for _ in plan.shares]
    procs = [ctx.Process(target=generator.run, args=(share, setup, control, reports), daemon=True)
             for share, control in zip(plan.shares, controls, strict=True)]
    for p in procs:
        p.start()
    total, seconds = Merged(), defaultdict(Merged)
    connected: dict[int, dict[int, int]] = defaultdict(dict)
    ready, users = 0, 0
    deadline = time.monotonic() + READY_TIMEOUT
    while ready < len(procs):
        msg = reports.get(timeout=max(1.0, deadline - time.monotonic()))
        if msg["kind"] == "ready":
            ready += 1
            users += msg["connected"]
            total.add(msg["second"])  # connect failures
    say(f"connected: {users} users, {total.error_count()} failed to connect; starting")
    started_wall = time.time() + 1.0
    started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started_wall))
    for control in controls:
        control.put(started_wall)
    results: list[dict[str, Any]] = []
    reported: dict[int, int] = defaultdict(int)
    while len(results) < len(procs):
        msg = reports.get(timeout=mix.duration + 120)
        if msg["kind"] == "second":
            seconds[msg["t"]].add(msg["second"])
            total.add(msg["second"])
            connected[msg["t"]][msg["process"]] = msg["connected"]
            reported[msg["t"]] += 1
            if reported[msg["t"]] == len(procs):
                _progress(msg["t"], seconds[msg["t"]], sum(connected[msg["t"]].values()))
        elif msg["kind"] == "done":
            results.append(msg["result"])
            total.add(msg["result"]["final"])
    for p in procs:
        p.join(30)
    recoveries = sorted(r for res in results for r in res["recoveries"])
    rejoins = sorted(r for res in results for r in res["video_rejoins"])
    integrity = {
        "chat_acked": sum(r["chat_acked"] for r in results), "chat_lost": sum(r["chat_lost"] for r in results),
        "chat_duplicated": sum(r["chat_duplicated"] for r in results),
        "double_bookings": sum(r["double_bookings"] for r in results),
        "bookings_audited": sum(r["bookings_audited"] for r in results),
        "booking_updates_received": total.events.get("booking.update", 0),
        "disconnects": total.events.get("disconnect", 0), "recovered": len(recoveries),
        "recovery_p50_s": _quantile(recoveries, 0.5), "recovery_p99_s": _quantile(recoveries, 0.99),
        "video_pairs": sum(r["video_pairs"] for r in results), "video_joined": sum(r["video_joined"] for r in results),
        "video_interrupted": total.events.get("video.interrupted", 0), "video_rejoined": len(rejoins),
        "video_rejoin_p50_s": _quantile(rejoins, 0.5), "video_rejoin_p99_s": _quantile(rejoins, 0.99),
    }
    slos = report.judge(mix.slos, total)
    return {
        "target": base_url, "batch_id": plan.batch_id, "started_at": started_at, "processes": args.processes, "mix": mix.describe(),
        "passed": all(s["pass"] for s in slos) and integrity["chat_lost"] == 0 and integrity["double_bookings"] == 0,
        "slos": slos, "total": total.summary(None),
        "operations": {op: total.summary(op) for op in total.ops()},
        "error_codes": dict(total.error_codes), "integrity": integrity, "series": report.series(seconds),
        "connected_series": [sum(connected[t].values()) for t in sorted(seconds)],
        "pacing": "open loop: fixed arrival rate per operation, latency measured from each operation's due time",
    }


def _quantile(values: list[float], q: float) -> float | None:
    return None if not values else values[min(len(values) - 1, int(q * len(values)))]


def _progress(t: int, m: Merged, connected: int) -> None:
    p50, p99 = m.percentile_ms(None, 50), m.percentile_ms(None, 99)
    say(f"[{t:4d}s] users {connected:6d}  ok/s {m.count():7d}  errors {m.error_count():5d}  "
        f"p50 {report.fmt(p50):>7} ms  p99 {report.fmt(p99):>7} ms")
