"""The web app stays small: the JavaScript a browser downloads (our modules and the vendored Socket.IO
client, source maps aside) is under 170 KB before compression, with no build step."""

from __future__ import annotations

from pathlib import Path

import pytest

WEB = Path(__file__).resolve().parents[2] / "clients" / "web"


@pytest.mark.quick
def test_the_javascript_sent_to_the_browser_is_under_170_kb() -> None:
    files = [*WEB.glob("js/*.js"), *WEB.glob("vendor/*.js")]
    assert files
    assert sum(f.stat().st_size for f in files) < 170_000, {f.name: f.stat().st_size for f in files}
