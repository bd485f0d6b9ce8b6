"""The application object: every long-lived resource of a process, started and stopped in one place.

`running(settings)` opens them in dependency order (keys, database, migrations,
Redis, bus) and closes them in reverse. A failure at start-up raises; nothing
is left half-open and the server does not carry on without a dependency.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from storage.blobs import BlobStore, FileBlobStore, S3BlobStore
from storage.bus import AnyRedis, Bus, MemoryBus, RedisBus
from storage.bus_messages import AUTH, UserChanged, decode_auth
from storage.crypto import Sealer
from storage.database import Database
from storage.database import QueryObserver
from storage.embedded import EmbeddedPostgres
from storage.errors import Unavailable
from storage.keyring import Keyring, KeyringError
from storage.migrate import Applied, locked, migrate
from storage.upgrades import run_pending
from storage.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from storage.redis_batch import Batched

from . import keys
from .auth.passwords import Passwords
from .auth.sessions import SessionCache
from .auth.tokens import Tokens
from .config import ConfigError, Settings
from .metrics import Metrics

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Runtime:
    """What every part of the server shares: config, storage, Redis, bus and services built on them."""

    settings: Settings
    db: Database
    redis: AnyRedis | None
    bus: Bus
    limiter: RateLimiter
    tokens: Tokens
    sessions: SessionCache
    passwords: Passwords
    metrics: Metrics
    blobs: BlobStore


async def _embedded_url(stack: AsyncExitStack, settings: Settings) -> str:
    pg = EmbeddedPostgres(settings.storage.data_dir / "postgres")
    url = await asyncio.to_thread(pg.start)
    stack.push_async_callback(asyncio.to_thread, pg.stop)
    log.info("embedded PostgreSQL running", extra={"event": "embedded_postgres"})
    return url


async def database_url(stack: AsyncExitStack, settings: Settings) -> str:
    """DATABASE_URL, or the URL of the embedded cluster started (and later stopped) on `stack`."""
    return settings.storage.database_url or await _embedded_url(stack, settings)


CLUSTER_SCHEME = "redis+cluster://"
POOL_WAIT = 5.0  # seconds a command may wait for a free Redis connection


async def connect_redis(url: str, pool_max: int) -> AnyRedis:
    """A Redis client that has answered a PING; raises `Unavailable` otherwise.

    A URL `redis+cluster://host:port` names a Redis Cluster by one of its nodes
    (the others are discovered); any other URL, a single Redis. Commands are
    retried briefly on connection errors, so the first command on a pooled
    connection that went stale during a Redis restart reconnects instead of failing.

    A single Redis gets a blocking pool of `pool_max` connections: under a burst
    a command waits for a connection (up to `POOL_WAIT` seconds). redis-py's
    default pool refuses the 101st concurrent command at once instead, and under
    load that lost bus publications and made rate limits fall back per process.
    A cluster client cannot wait for a connection, so there `pool_max` per node
    is a hard cap.
    """
    client: AnyRedis
    if url.startswith(CLUSTER_SCHEME):
        client = RedisCluster.from_url(
            "redis://" + url[len(CLUSTER_SCHEME):], socket_connect_timeout=5, max_connections=pool_max,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.02), retries=3),
        )
    else:
        client = Redis.from_pool(BlockingConnectionPool.from_url(
            url, max_connections=pool_max, timeout=POOL_WAIT, socket_connect_timeout=5, health_check_interval=15,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.02), retries=3),
            retry_on_error=[RedisConnectionError, RedisTimeoutError, OSError],
        ))
    try:
        await client.ping()
    except Exception as exc:
        await client.aclose()
        raise Unavailable(f"cannot connect to Redis: {type(exc).__name__}") from exc
    return client


async def open_database(
    stack: AsyncExitStack, url: str, secrets: keys.Keys, *, min_size: int, max_size: int,
    observe: QueryObserver | None = None,
) -> tuple[Database, Applied]:
    """Connect (closed with `stack`), migrate, load the keyring and run the upgrade steps the migrations queued
    (storage/upgrades.py): the one way a process opens its database. Returns the database and what migrating
    changed. All of it under the migration lock, so another process starting meanwhile waits for the upgrade.

    Raises ConfigError when KLEAR_DATA_KEY does not unwrap the stored data keys: starting anyway would seal
    new data under a key that cannot open the old.
    """
    # One connection holds the migration lock while the keyring and the upgrade steps use another: at least two.
    db = await Database.connect(url, Sealer(secrets.data), min_size=min_size, max_size=max(max_size, 2),
                                observe=observe)
    stack.push_async_callback(db.close)
    async with db.connection("migrate") as conn, locked(conn):
        applied = await migrate(conn)
        if applied:
            log.info("schema changed", extra={"event": "migrated", "migrations": applied.describe()})
        await load_keyring(db, secrets)
        for step, rows in (await run_pending(db)).items():
            log.info("upgrade step done", extra={"event": "upgraded", "component": step, "count": rows})
    return db, applied


async def load_keyring(db: Database, secrets: keys.Keys) -> None:
    """Give `db` its keyring and the system key (made on a fresh database); ConfigError when KLEAR_DATA_KEY does
    not unwrap the stored data keys. `open_database` does it; a tool holding a bare `Database` may too."""
    keyring = Keyring(secrets.wrapping, secrets.previous_wrapping)
    try:
        db.sealer = await keyring.system_sealer(db, secrets.data)
    except KeyringError as exc:
        raise ConfigError(f"KLEAR_DATA_KEY: {exc}") from None
    db.keyring = keyring


async def open_blobs(settings: Settings) -> BlobStore:
    """The attachment store KLEAR_BLOB_STORE names; an S3 bucket that does not answer stops start-up."""
    st = settings.storage
    if st.blob_store == "file":
        return FileBlobStore(st.data_dir / "blobs")
    assert st.s3_bucket is not None
    store = S3BlobStore(endpoint=st.s3_endpoint, bucket=st.s3_bucket, region=st.s3_region, access_key=st.s3_access_key,
                        secret_key=st.s3_secret_key.reveal() if st.s3_secret_key else None)
    await store.check()
    return store


async def _forget_keys_on_change(bus: Bus, db: Database) -> None:
    """Drop a person's unwrapped data key here when any process announces a change of them (their erasure
    among others), so a shredded key is gone from every process, not only from the one that shredded it."""

    async def on_auth(_: str, data: bytes) -> None:
        message = decode_auth(data)
        if isinstance(message, UserChanged):
            db.keys.forget(message.user_id)

    async def on_reconnect() -> None:
        db.keys.clear()

    await bus.subscribe(AUTH, on_auth)
    bus.on_reconnect(on_reconnect)


@asynccontextmanager
async def running(settings: Settings, metrics: Metrics) -> AsyncIterator[Runtime]:
    """Start every shared resource, yield the Runtime, and close them all on the way out."""
    secrets = keys.resolve(settings)
    async with AsyncExitStack() as stack:
        url = await database_url(stack, settings)
        db, _ = await open_database(
            stack, url, secrets, min_size=settings.storage.db_pool_min, max_size=settings.storage.db_pool_max,
            observe=metrics.observe_query,
        )
        metrics.watch_pool(db.usage)
        stack.callback(metrics.watch_pool, None)

        redis: AnyRedis | None = None
        bus: Bus
        limiter: RateLimiter
        if settings.storage.redis_url:
            redis = await connect_redis(settings.storage.redis_url, settings.storage.redis_pool_max)
            stack.push_async_callback(redis.aclose)
            batched = Batched(redis)  # one pipeline to Redis for the bus's publications and the rate limits
            prefix = settings.storage.redis_prefix
            bus, limiter = RedisBus(redis, prefix, batched=batched), RedisRateLimiter(redis, prefix, batched=batched)
        else:
            bus, limiter = MemoryBus(), MemoryRateLimiter()
        tokens = Tokens(secrets.jwt, settings.server.access_token_ttl)
        sessions = SessionCache(tokens)
        await sessions.attach(bus)
        await _forget_keys_on_change(bus, db)
        await bus.start()
        stack.push_async_callback(bus.stop)
        metrics.watch_bus(bus)
        stack.callback(metrics.watch_bus, None)

        runtime = Runtime(
            settings=settings,
            db=db,
            redis=redis,
            bus=bus,
            limiter=limiter,
            tokens=tokens,
            sessions=sessions,
            passwords=Passwords(),
            metrics=metrics,
            blobs=await open_blobs(settings),
        )
        yield runtime
