"""Rules every route follows, checked over every route at once so a new route cannot slip past them.

- Every text field of every request body refuses control characters (and
  single-line fields CR/LF, which broke email headers).
- Every integer query parameter refuses values beyond 64 bits with a 422.
- The OpenAPI document has clean, unique component names and declares the
  headers routes read, so generated clients work.
- Every error code the source can answer with is documented in docs/api.md.
"""

from __future__ import annotations

import importlib
import pkgutil
import uuid
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import pytest
from klear_client import KlearClient
from pydantic import BaseModel, ValidationError, create_model

import server.api
from server.api import fields, ops
from server.error_codes import MEANINGS, collect, markdown_table
from server.openapi import build
from server.routing import Route, RouteTable

from .conftest import PASSWORD, new_email, signed_up
from .test_bad_input import assert_error_shape

pytestmark = pytest.mark.quick

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def app(shared_app):
    return shared_app


def _routes() -> list[Route]:
    """Every route of every handler module in server/api (each declares a `routes` table)."""
    found: list[Route] = []
    for module in pkgutil.iter_modules(server.api.__path__):
        table = getattr(importlib.import_module(f"server.api.{module.name}"), "routes", None)
        if isinstance(table, RouteTable):
            found += table.routes
    return found


ROUTES = _routes()
DOCUMENT = build(ROUTES, title="t", version="0", extra_paths=ops.documented_paths(metrics_here=True))


def _unwrap(annotation: Any) -> Any:
    """`Annotated[T, ...]` as T: pydantic keeps the metadata in the field, the test wants the type."""
    return get_args(annotation)[0] if get_origin(annotation) is Annotated else annotation


def _text_fields(model: type[BaseModel], prefix: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], bool]]:
    """Paths to every str field of `model` (into nested models and lists), with whether it sits in a list."""
    found: list[tuple[tuple[Any, ...], bool]] = []
    for name, info in model.model_fields.items():
        key = info.alias or name
        annotation = _unwrap(info.annotation)
        options = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else (annotation,)
        for option in map(_unwrap, options):
            listed = get_origin(option) is list
            inner = _unwrap(get_args(option)[0]) if listed else option
            if inner is str:
                found.append(((*prefix, key), listed))
            elif isinstance(inner, type) and issubclass(inner, BaseModel):
                found += [((*prefix, key, *(0,) * listed, *rest), flag) for rest, flag in _text_fields(inner)]
    return found


# The text fields that must take any character: signing in, and confirming an erasure with the current
# password, compare with whatever password the account was created with, including ones set before passwords
# refused control characters. A new password is checked (RegisterIn.password, NewPassword) and is in the list.
EXEMPT = {("LoginIn", ("password",)), ("EraseIn", ("current_password",))}


def _bodies() -> list[Any]:
    seen: dict[tuple[str, tuple[Any, ...]], Any] = {}
    for route in ROUTES:
        if route.body is not None:
            for path, listed in _text_fields(route.body):
                name = route.body.__name__
                if (name, path) not in EXEMPT:
                    seen[(name, path)] = pytest.param(name, route.body, path, listed, id=f"{name}.{'.'.join(map(str, path))}")
    return list(seen.values())


def _nest(path: tuple[Any, ...], value: object) -> Any:
    for key in reversed(path):
        value = [value] if isinstance(key, int) else {key: value}
    return value


@pytest.mark.parametrize(("name", "model", "path", "listed"), _bodies())
@pytest.mark.parametrize("bad", [f"Long enough{c}to pass other rules" for c in "\x00\x1b\x7f\x85"])
def test_every_text_field_of_every_body_refuses_control_characters(name, model, path, listed, bad):
    value = [bad] if listed else bad
    with pytest.raises(ValidationError) as refused:
        model.model_validate(_nest(path, value))
    locs = {tuple(e["loc"]) for e in refused.value.errors()}
    assert any(loc[: len(path)] == path for loc in locs), f"{name}.{'.'.join(map(str, path))} took {bad!r}"


def _integer_parameters() -> list[tuple[str, str]]:
    found = []
    for route in ROUTES:
        if route.method == "GET" and route.query is not None:
            for name, prop in route.query.model_json_schema()["properties"].items():
                if "integer" in {o.get("type") for o in prop.get("anyOf", [prop])}:
                    found.append((route.path, name))
    return found


@pytest.fixture(scope="module")
async def member(shared_app):
    """A signed-in client for the checks that only need someone signed in."""
    async with KlearClient(shared_app.url) as c:
        yield await signed_up(c)


@pytest.mark.parametrize(("path", "name"), _integer_parameters())
@pytest.mark.parametrize("value", [str(2**63), str(-(2**63) - 1), "1.0", "+1"])
async def test_every_integer_query_parameter_refuses_what_is_not_a_64_bit_integer(member, path, name, value):
    c = member
    url = "/api/v1" + path.replace("{", "").replace("}", "")
    for param in [p for p in DOCUMENT["paths"]["/api/v1" + path]["get"].get("parameters", []) if p["in"] == "path"]:
        url = url.replace(param["name"], str(uuid.uuid4()))
    resp = await c.raw("GET", url, params={name: value})
    assert resp.status in (403, 422), (resp.status, resp.body)  # 403: an admin-only route, refused before the query
    if resp.status == 422:
        assert name in map(str, assert_error_shape(resp.body, "validation_failed")["details"][0]["loc"])


