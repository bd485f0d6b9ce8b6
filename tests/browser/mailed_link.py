"""Drive a browser script that waits for an emailed link: it says "asked", the test finds the link in the
mail stand-in and writes it to the script's stdin, and the script's "finished" line comes back."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

from ..support.eventually import eventually
from ..support.mailbox import Mailbox


async def run_with_mailed_link(script: Path, args: list[str], mailbox: Mailbox, email: str, *, subject: str,
                               fragment: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run `node script args…`; returns its "asked" and its last line, after handing it the link (`#fragment=`)
    of the mail to `email` whose subject contains `subject`."""
    proc = await asyncio.create_subprocess_exec("node", str(script), *args,
                                                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None and proc.stdin is not None
    try:
        asked = json.loads(await asyncio.wait_for(proc.stdout.readline(), 60))
        assert asked["event"] == "asked", asked

        async def mailed() -> str:
            found = [m for m in mailbox.to(email) if subject in str(m["Subject"])]
            assert found
            link = re.search(rf"http\S+#{fragment}=\S+", found[0].get_content())
            assert link
            return link.group(0)

        proc.stdin.write((await eventually(mailed) + "\n").encode())
        await proc.stdin.drain()
        proc.stdin.close()  # the script's one line: at end of input, node has nothing left to wait for
        finished = json.loads(await asyncio.wait_for(proc.stdout.readline(), 60))
    finally:
        await asyncio.wait_for(proc.wait(), 30)
    return asked, finished
