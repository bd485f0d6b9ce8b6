"""The browser client (clients/web) served from the same origin as the API and Socket.IO.

Why same-origin and no build step: the page then needs no CORS, its token
never crosses origins, and what is in the repository is what runs. `/` and any
`/app/...` path that is not a file get the page (the client routes itself);
files come only from inside clients/web. Every response carries a strict
Content-Security-Policy: scripts, styles and connections only from this
origin, so the page cannot load or send anything elsewhere.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent / "clients" / "web"
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
        "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(self), microphone=(self), display-capture=(self)",
    "Cache-Control": "no-cache",
}


def _file(relative: str) -> Path | None:
    """The file of clients/web at `relative`, if there is one; a path no file system takes (a NUL, too long) has none."""
    try:
        candidate = (ROOT / relative).resolve()
        found = candidate.is_relative_to(ROOT) and candidate.is_file()
    except (ValueError, OSError):
        return None
    return candidate if found else None


async def page(request: web.Request) -> web.StreamResponse:
    """The app's single page, or one of its files."""
    found = _file(request.match_info.get("path", "")) or ROOT / "index.html"
    return web.FileResponse(found, headers=_HEADERS)


async def to_app(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/app/")


def install(app: web.Application) -> None:
    app.router.add_get("/", to_app)
    app.router.add_get("/app", to_app)
    app.router.add_get("/app/{path:.*}", page)
