"""The cluster rehearsal at a small scale: three nodes in network namespaces behind HAProxy, one SIGKILLed
mid-run and restarted; nothing acked may be lost or duplicated, and no slot booked twice."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from ..support.tools import require

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from cluster import netns_available  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.mark.timeout(300)
async def test_a_node_killed_mid_run_loses_no_acked_message_and_books_no_slot_twice(tmp_path):
    missing = netns_available()
    require([missing] if missing else [], "the cluster rehearsal")
    out = tmp_path / "rehearsal"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "bench" / "cluster.py"), "--users", "200", "--rate", "60", "--duration", "20",
        "--video-pairs", "2", "--no-reference", "--output", str(out), cwd=str(ROOT),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 280)
    assert proc.returncode == 0, stderr.decode()[-3000:]
    result = json.loads(out.with_suffix(".json").read_text())
    assert result["acked_chat_messages"] > 0
    assert result["acked_lost"] == 0 and result["acked_duplicated"] == 0
    assert result["double_bookings"] == 0 and result["bookings_audited"] > 0
    assert result["disconnected_clients"] > 0  # the kill cut someone off ...
    assert result["recovered_clients"] == result["disconnected_clients"]  # ... and every one came back
    assert result["recovery_p99_s"] < 10
    assert result["n1_requests_after_restart"] > 0  # traffic returned to the restarted node
    assert result["video_joined"] == 2
    assert result["video_rejoined"] >= result["video_interrupted"]  # every call cut by the kill came back
    assert "Cluster rehearsal" in out.with_suffix(".md").read_text()
