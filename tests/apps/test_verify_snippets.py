"""The signature checks docs/apps.md gives integrators (Python without the SDK, and JavaScript) accept what the
server signs and refuse a changed body."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import time
from pathlib import Path

import pytest

from scheduler.webhook_http import new_secret, sign

from ..support.tools import require

pytestmark = pytest.mark.quick
DOC = (Path(__file__).resolve().parents[2] / "docs" / "apps.md").read_text()


def _case() -> tuple[str, dict[str, str], bytes]:
    secret, body, now = new_secret(), b'{"type":"booking.created","data":{"booking_seq":1}}', int(time.time())
    return secret, {"webhook-id": "msg_2Kx", "webhook-timestamp": str(now),
                    "webhook-signature": sign(secret, "msg_2Kx", now, body)}, body


def test_the_python_snippet_verifies_a_delivery():
    code = re.search(r"Python, without the SDK:\n\n```python\n(.*?)```", DOC, re.S)
    assert code is not None
    scope: dict[str, object] = {}
    exec(code.group(1), scope)  # noqa: S102 - the documented snippet, run as a reader would
    secret, headers, body = _case()
    verify = scope["verify"]
    assert verify(secret, headers, body) is True  # type: ignore[operator]
    assert verify(secret, headers, body + b" ") is False  # type: ignore[operator]
    assert verify(new_secret(), headers, body) is False  # type: ignore[operator]


async def test_the_javascript_snippet_verifies_a_delivery(tmp_path):
    require([] if shutil.which("node") else ["node"], "the JavaScript snippet test")
    code = re.search(r"```js\n(.*?)```", DOC, re.S)
    assert code is not None
    secret, headers, body = _case()
    script = tmp_path / "verify.mjs"
    script.write_text(code.group(1) + f"""
const c = {json.dumps({"secret": secret, "headers": headers, "body": body.decode()})};
console.log(JSON.stringify([verify(c.secret, c.headers, Buffer.from(c.body)),
                            verify(c.secret, c.headers, Buffer.from(c.body + " "))]));
""")
    proc = await asyncio.create_subprocess_exec("node", str(script), stdout=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert json.loads(out) == [True, False]
