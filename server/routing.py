"""Typed API routes: one declaration gives validation, authentication and the OpenAPI entry.

A handler module declares `routes = RouteTable("tag")` and decorates handlers:

    @routes.post("/auth/login", body=LoginIn, response=TokenPair, auth=False)
    async def login(call: Call[LoginIn]) -> TokenPair: ...

The same pydantic models validate requests, serialise responses and generate
the OpenAPI document, so there is no hand-kept copy of the schema.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Generic, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError

from storage import audit

from .appkeys import RUNTIME
from .auth.principal import Principal, authenticate
from .auth.scopes import SCOPES
from .errors import ApiError, BadRequest, Forbidden, InsufficientScope, NotFound, Unprocessable
from .logs import request_id
from .runtime import Runtime

API_PREFIX = "/api/v1"

B = TypeVar("B")
Handler = Callable[["Call[Any]"], Awaitable[BaseModel | web.StreamResponse | None]]


class Input(BaseModel):
    """Base of request bodies: strict types, unknown fields refused."""

    model_config = ConfigDict(strict=True, extra="forbid")


class QueryInput(BaseModel):
    """Base of query-string models: as strict as bodies (see `parse_query` for how text becomes typed)."""

    model_config = ConfigDict(strict=True, extra="forbid")


class Output(BaseModel):
    """Base of response bodies."""

    model_config = ConfigDict(from_attributes=True)


class Call(Generic[B]):
    """One API request, as a handler sees it: validated body and query, the principal, the runtime."""

    __slots__ = ("request", "body", "query", "status", "_principal")

    def __init__(self, request: web.Request, status: int) -> None:
        self.request = request
        self.body: B = None  # type: ignore[assignment]
        self.query: Any = None
        self.status = status  # a handler may change it, e.g. 200 instead of 201 for an existing resource
        self._principal: Principal | None = None

    @property
    def runtime(self) -> Runtime:
        return self.request.app[RUNTIME]

    @property
    def principal(self) -> Principal:
        if self._principal is None:
            raise RuntimeError("route declared without auth")
        return self._principal

    def uuid(self, name: str) -> uuid.UUID:
        """Path parameter `name` as a UUID; a malformed one is simply not found."""
        raw = self.request.match_info[name]
        try:
            return uuid.UUID(raw)
        except ValueError:
            raise NotFound(f"No {name.removesuffix('_id').replace('_', ' ')} with that id.") from None

    @property
    def request_id(self) -> str | None:
        return request_id.get()

    async def audit(
        self, action: str, *, subject_id: uuid.UUID | None, resource: str | None, reason: str | None = None,
        allowed: bool = True,
    ) -> None:
        """Record that the principal read or wrote someone else's data (because of `reason`), or was refused."""
        await audit.record(
            self.runtime.db, actor_id=self.principal.user_id, action=action, subject_id=subject_id,
            resource=resource, request_id=self.request_id, reason=reason, allowed=allowed,
        )


@dataclass(frozen=True, slots=True)
class Header:
    """A request header a route reads, declared so the OpenAPI document (and clients generated from it) send it."""

    name: str
    description: str
    schema: dict[str, Any]
    required: bool = True


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    handler: Handler
    tag: str
    summary: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    also_status: tuple[int, ...] = ()  # other success statuses with the same body (200 for an idempotent retry)
    auth: bool = True
    roles: frozenset[str] | None = None
    scope: str | None = None  # what an app's or a script's token needs for this; None: the person's own sign-in only
    errors: tuple[int, ...] = ()
    content_type: str | None = None
    headers: tuple[Header, ...] = ()
    upload: str | None = None  # the media type of a raw (non-JSON) request body the handler reads itself

    @property
    def full_path(self) -> str:
        return API_PREFIX + self.path

    def path_params(self) -> list[str]:
        return re.findall(r"\{(\w+)\}", self.path)


