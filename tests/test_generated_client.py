"""A client generated from our OpenAPI document works: register, log in, set up a practice and book it.

Integrators generate clients rather than read docs; openapi-python-client
refused the document once (two components titled `FeedOut`). This generates a
client from what a real server process serves, imports it and drives the flow
with it alone. Registration is followed by a login with the password, so the
test holds whatever register answers with.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import pytest

from .conftest import PASSWORD, new_email

pytestmark = pytest.mark.slow

PACKAGE = "klear_generated"


async def _generate(url: str, into: Path) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/api/v1/openapi.json") as resp:
        assert resp.status == 200
        (into / "openapi.json").write_bytes(await resp.read())
    # A zip (the GDPR export's download) is bytes to the generator, as application/octet-stream is.
    (into / "config.json").write_text(json.dumps({"post_hooks": [], "package_name_override": PACKAGE,
                                                  "content_type_overrides": {"application/zip": "application/octet-stream"}}))
    tool = Path(sys.executable).with_name("openapi-python-client")
    proc = await asyncio.create_subprocess_exec(
        str(tool), "generate", "--path", str(into / "openapi.json"), "--config", str(into / "config.json"),
        "--meta", "none", "--output-path", str(into / PACKAGE),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, out.decode()
    assert b"Warning" not in out and b"Error" not in out, out.decode()  # the tool skips what it cannot model


@contextmanager
def _imported(into: Path) -> Iterator[dict[str, ModuleType]]:
    """The generated package's modules, importable while the block runs (its models import each other lazily)."""
    sys.path.insert(0, str(into))
    try:
        names = ["client", "models", "api.auth.register", "api.auth.login", "api.practitioners.save_profile",
                 "api.practitioners.create_offering", "api.practitioners.put_hours", "api.practitioners.slots",
                 "api.bookings.create_booking", "api.bookings.get_booking"]
        yield {n: importlib.import_module(f"{PACKAGE}.{n}") for n in names}
    finally:
        sys.path.remove(str(into))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def _signed_in(g: dict[str, ModuleType], url: str, role: str) -> Any:
    """Register, then log in with the password; the access token from the login signs the client in."""
    models, client_module = g["models"], g["client"]
    anonymous = client_module.Client(base_url=url, raise_on_unexpected_status=True)
    email = new_email(role)
    registered = g["api.auth.register"].sync_detailed(client=anonymous, body=models.RegisterIn(
        email=email, password=PASSWORD, display_name=f"Generated {role}", role=models.RegisterInRole(role),
        time_zone="Europe/London"))
    assert registered.status_code < 300, registered.content
    tokens = g["api.auth.login"].sync(client=anonymous, body=models.LoginIn(email=email, password=PASSWORD))
    assert isinstance(tokens, models.TokenPair), tokens
    signed_in = client_module.AuthenticatedClient(base_url=url, token=tokens.access_token, raise_on_unexpected_status=True)
    return signed_in, tokens.user.id


def _flow(g: dict[str, ModuleType], url: str) -> None:
    models = g["models"]
    practitioner, pid = _signed_in(g, url, "practitioner")
    profile = g["api.practitioners.save_profile"].sync(pid, client=practitioner, body=models.ProfileIn(
        bio="Generated.", booking_rules=models.BookingRules(min_notice_min=0, horizon_days=60)))
    assert isinstance(profile, models.ProfileOut), profile
    offering = g["api.practitioners.create_offering"].sync(pid, client=practitioner, body=models.OfferingIn(
        name="Breathwork", duration_min=60, price_minor=4000, currency="EUR", mode=models.OfferingInMode("video")))
    assert isinstance(offering, models.OfferingOut), offering
    weekly = [models.WeeklyHours(weekday=models.WeeklyHoursWeekday(d), start="00:00", end="24:00")
              for d in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")]
    hours = g["api.practitioners.put_hours"].sync(pid, client=practitioner, body=models.HoursIn(weekly=weekly))
    assert isinstance(hours, models.HoursOut), hours

    client, _ = _signed_in(g, url, "client")
    day = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()
    found = g["api.practitioners.slots"].sync(pid, client=client, offering=offering.id, from_=day, to=day, tz="UTC")
    assert isinstance(found, models.SlotsOut) and found.slots, found
    start = found.slots[0].start
    key = str(uuid.uuid4())
    book = g["api.bookings.create_booking"]
    first = book.sync_detailed(client=client, body=models.BookingIn(offering_id=offering.id, start_at=start),
                               idempotency_key=key)
    assert first.status_code == 201, first.content
    again = book.sync_detailed(client=client, body=models.BookingIn(offering_id=offering.id, start_at=start),
                               idempotency_key=key)
    assert again.status_code == 200 and again.parsed.id == first.parsed.id  # the retry is the same booking
    read = g["api.bookings.get_booking"].sync(first.parsed.id, client=client)
    assert isinstance(read, models.BookingOut)
    assert (read.status.value, read.offering.id, read.start_at) == ("confirmed", offering.id, start)


async def test_a_generated_python_client_registers_logs_in_and_books(server, tmp_path):
    await _generate(server.url, tmp_path)
    with _imported(tmp_path) as generated:
        await asyncio.to_thread(_flow, generated, server.url)
