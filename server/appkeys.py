"""The typed keys under which the app holds the runtime and each running component (only server/ knows them)."""

from __future__ import annotations

from aiohttp import web

from channels.available_now import AvailableNow
from channels.service import Channels
from rtc.service import Video
from scheduler.component import Scheduler

from .runtime import Runtime

RUNTIME: web.AppKey[Runtime] = web.AppKey("runtime", Runtime)
CHANNELS: web.AppKey[Channels] = web.AppKey("channels", Channels)
SCHEDULER: web.AppKey[Scheduler] = web.AppKey("scheduler", Scheduler)
VIDEO: web.AppKey[Video] = web.AppKey("video", Video)
AVAILABLE_NOW: web.AppKey[AvailableNow] = web.AppKey("available_now", AvailableNow)
