"""One load-generator process: connects its share of the users, then fires operations at fixed
arrival rates (open loop) and reports every second to the coordinator.

Open loop: the i-th operation of a scenario is due at start + i / rate whatever happened to the ones
before, and its latency is measured from that due time, not from when it could actually begin. A
server that stalls for a second therefore shows a second of latency on every operation that fell due
meanwhile (closed-loop tools would send fewer requests and hide it: coordinated omission).
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import socketio
import uvloop
from klear_client import ApiError, EventRefused

from . import video
from .actors import Actor, Crowd
from .latency import Second

MAX_IN_FLIGHT = 20_000
SETTLE_TIMEOUT = 15.0
VIDEO_SETTLE_TIMEOUT = 20.0  # a dead node's claim on a video session lapses within 15 s
# Answers that mean "someone else got there first", not that the server failed.
EXPECTED = {"slot_unavailable", "slot_taken", "booking_conflict", "conflict", "not_bookable"}


def run(share: dict[str, Any], setup: dict[str, Any], control: Any, reports: Any) -> None:
    """Process entry point (multiprocessing): runs until the share's work is done."""
    uvloop.run(Generator(share, setup, reports).main(control))


class Generator:
    def __init__(self, share: dict[str, Any], setup: dict[str, Any], reports: Any) -> None:
        self.share, self.setup, self.reports = share, setup, reports
        self.index = int(share["index"])
        self.second = Second()
        self.rng = random.Random(self.setup["seed"] * 1000 + self.index)
        self.in_flight: set[asyncio.Task[None]] = set()
        self.acked: dict[str, set[int]] = {}  # conversation -> seqs acked to their senders

    def report(self, kind: str, **data: Any) -> None:
        self.reports.put({"kind": kind, "process": self.index, **data})

    async def main(self, control: Any) -> None:
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
        self.video: list[video.VideoPair] = []
        with ExitStack() as stack:
            video.ice_for(self.setup["base_url"], self.setup["ice"], stack)
            async with aiohttp.ClientSession(connector=connector) as http:
                self.crowd = Crowd(self.setup["base_url"], http, lambda: self.second)
                await self._drive(control)

    async def _drive(self, control: Any) -> None:
        try:
            await self._connect_all()
            self.report("ready", connected=self.crowd.connected, second=self.second.encode())
            self.second = Second()
            start_wall = await asyncio.get_running_loop().run_in_executor(None, control.get)
            await self._run(start_wall)
            result = await self._settle()
        finally:
            await asyncio.gather(*(pair.close() for pair in self.video), return_exceptions=True)
            await self.crowd.close()
        self.report("done", result=result)

    async def _connect_all(self) -> None:
        gate = asyncio.Semaphore(50)
        share = self.share

        async def add(made: dict[str, Any], conv: str | None = None, feed: bool = False) -> Actor | None:
            async with gate:
                try:
                    return await self.crowd.add(made, conv, feed=feed)
                except Exception:  # counted as a connect error by the crowd
                    return None

        self.subscribers = [a for a in await asyncio.gather(*(add(u, feed=True) for u in share["subscribers"])) if a]
        pairs = await asyncio.gather(*(
            asyncio.gather(add(p["a"], p["conversation_id"]), add(p["b"], p["conversation_id"])) for p in share["pairs"]))
        self.pairs = [(a, b) for a, b in pairs if a and b]
        self.presence = [a for a in await asyncio.gather(*(add(u) for u in share["presence"])) if a]
        self.idle = [a for a in await asyncio.gather(*(add(u) for u in share["idle"])) if a]
        self.clients = [a for a, _ in self.pairs] + self.presence + self.idle  # pairs are (client, practitioner)
        if share["video"]:
            media = video.sources()
            for v in share["video"]:
                a, b = await add(v["a"]), await add(v["b"])
                if a is None or b is None:
                    continue
                pair = video.VideoPair(a, b, v["booking_id"], media, lambda: self.second)
                try:
                    await pair.start()
                except Exception as exc:  # the pair stays out; the run says so
                    self.second.failed("video.join", getattr(exc, "code", type(exc).__name__))
                self.video.append(pair)

    # -- pacing ----------------------------------------------------------------------------------

    async def _run(self, start_wall: float) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time() + (start_wall - time.time())
        end = start + float(self.setup["duration"])
        ops: dict[str, Callable[[float], Awaitable[None]]] = {
            "browse": self._browse, "book": self._book, "chat": self._chat, "presence": self._presence}
        pacers = [asyncio.ensure_future(self._pace(ops[name], rate, start, end))
                  for name, rate in self.setup["rates"].items() if rate > 0 and self._can(name)]
        ticker = asyncio.ensure_future(self._tick(start, end))
        await asyncio.gather(*pacers)
        if self.in_flight:
            await asyncio.wait(self.in_flight, timeout=SETTLE_TIMEOUT)
        await ticker

    def _can(self, name: str) -> bool:
        return {"browse": bool(self.clients), "book": bool(self.clients and self.setup["catalog"]),
                "chat": bool(self.pairs), "presence": bool(self.presence)}[name]

    async def _pace(self, fire: Callable[[float], Awaitable[None]], rate: float, start: float, end: float) -> None:
        loop = asyncio.get_running_loop()
        i = 0
        while (due := start + i / rate) < end:
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            i += 1
            if len(self.in_flight) >= MAX_IN_FLIGHT:
                self.second.failed(fire.__name__.strip("_"), "generator_saturated")
                continue
            task = asyncio.ensure_future(fire(due))
            self.in_flight.add(task)
            task.add_done_callback(self.in_flight.discard)

    async def _tick(self, start: float, end: float) -> None:
        """Hand the finished second to the coordinator, on the second, until the work has drained."""
        loop = asyncio.get_running_loop()
        n = 0
        while True:
            n += 1
            await asyncio.sleep(max(0.0, start + n - loop.time()))
            done, self.second = self.second, Second()
            self.report("second", t=n, connected=self.crowd.connected, in_flight=len(self.in_flight),
                        second=done.encode())
            if loop.time() >= end and not self.in_flight:
                return

    async def _measure(self, op: str, since: float, work: Awaitable[Any]) -> Any:
        """Await `work`; record its latency from `since` (the due time), or its failure."""
        try:
            result = await work
        except ApiError as exc:
            if exc.status == 409 or exc.code in EXPECTED:
                self.second.refusal(op)
            else:
                self.second.failed(op, f"{exc.status}:{exc.code}")
            return None
        except EventRefused as exc:
            self.second.failed(op, exc.code)
            return None
        except (asyncio.TimeoutError, socketio.exceptions.SocketIOError, aiohttp.ClientError, OSError) as exc:
            self.second.failed(op, type(exc).__name__)
            return None
        self.second.ok(op, asyncio.get_running_loop().time() - since)
        return result if result is not None else True

    # -- scenarios -------------------------------------------------------------------------------

    async def _browse(self, due: float) -> None:
        """A client browsing: the practitioner list, one profile, or one day of slots."""
        c = self.rng.choice(self.clients).client
        p = self.rng.choice(self.setup["catalog"])
        kind = self.rng.random()
        if kind < 0.4:
            await self._measure("browse.search", due, c.search_practitioners(limit=20))
        elif kind < 0.7:
            await self._measure("browse.profile", due, c.practitioner(p["id"]))
        else:
            day = (datetime.now(UTC).date() + timedelta(days=self.rng.randint(1, 60))).isoformat()
            await self._measure("browse.slots", due, c.slots(p["id"], p["offering_id"], day, day, "UTC"))

    async def _book(self, due: float) -> None:
        """A client booking a random half-hour; half are cancelled again at once."""
        c = self.rng.choice(self.clients).client
        p = self.rng.choice(self.setup["catalog"])
        start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(
            days=self.rng.randint(2, 700), minutes=30 * self.rng.randint(0, 47))
        booking = await self._measure("book", due, c.book(p["offering_id"], start.isoformat().replace("+00:00", "Z"),
                                                          idempotency_key=str(uuid.uuid4())))
        if isinstance(booking, dict) and self.rng.random() < 0.5:
            began = asyncio.get_running_loop().time()
            await self._measure("cancel", began, c.booking_action(booking["id"], "cancel", "load test"))

    async def _chat(self, due: float) -> None:
        """One message in a two-person chat: sometimes typing first; every other delivery is read."""
        a, b = self.rng.choice(self.pairs)
        sender, receiver = (a, b) if self.rng.random() < 0.5 else (b, a)
        cid = sender.conversation_id
        assert cid is not None
        if self.rng.random() < 0.25:
            await self._measure("chat.typing", due, sender.rt.typing(cid, "start"))
        client_id = str(uuid.uuid4())
        self.crowd.sent_at[client_id] = time.monotonic() - (asyncio.get_running_loop().time() - due)
        message = await self._measure("chat.send", due, sender.rt.send(cid, "load test message", client_id=client_id))
        if isinstance(message, dict):
            self.acked.setdefault(cid, set()).add(int(message["seq"]))
            if self.rng.random() < 0.5:
                began = asyncio.get_running_loop().time()
                await self._measure("chat.read", began, receiver.rt.read(cid, int(message["seq"])))

    async def _presence(self, due: float) -> None:
        """Presence churn: mostly a state change, sometimes a whole disconnect and reconnect."""
        actor = self.rng.choice(self.presence)
        if actor.churning:
            return
        if self.rng.random() < 0.8:
            state = self.rng.choice(("away", "online"))
            await self._measure("presence.set", due, actor.rt.set_presence(state))
            return
        actor.churning = True
        try:
            await actor.rt.sio.disconnect()
            await self._measure("presence.reconnect", due, actor.rt.connect(wait=30.0))
        finally:
            actor.churning = False

    # -- the end ---------------------------------------------------------------------------------

    async def _settle(self) -> dict[str, Any]:
        """Let deliveries drain, then check every acked message arrived exactly once, and that no two
        live bookings of a practitioner overlap (read through the API as the practitioner)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SETTLE_TIMEOUT
        while loop.time() < deadline and self._missing():
            await asyncio.sleep(0.2)
        video_deadline = loop.time() + VIDEO_SETTLE_TIMEOUT  # calls cut late in the run get to come back
        while loop.time() < video_deadline and any(any(p.stalled) for p in self.video):
            await asyncio.sleep(0.2)
        lost, duplicated = self._missing(), 0
        for a, b in self.pairs:
            duplicated += sum(n - 1 for actor in (a, b) for n in actor.seqs.values() if n > 1)
        overlaps, audited = 0, 0
        for actor in self.subscribers:
            found, checked = await self._overlaps(actor)
            overlaps += found
            audited += checked
        return {"chat_acked": sum(len(s) for s in self.acked.values()), "chat_lost": lost,
                "chat_duplicated": duplicated, "double_bookings": overlaps, "bookings_audited": audited,
                "recoveries": self.crowd.recoveries, "video_pairs": len(self.video),
                "video_joined": sum(1 for p in self.video if p.joined),
                "video_rejoins": [r for p in self.video for r in p.rejoined], "final": self.second.encode()}

    def _missing(self) -> int:
        missing = 0
        for a, b in self.pairs:
            acked = self.acked.get(a.conversation_id or "", set())
            missing += sum(1 for actor in (a, b) for seq in acked if seq not in actor.seqs)
        return missing

    async def _overlaps(self, actor: Actor) -> tuple[int, int]:
        items: list[dict[str, Any]] = []
        after = None
        try:
            while True:
                page = await actor.client.bookings(status="requested,confirmed", limit=200, after=after)
                items.extend(page["items"])
                after = page.get("next_after")
                if not after:
                    break
        except (ApiError, aiohttp.ClientError, OSError) as exc:
            self.second.failed("audit", getattr(exc, "code", type(exc).__name__))
            return 0, 0
        spans = sorted((b["start_at"], b["end_at"]) for b in items)
        overlaps = sum(1 for (_, end), (start, _) in zip(spans, spans[1:], strict=False) if start < end)
        return overlaps, len(items)

