"""TCP proxies for tests: cut a dependency away from one server, or balance clients over servers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

Target = tuple[str, int] | str  # (host, port), or a Unix socket path


class TcpProxy:
    """Listens on 127.0.0.1 and forwards each connection to the next live target, round robin.

    With one target it stands between a server and a dependency: `cut()` drops
    every connection and refuses new ones, `restore()` listens again. With
    several it is a load balancer: a client whose server died reconnects
    through the same address and lands on a live one, as in production.
    """

    def __init__(self, targets: list[Target]) -> None:
        self.targets = list(targets)
        self.port = 0
        self._next = 0
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for w in list(self._writers):
            w.close()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def restore(self) -> None:
        await self.start()

    stop = cut

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        for _ in range(len(self.targets)):
            target = self.targets[self._next % len(self.targets)]
            self._next += 1
            try:
                if isinstance(target, str):
                    return await asyncio.open_unix_connection(target)
                return await asyncio.open_connection(*target)
            except OSError:
                continue
        return None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream = await self._connect()
        if upstream is None:
            writer.close()
            return
        up_reader, up_writer = upstream
        self._writers |= {writer, up_writer}
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(src, dst))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
        finally:
            self._writers.discard(dst)
            with contextlib.suppress(Exception):
                dst.close()


def balancer(ports: list[int]) -> TcpProxy:
    """A round-robin load balancer over local servers."""
    return TcpProxy([("127.0.0.1", p) for p in ports])


def proxy_for_postgres(url: str) -> tuple[TcpProxy, Callable[[int], str]]:
    """A proxy in front of the PostgreSQL of `url` (TCP or the embedded server's Unix socket),
    and a function giving the URL that goes through the proxy once its port is known."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    if "host" in query:
        socket_dir = query.pop("host")[0]
        proxy = TcpProxy([f"{socket_dir}/.s.PGSQL.{parts.port or 5432}"])
    else:
        proxy = TcpProxy([(parts.hostname or "127.0.0.1", parts.port or 5432)])
    user = f"{parts.username}@" if parts.username else ""
    rest = urlencode({k: v[0] for k, v in query.items()})

    def proxied(port: int) -> str:
        return urlunsplit((parts.scheme, f"{user}127.0.0.1:{port}", parts.path, rest, ""))

    return proxy, proxied
