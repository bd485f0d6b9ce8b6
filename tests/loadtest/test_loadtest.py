"""`klear loadtest` against a real server: a short run's report, and its exit code both ways."""

from __future__ import annotations

import json

import pytest
from klear_client import ApiError

from ..conftest import PASSWORD
from ..support.servers import run_cli


async def _loadtest(server, env, admin_email, tmp_path, *extra: str) -> tuple[int, dict, str]:
    out = tmp_path / "report"
    code, _, err = await run_cli(
        "loadtest", server.url, "--admin-email", admin_email, "--admin-password-file", "-", "--profile", "smoke",
        "--duration", "3", "--report", str(out), *extra, env=env, stdin=(PASSWORD + "\n").encode(), timeout=120)
    assert out.with_suffix(".json").exists(), err
    return code, json.loads(out.with_suffix(".json").read_text()), err


async def test_a_short_run_reports_every_scenario_merges_processes_and_removes_its_users(
        server, server_env, admin_email, tmp_path, clients):
    code, report, err = await _loadtest(server, server_env, admin_email, tmp_path, "--processes", "2",
                                        "--video-pairs", "1")
    assert code == 0, err
    assert report["passed"] and all(s["pass"] for s in report["slos"])
    ops = report["operations"]
    for op in ("browse.search", "book", "chat.send", "chat.deliver", "presence.set"):
        assert ops.get(op, {}).get("count", 0) > 0, (op, ops)
    assert report["total"]["count"] == sum(o["count"] for o in ops.values())  # merged across both processes
    assert report["processes"] == 2 and len(report["series"]) >= 3
    assert report["integrity"]["chat_acked"] > 0
    assert report["integrity"]["chat_lost"] == 0 and report["integrity"]["chat_duplicated"] == 0
    assert report["integrity"]["double_bookings"] == 0
    assert report["integrity"]["video_joined"] == 1 and ops["video.join"]["count"] == 1  # frames both ways
    assert "[   1s] users" in err  # the live progress line
    assert "plotly" in (tmp_path / "report.html").read_text()[:200_000].lower()
    admin = clients(server.url)
    await admin.login(admin_email, PASSWORD)
    with pytest.raises(ApiError) as gone:
        await admin.remove_test_users(report["batch_id"])
    assert gone.value.status == 404  # already removed by the run


async def test_an_objective_the_server_cannot_meet_fails_the_run(server, server_env, admin_email, tmp_path):
    code, report, err = await _loadtest(server, server_env, admin_email, tmp_path, "--slo", "*:p99_ms<=0.001")
    assert code == 1, err
    assert not report["passed"] and report["slos"][0]["value"] > 0.001 and "FAIL" in err


async def test_a_malformed_objective_is_a_usage_error(server, server_env, admin_email, tmp_path):
    code, _, err = await run_cli("loadtest", server.url, "--admin-email", admin_email, "--admin-password-file", "-",
                                 "--slo", "p99 under 200", env=server_env, stdin=(PASSWORD + "\n").encode())
    assert code == 2 and "OP:METRIC<=LIMIT" in err
