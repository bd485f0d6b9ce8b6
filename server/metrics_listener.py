"""/metrics on an address of its own (KLEAR_METRICS_ADDRESS), apart from the API.

Operators put it on an interface only the scraper reaches; the API port then
has no /metrics at all. It starts and stops with the app (a cleanup context),
so every process (`--workers N` included, sharing the port with SO_REUSEPORT)
serves its own metrics, as on the API port.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from aiohttp import web

from . import banner
from .api.ops import check_scraper, render_metrics
from .config import ServerSettings
from .errors import ApiError, error_response
from .metrics import Metrics


def _metrics_app(metrics: Metrics, settings: ServerSettings) -> web.Application:
    app = web.Application()
    banner.install(app)

    async def scrape(request: web.Request) -> web.Response:
        try:
            check_scraper(request, settings.metrics_token, open_to_all=True)
        except ApiError as refused:  # this small app has no middleware to render it
            return error_response(refused)
        return render_metrics(metrics)

    app.router.add_get("/metrics", scrape)
    return app


def lifespan(metrics: Metrics, settings: ServerSettings) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context serving `metrics` on `settings.metrics_address` while the app runs."""

    async def serving(_: web.Application) -> AsyncIterator[None]:
        assert settings.metrics_address is not None
        host, port = settings.metrics_address
        runner = web.AppRunner(_metrics_app(metrics, settings), handle_signals=False, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port, reuse_port=settings.workers > 1).start()
            yield
        finally:
            await runner.cleanup()

    return serving