@dataclass(slots=True)
class RouteTable:
    """The routes of one handler module, tagged for the docs."""

    tag: str
    routes: list[Route] = field(default_factory=list)

    def _add(self, method: str, path: str, **options: Any) -> Callable[[Handler], Handler]:
        def decorate(handler: Handler) -> Handler:
            summary = options.pop("summary", None) or (handler.__doc__ or handler.__name__).strip().splitlines()[0]
            roles = options.pop("roles", None)
            if options.get("scope") is not None and options["scope"] not in SCOPES:
                raise ValueError(f"{handler.__name__}: no scope is named {options['scope']}")
            self.routes.append(
                Route(method, path, handler, self.tag, summary, roles=frozenset(roles) if roles else None, **options)
            )
            return handler

        return decorate

    def get(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self._add("GET", path, **options)

    def post(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self._add("POST", path, **options)

    def put(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self._add("PUT", path, **options)

    def patch(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self._add("PATCH", path, **options)

    def delete(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self._add("DELETE", path, **options)


def validation_details(exc: ValidationError, location: str) -> list[dict[str, Any]]:
    """Pydantic's errors as our `details`: where, what, and the error type."""
    return [
        {"loc": [location, *map(str, err["loc"])], "message": err["msg"], "type": err["type"]}
        for err in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


def parse_body(model: type[BaseModel], raw: bytes) -> BaseModel:
    """Validate a JSON body: malformed JSON is 400 `invalid_json`, a wrong shape is 422."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        if any(err["type"] == "json_invalid" for err in exc.errors()):
            raise BadRequest("The request body is not valid JSON.", code="invalid_json") from None
        raise Unprocessable("The request body is invalid.", details=validation_details(exc, "body")) from None


_INTEGER = re.compile(r"^-?(0|[1-9][0-9]{0,18})$")
_NUMBER = re.compile(r"^-?(0|[1-9][0-9]{0,14})(\.[0-9]{1,15})?$")


@cache
def _query_types(model: type[BaseModel]) -> dict[str, frozenset[str]]:
    """The JSON types each query parameter of `model` may take, by the name it has in the query string."""
    schema = model.model_json_schema()
    return {
        name: frozenset(t for option in prop.get("anyOf", [prop]) for t in [option.get("type")] if isinstance(t, str))
        for name, prop in schema.get("properties", {}).items()
    }


def _typed(raw: str, types: frozenset[str]) -> object:
    """A query value as the JSON value it stands for, exactly as written: `5` is an integer, `+5`, `5.0` and
    integers beyond 64 bits are not; `53.8` is a number where one is wanted (no exponent, no `inf`); `true`
    and `false` are booleans, `1` and `yes` are not. Anything else stays text, which a strict model then
    refuses where it wants a number."""
    if "integer" in types and _INTEGER.match(raw) and -(2**63) <= int(raw) < 2**63:
        return int(raw)
    if "boolean" in types and raw in ("true", "false"):
        return raw == "true"
    if "number" in types and _NUMBER.match(raw):
        return float(raw)
    return raw


def parse_query(model: type[BaseModel], request: web.Request) -> BaseModel:
    """Validate a query string strictly, as the documented schema says: each parameter at most once."""
    types = _query_types(model)
    repeated = sorted({k for k in request.query if len(request.query.getall(k)) > 1})
    if repeated:
        raise Unprocessable("The query string is invalid.", details=[
            {"loc": ["query", k], "message": "given more than once", "type": "repeated"} for k in repeated
        ])
    values = {k: _typed(v, types.get(k, frozenset())) for k, v in request.query.items()}
    try:
        return model.model_validate_json(json.dumps(values))
    except ValidationError as exc:
        raise Unprocessable("The query string is invalid.", details=validation_details(exc, "query")) from None


def _endpoint(route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    serializer = route.response.__pydantic_serializer__ if route.response is not None else None

    async def endpoint(request: web.Request) -> web.StreamResponse:
        call: Call[Any] = Call(request, route.status)
        if route.auth:
            call._principal = principal = await authenticate(request.app[RUNTIME], request.headers.get("Authorization"))
            if route.roles is not None and principal.role not in route.roles:
                raise Forbidden(f"Only {' or '.join(sorted(route.roles))} accounts may do this.")
            if principal.scopes is not None and (route.scope is None or route.scope not in principal.scopes):
                raise InsufficientScope(route.scope)
        if route.body is not None:
            call.body = parse_body(route.body, await request.read())
        if route.query is not None:
            call.query = parse_query(route.query, request)
        result = await route.handler(call)
        if serializer is not None:
            return web.Response(body=serializer.to_json(result), status=call.status, content_type="application/json")
        if result is None:
            return web.Response(status=call.status)
        return result  # a route without a response model returns its own web.Response

    endpoint.__name__ = route.handler.__name__
    return endpoint


def install(app: web.Application, tables: Iterable[RouteTable]) -> list[Route]:
    """Add every route of `tables` to `app` under /api/v1; return them for the OpenAPI document."""
    routes: list[Route] = []
    for table in tables:
        for route in table.routes:
            endpoint = _endpoint(route)
            app.router.add_route(route.method, route.full_path, endpoint)
            if route.method == "GET":  # calendar apps and caches ask with HEAD; aiohttp sends no body for it
                app.router.add_route("HEAD", route.full_path, endpoint)
            routes.append(route)
    return routes


__all__ = ["ApiError", "Call", "Header", "Input", "Output", "QueryInput", "Route", "RouteTable", "RUNTIME", "install"]
