"""Blob stores for attachments: the filesystem under the data folder by default, or an S3-compatible API.

What goes in is already sealed with its owner's data key (records/attachments.py), so neither the disk nor
the bucket ever holds a plaintext attachment, and erasure makes the blobs unreadable even before they are
deleted. Keys are ours (`attachments/<client>/<record>/<version>`), never a user's file name.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from pathlib import Path
from typing import Any, Protocol

from .errors import Unavailable

_KEY = re.compile(r"^[a-z0-9][a-z0-9/-]{0,200}$")


def _check(key: str) -> str:
    if not _KEY.match(key) or ".." in key or "//" in key:
        raise ValueError(f"invalid blob key {key!r}")
    return key


class BlobStore(Protocol):
    async def put(self, key: str, data: bytes) -> None: ...

    async def get(self, key: str) -> bytes | None: ...

    async def delete(self, key: str) -> None: ...


class FileBlobStore:
    """Blobs as files under `root`, written to a private temporary file and renamed into place."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / _check(key)

    def _put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)

    def _get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def _delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._put, key, data)

    async def get(self, key: str) -> bytes | None:
        return await asyncio.to_thread(self._get, key)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._delete, key)


class S3BlobStore:
    """Blobs as objects of one bucket on an S3-compatible API (boto3, run in threads)."""

    def __init__(self, *, endpoint: str | None, bucket: str, region: str, access_key: str | None,
                 secret_key: str | None) -> None:
        import boto3  # only a process configured for S3 needs it loaded
        from botocore.config import Config

        self.bucket = bucket
        self._client: Any = boto3.client(
            "s3", endpoint_url=endpoint, region_name=region, aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=30),
        )

    def _call(self, name: str, **kwargs: Any) -> Any:
        try:
            return getattr(self._client, name)(Bucket=self.bucket, **kwargs)
        except self._client.exceptions.NoSuchKey:
            return None
        except Exception as exc:  # botocore reports network and service failures with many types
            raise Unavailable(f"blob store: {type(exc).__name__}") from exc

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._call, "put_object", Key=_check(key), Body=data)

    async def get(self, key: str) -> bytes | None:
        found = await asyncio.to_thread(self._call, "get_object", Key=_check(key))
        return None if found is None else await asyncio.to_thread(found["Body"].read)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._call, "delete_object", Key=_check(key))

    async def check(self) -> None:
        """Raise Unavailable unless the bucket answers (at start-up: a misconfigured store stops the server)."""
        await asyncio.to_thread(self._call, "head_bucket")
