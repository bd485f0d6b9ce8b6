"""Fixtures of the load-test tests: an admin account made with `klear create-admin`."""

from __future__ import annotations

import pytest

from ..conftest import PASSWORD, new_email
from ..support.servers import run_cli


@pytest.fixture
async def admin_email(server_env: dict[str, str]) -> str:
    """The email of a fresh admin account (password `PASSWORD`) in this test's database."""
    email = new_email("admin")
    code, _, err = await run_cli("create-admin", "--email", email, "--display-name", "Ops", "--password-stdin",
                                 env=server_env, stdin=(PASSWORD + "\n").encode())
    assert code == 0, err
    return email
