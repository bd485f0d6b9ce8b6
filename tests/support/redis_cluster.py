"""A real Redis Cluster for tests: six redis-server processes (three masters, three replicas) in a tmp dir.

Started and stopped by the test that needs it; `kill_master_of` stops the master owning a key's slot
and waits until its replica has taken over, as a failover in production would.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from .eventually import eventually
from .redis import redis_binary


def _cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port > 55000:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


class RedisClusterServers:
    """Six cluster-enabled redis-server processes joined into one cluster with one replica per master."""

    def __init__(self, nodes: int = 6) -> None:
        self.ports = [_cluster_port() for _ in range(nodes)]
        self.url = f"redis+cluster://127.0.0.1:{self.ports[0]}"
        self._dir = Path(tempfile.mkdtemp(prefix="klear-redis-cluster-"))
        self._procs: dict[int, subprocess.Popen[bytes]] = {}

    async def start(self) -> None:
        for port in self.ports:
            node_dir = self._dir / str(port)
            node_dir.mkdir()
            self._procs[port] = subprocess.Popen(
                [redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                 "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "1000",
                 "--cluster-replica-validity-factor", "0", "--save", "",
                 "--appendonly", "no", "--dir", str(node_dir)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        for port in self.ports:
            await eventually(lambda port=port: self._answers(port), timeout=5)
        created = await asyncio.to_thread(
            subprocess.run,
            ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports), "--cluster-replicas", "1",
             "--cluster-yes"], capture_output=True, timeout=60,
        )
        assert created.returncode == 0, created.stdout.decode() + created.stderr.decode()
        await eventually(self._healthy, timeout=20)
        await eventually(self._replicated, timeout=20)

    async def _replicated(self) -> None:
        """Every master has its replica connected (else a failover would have no one to promote)."""
        for port in self._procs:
            client = Redis(host="127.0.0.1", port=port)
            try:
                info = await client.info("replication")
            finally:
                await client.aclose()
            if info["role"] == "master":
                assert info["connected_slaves"] >= 1, (port, info)
            else:
                assert info["master_link_status"] == "up", (port, info)

    async def _answers(self, port: int) -> None:
        client = Redis(host="127.0.0.1", port=port)
        try:
            await client.ping()
        except Exception as exc:
            raise AssertionError(f"redis-server on port {port} does not answer: {exc!r}") from exc
        finally:
            await client.aclose()

    async def _healthy(self) -> None:
        """Every live node sees the cluster as ok, with every slot served."""
        for port in self._procs:
            client = Redis(host="127.0.0.1", port=port)
            try:
                info = await client.cluster("info")
            except Exception as exc:
                raise AssertionError(f"node {port}: {exc!r}") from exc
            finally:
                await client.aclose()
            assert info["cluster_state"] == "ok", (port, info)

    async def kill_master_of(self, key: str) -> int:
        """SIGKILL the master owning `key`'s slot; return once its replica serves the slot."""
        client = RedisCluster(host="127.0.0.1", port=next(iter(self._procs)))
        try:
            await client.initialize()
            port = int(client.get_node_from_key(key).port)
        finally:
            await client.aclose()
        proc = self._procs.pop(port)
        proc.kill()
        await asyncio.to_thread(proc.wait)

        async def taken_over() -> None:
            await self._healthy()
            probe = RedisCluster(host="127.0.0.1", port=next(iter(self._procs)))
            try:
                await probe.initialize()
                owner = int(probe.get_node_from_key(key).port)
            except Exception as exc:
                raise AssertionError(f"no owner yet: {exc!r}") from exc
            finally:
                await probe.aclose()
            assert owner != port, "the dead master still owns the slot"

        await eventually(taken_over, timeout=20)
        return port

    async def stop(self) -> None:
        for proc in self._procs.values():
            proc.kill()
        for proc in self._procs.values():
            await asyncio.to_thread(proc.wait)
        self._procs.clear()
        shutil.rmtree(self._dir, ignore_errors=True)
