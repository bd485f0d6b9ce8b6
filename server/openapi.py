"""The OpenAPI 3.1 document, generated from the routes and their pydantic models.

Client generators name their classes after the component names, so every
component must have a clean, unique name: two models of the same class name
(which pydantic would name after their module paths) stop `build` instead.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from .auth.scopes import SCOPES
from .errors import error_schema
from .routing import Route

_STATUS_TEXT = {
    400: "Malformed request (for example invalid JSON).",
    401: "Missing, invalid, expired or revoked credentials.",
    403: "Signed in, but not allowed to do this.",
    404: "No such resource.",
    405: "Method not allowed on this route.",
    409: "Conflicts with the current state.",
    413: "Body larger than 1 MiB.",
    422: "The body or query failed validation; `details` lists each problem.",
    429: "Rate limited; see Retry-After.",
    503: "A dependency is unavailable.",
}


def build(routes: list[Route], *, title: str, version: str, extra_paths: dict[str, Any] | None = None) -> dict[str, Any]:
    """The document for `routes`, with every model under components/schemas."""
    models: dict[type[BaseModel], None] = {}
    for r in routes:
        for m in (r.body, r.response):
            if m is not None:
                models[m] = None
    keyed = [(m, "validation" if any(r.body is m for r in routes) else "serialization") for m in models]
    mapping, defs = models_json_schema(keyed, ref_template="#/components/schemas/{model}") if keyed else ({}, {})
    schemas: dict[str, Any] = dict(defs.get("$defs", {}))
    _check_names(schemas)
    schemas["Error"] = error_schema()
    error_ref = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}

    paths: dict[str, Any] = dict(extra_paths or {})
    for r in routes:
        op: dict[str, Any] = {
            "operationId": r.handler.__name__,
            "summary": r.summary,
            "tags": [r.tag],
            "responses": {},
        }
        params = [
            {"name": p, "in": "path", "required": True,
             "schema": {"type": "string", "format": "uuid"} if p.endswith("id") else {"type": "string"}}
            for p in r.path_params()
        ]
        if r.query is not None:
            qschema = r.query.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, sub in qschema.pop("$defs", {}).items():
                if schemas.setdefault(name, sub) != sub:
                    raise ValueError(f"two different schemas are named {name}; rename one of the models")
            required = set(qschema.get("required", []))
            for name, prop in qschema.get("properties", {}).items():
                params.append({"name": name, "in": "query", "required": name in required, "schema": prop})
        params += [
            {"name": h.name, "in": "header", "required": h.required, "description": h.description, "schema": h.schema}
            for h in r.headers
        ]
        if params:
            op["parameters"] = params
        if r.body is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": mapping[(r.body, "validation")]}}}
        elif r.upload is not None:
            op["requestBody"] = {"required": True, "content": {r.upload: {"schema": {"type": "string", "format": "binary"}}}}
        if r.response is not None:
            mode = "validation" if (r.response, "validation") in mapping else "serialization"
            for status in (r.status, *r.also_status):
                op["responses"][str(status)] = {
                    "description": "OK",
                    "content": {r.content_type or "application/json": {"schema": mapping[(r.response, mode)]}},
                }
        elif r.content_type is not None:
            op["responses"][str(r.status)] = {"description": "OK", "content": {r.content_type: {"schema": {"type": "string"}}}}
        else:
            op["responses"][str(r.status)] = {"description": "Done; no body."}
        codes = set(r.errors) | ({401, 403} if r.auth else set()) | ({403} if r.roles else set())
        if r.body is not None or r.upload is not None:
            codes |= {400, 413, 422}
        if r.query is not None or r.headers:
            codes.add(422)
        if r.path_params():
            codes.add(404)  # a malformed id is simply not found
        for code in sorted(codes):
            op["responses"][str(code)] = {"description": _STATUS_TEXT.get(code, "Error."), **error_ref}
        if r.auth:
            # A person's own token may call any operation; an app's or a personal access token only those naming
            # one of its scopes (403 insufficient_scope otherwise).
            op["security"] = [{"bearer": []}] + ([{"oauth2": [r.scope]}] if r.scope else [])
        paths.setdefault(r.full_path, {})[r.method.lower()] = op

    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": security_schemes(),
        },
    }


def security_schemes() -> dict[str, Any]:
    """A person's bearer token; OAuth 2.0 for apps, with every scope; HTTP Basic for an app at the OAuth endpoints."""
    token_url = "/api/v1/oauth/token"
    return {
        "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                   "description": "A person's access token (POST /api/v1/auth/login), or a personal access token "
                                  "(klear_pat_..., limited to its scopes)."},
        "oauth2": {"type": "oauth2", "description": "An app's token; PKCE (S256) is required for the code flow.",
                   "flows": {
                       "authorizationCode": {"authorizationUrl": "/app/oauth/authorize", "tokenUrl": token_url,
                                             "refreshUrl": token_url, "scopes": dict(SCOPES)},
                       "clientCredentials": {"tokenUrl": token_url, "scopes": dict(SCOPES)},
                   }},
        "client": {"type": "http", "scheme": "basic", "description": "An app's client_id and client_secret."},
    }


def _check_names(schemas: dict[str, Any]) -> None:
    """Refuse names pydantic made from module paths (a clash of class names) and duplicate titles."""
    clashes = [name for name in schemas if "__" in name]
    titles = [s.get("title", name) for name, s in schemas.items()]
    duplicates = sorted({t for t in titles if titles.count(t) > 1})
    if clashes or duplicates:
        raise ValueError(f"OpenAPI component names must be unique class names; rename: {clashes + duplicates}")