@pytest.mark.parametrize("name", ["👩\u200d⚕\ufe0f Dr Ada", "\u200eAda Lovelace", "José Müller", "Ngũgĩ wa Thiong'o", "李小龍"])
async def test_names_take_what_unicode_names_contain(app, clients, name):
    c = clients(app.url)
    await c.register(new_email(), PASSWORD, name, "client", "Europe/London")
    assert (await c.me())["display_name"] == name


@pytest.mark.parametrize("name", ["Ada\u202eecalevol", "\u2066Ada", "Ada\nLovelace", "Ada\x00", "   "])
async def test_names_refuse_controls_and_bidi_overrides(app, clients, name):
    resp = await clients(app.url).raw("POST", "/api/v1/auth/register", json_body={
        "email": new_email(), "password": PASSWORD, "display_name": name, "role": "client", "time_zone": "UTC"})
    assert resp.status == 422
    assert ["body", "display_name"] in [d["loc"] for d in assert_error_shape(resp.body, "validation_failed")["details"]]


@pytest.mark.parametrize("path", ["/app/%00", "/app/a%00b/c", "/app/" + "x" * 5000])
async def test_app_paths_no_file_system_takes_still_get_the_page(app, clients, path):
    resp = await clients(app.url).raw("GET", app.url + path, auth=False)
    assert resp.status == 200
    assert b"<html" in resp.raw.lower()
    assert "Traceback" not in app.log_text()


async def test_head_is_answered_wherever_get_is(app, clients):
    c = await signed_up(clients(app.url))
    for path in ("/api/v1/me", "/api/v1/bookings", "/api/v1/openapi.json", "/healthz"):
        get, head = await c.raw("GET", path), await c.raw("HEAD", path)
        assert (head.status, head.raw) == (get.status, b""), path
        assert head.headers["Content-Type"] == get.headers["Content-Type"], path


def test_component_names_are_clean_and_unique():
    schemas = DOCUMENT["components"]["schemas"]
    assert not [name for name in schemas if "__" in name]
    titles = [s.get("title", name) for name, s in schemas.items()]
    assert len(titles) == len(set(titles))


def test_two_models_of_one_name_stop_the_document():
    first = next(r for r in ROUTES if r.response is not None)
    clash = create_model(first.response.__name__, __base__=first.response, __module__="elsewhere", extra=(int, 0))
    other = Route("GET", "/clash", first.handler, "t", "clash", response=clash)
    with pytest.raises(ValueError, match="rename"):
        build([first, other], title="t", version="0")


@pytest.mark.parametrize("path", ["/api/v1/bookings", "/api/v1/bookings/{booking_id}/reschedule"])
def test_idempotent_posts_declare_the_idempotency_key_header(path):
    operation = DOCUMENT["paths"][path]["post"]
    header = [p for p in operation["parameters"] if p["in"] == "header"]
    assert [(h["name"], h["required"]) for h in header] == [("Idempotency-Key", True)]
    assert {"200", "201"} <= set(operation["responses"])


def test_text_rules_are_in_the_schema_for_generated_clients():
    offering = DOCUMENT["components"]["schemas"]["OfferingIn"]["properties"]
    assert offering["name"]["pattern"] == f"^[^{fields._NOT_IN_LINE}]*$"
    assert offering["description"]["pattern"] == f"^[^{fields._NOT_IN_TEXT}]*$"


def test_every_error_code_in_the_source_is_documented():
    found = collect()
    assert set(found) == set(MEANINGS), "add each new code to server/error_codes.py MEANINGS"
    assert markdown_table(found) in (ROOT / "docs" / "api.md").read_text(), "regenerate with: ./klear error-codes"


def test_the_collector_finds_each_way_a_code_is_written(tmp_path):
    package = tmp_path / "server"
    package.mkdir()
    (package / "m.py").write_text(
        "class A(Refusal):\n    status, code = 409, 'a_tuple'\n"
        "class B(Refusal):\n    code = 'b_attr'\n"
        "raise Unprocessable('x', code='c_kw')\n"
        "raise Refused(409, 'd_refused', 'x')\n"
        "raise EventError('e_event', 'x')\n"
        "TABLE = {'x': ('f_pair', 'A message.')}\n"
        "TABLE.get(s, ('g_fallback', reason))\n"
        "ack = {'code': 'h_dict'}\n"
    )
    for name in ("channels", "scheduler", "rtc", "records", "storage"):
        (tmp_path / name).mkdir()
    assert set(collect(tmp_path)) == {"a_tuple", "b_attr", "c_kw", "d_refused", "e_event", "f_pair", "g_fallback", "h_dict"}
