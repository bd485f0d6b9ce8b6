"""Creating an account in the browser client: a new address is signed in at once; a taken one is told to sign
in instead (registration answers both alike, so the page learns it only when signing in fails).

Needs Debian's `chromium` and `node` with tests/js installed, like test_web_client.py.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

from ..conftest import PASSWORD, new_email
from ..support.tools import require

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "register.mjs"


async def _register_in_browser(url: str, name: str, email: str, password: str, profile: Path) -> dict[str, Any]:
    missing = [what for what, ok in (("chromium at /usr/bin/chromium", Path("/usr/bin/chromium").exists()),
                                     ("node", shutil.which("node") is not None),
                                     ("tests/js/node_modules/playwright-core",
                                      (HERE.parent / "js" / "node_modules" / "playwright-core").exists())) if not ok]
    require(missing, "the browser registration test")
    proc = await asyncio.create_subprocess_exec("node", str(SCRIPT), url, name, email, password, str(profile),
                                                stdout=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(proc.communicate(), 90)
    result = json.loads(out.decode().strip().splitlines()[-1])
    assert result["event"] != "error", result["message"]
    return result


async def test_registering_in_the_browser_signs_a_new_account_in_and_refers_a_taken_one_to_sign_in(app, tmp_path):
    email = new_email("browser")
    first = await _register_in_browser(app.url, "Bea Browser", email, PASSWORD, tmp_path / "one")
    assert first == {"event": "signed_in", "whoami": "Signed in as Bea Browser (client)."}
    again = await _register_in_browser(app.url, "Someone Else", email, "another long passphrase", tmp_path / "two")
    assert again["event"] == "refused" and "sign in instead" in again["message"]
