"""Schema-driven fuzzing of every REST operation, signed in as a client and as a practitioner.

schemathesis generates valid and invalid requests from the OpenAPI document
and checks three promises: no 5xx (`not_a_server_error`), invalid input is
refused (`negative_data_rejection`), and every answer matches the documented
schema (`response_schema_conformance`). Bounded examples and a fixed seed keep
the run short and repeatable; a failure prints schemathesis's own report, with
a curl command that reproduces each finding.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from klear_client import KlearClient

from .conftest import signed_up
from .scheduler.conftest import make_practitioner, next_weekday_date

pytestmark = pytest.mark.slow

CHECKS = "not_a_server_error,negative_data_rejection,response_schema_conformance"
SEED = "20261001"
MAX_EXAMPLES = "10"


async def _schemathesis(url: str, token: str, ids: dict[str, str], workdir: Path) -> tuple[int, str]:
    """Run schemathesis with `ids` for the path parameters, so operations on real resources are exercised too."""
    config = workdir / "schemathesis.toml"
    config.write_text("[parameters]\n" + "".join(f'"path.{name}" = "{value}"\n' for name, value in ids.items()))
    tool = Path(sys.executable).with_name("schemathesis")
    # One worker: with two threads, hypothesis describing filters in both at once hits CPython 3.11's
    # thread-unsafe AST recursion counter ("SystemError: AST constructor recursion depth mismatch").
    proc = await asyncio.create_subprocess_exec(
        str(tool), "--config-file", str(config), "run", f"{url}/api/v1/openapi.json", "--checks", CHECKS, "--seed", SEED,
        "--max-examples", MAX_EXAMPLES, "--phases", "examples,coverage,fuzzing", "--workers", "1",
        "--header", f"Authorization: Bearer {token}", "--request-timeout", "10", "--generation-database", "none", "--no-color",
        cwd=str(workdir), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 150)
    return proc.returncode or 0, out.decode(errors="replace")


@pytest.mark.timeout(300)
async def test_schemathesis_finds_nothing_for_either_role(start_server, tmp_path):
    server = await start_server(KLEAR_LOGIN_RATE_IP="100000/1", KLEAR_LOGIN_RATE_ACCOUNT="100000/1")
    async with KlearClient(server.url) as practitioner, KlearClient(server.url) as client:
        p = await make_practitioner(practitioner)
        await signed_up(client)
        booking = await client.book(p.offering_id, f"{next_weekday_date(2)}T10:00:00Z")
        ids = {"practitioner_id": p.id, "offering_id": p.offering_id, "booking_id": booking["id"],
               "conversation_id": booking["conversation_id"], "user_id": p.id}
        for role, who in (("client", client), ("practitioner", practitioner)):
            assert who.session is not None
            code, report = await _schemathesis(server.url, who.session.access_token, ids, tmp_path)
            assert code == 0, f"schemathesis as a {role}:\n{report[-20000:]}"
    await server.logs_flushed()
    assert not [line for line in server.logs if "traceback" in line]
    assert all(line.startswith("{") for line in server.raw_logs)
