"""The session window of a booking, shared by the scheduler and video.

A booking may be started (and its video session joined, rtc/sessions/plan.py)
from OPENS_BEFORE its start until CLOSES_AFTER its end, and it is finished
(completed, or a no-show) when the window closes (scheduler/timeline.py). One
window for all three, so two people who first meet in its last minutes still
start their booking before the finish job judges it. It lives here, below
both, because the scheduler and rtc must not import each other.
"""

from __future__ import annotations

from datetime import timedelta

OPENS_BEFORE = timedelta(minutes=10)
CLOSES_AFTER = timedelta(minutes=15)
