"""Attachments: type-checked by content, size-limited, sealed, on the filesystem or an S3-compatible bucket
(moto's server, a real HTTP S3 API); nothing is kept when refused."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import asyncpg
import boto3
import pytest
from moto.server import ThreadedMotoServer

from klear_client import ApiError

from ..conftest import PASSWORD
from ..scheduler.conftest import iso
from .conftest import booked_pair

pytestmark = pytest.mark.quick

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n" + b"Blood panel 4711 plaintext" * 50 + b"\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
async def s3(tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    """A local S3-compatible server (moto) with one bucket; the settings that point the app at it."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    bucket = f"klear-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
                 aws_secret_access_key="test").create_bucket(Bucket=bucket)
    yield {"KLEAR_BLOB_STORE": "s3", "KLEAR_S3_ENDPOINT": endpoint, "KLEAR_S3_BUCKET": bucket,
           "KLEAR_S3_ACCESS_KEY": "test", "KLEAR_S3_SECRET_KEY": "test"}
    server.stop()


def _objects(s3: dict[str, str]) -> dict[str, bytes]:
    client = boto3.client("s3", endpoint_url=s3["KLEAR_S3_ENDPOINT"], region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
    listed = client.list_objects_v2(Bucket=s3["KLEAR_S3_BUCKET"]).get("Contents", [])
    return {o["Key"]: client.get_object(Bucket=s3["KLEAR_S3_BUCKET"], Key=o["Key"])["Body"].read() for o in listed}


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()} if root.exists() else {}


async def _roundtrip(app, clients) -> tuple:
    pair = await booked_pair(clients, app.url)
    added = await pair.client.upload_attachment(PDF, "bloods.pdf", "application/pdf")
    assert added["kind"] == "attachment" and added["current"]["body"]["content_type"] == "application/pdf"
    assert added["current"]["body"]["size"] == len(PDF)
    assert await pair.client.attachment_file(added["id"]) == PDF
    with pytest.raises(ApiError) as refused:
        await pair.practitioner.attachment_file(added["id"])
    assert refused.value.code == "consent_required"
    await pair.client.grant_consent(pair.practitioner_id, ["attachments"], iso(app.clock.now() + timedelta(days=1)))
    assert await pair.practitioner.attachment_file(added["id"]) == PDF
    return pair, added


async def test_an_attachment_on_the_filesystem_is_sealed_and_read_only_with_consent(start_app, clients, server_env):
    app = await start_app()
    pair, added = await _roundtrip(app, clients)
    stored = _files(Path(server_env["KLEAR_DATA_DIR"]) / "blobs")
    assert len(stored) == 1 and all(b"Blood panel 4711" not in blob and b"%PDF" not in blob for blob in stored.values())
    await pair.client.erase_account(PASSWORD)
    assert _files(Path(server_env["KLEAR_DATA_DIR"]) / "blobs") == {}


async def test_an_attachment_in_an_s3_bucket_is_sealed_and_removed_with_its_owner(start_app, clients, s3):
    app = await start_app(**s3)
    pair, added = await _roundtrip(app, clients)
    objects = _objects(s3)
    assert list(objects) == [f"attachments/{pair.client_id}/{added['id']}/1"]
    assert b"Blood panel 4711" not in next(iter(objects.values()))
    await pair.client.erase_account(PASSWORD)
    assert _objects(s3) == {}


@pytest.mark.parametrize("data, claimed, code, status", [
    (b"GIF89a not a pdf at all", "application/pdf", "attachment_type_mismatch", 422),
    (PNG, "application/pdf", "attachment_type_mismatch", 422),
    (b"%PDF-1.4" + b"x" * 5000, "application/pdf", "attachment_too_large", 413),
    (PDF, "text/html", "validation_failed", 422),
])
async def test_a_bad_attachment_gets_a_clear_4xx_and_nothing_is_stored(
    start_app, clients, server_env, database_url, data, claimed, code, status
):
    app = await start_app(KLEAR_MAX_ATTACHMENT_BYTES="4096")
    pair = await booked_pair(clients, app.url)
    resp = await pair.client.raw("POST", "/api/v1/records/attachments", data=data,
                                 params={"filename": "x.pdf", "content_type": claimed},
                                 headers={"Content-Type": "application/octet-stream"})
    assert resp.status == status and resp.body["error"]["code"] == code, resp.body
    assert _files(Path(server_env["KLEAR_DATA_DIR"]) / "blobs") == {}
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM health_records") == 0
    finally:
        await conn.close()
