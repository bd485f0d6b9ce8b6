"""Intake questionnaires: practitioners define them as JSON Schema (draft 2020-12), versioned; a client's answers
are validated against the version they answered, on every write."""

from __future__ import annotations

import uuid
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from storage import intake
from storage.database import Database
from storage.errors import NotFound, Refusal

from .access import Actor


class TemplateInvalid(Refusal):
    status, code = 422, "invalid_template"
    default_message = "The questionnaire is not a valid JSON Schema (draft 2020-12)."


class AnswersInvalid(Refusal):
    status, code = 422, "answers_invalid"
    default_message = "The answers do not fit the questionnaire; `details` lists each problem."


def _check_template(schema: dict[str, Any]) -> None:
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise TemplateInvalid(details=[{"loc": ["body", "json_schema", *map(str, exc.absolute_path)],
                                        "message": exc.message}]) from None
    if "$ref" in str(schema) and any(isinstance(v, str) and "://" in v for v in _strings(schema)):
        raise TemplateInvalid("A questionnaire may not refer to other documents.")


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def check_answers(schema: dict[str, Any], answers: dict[str, Any]) -> None:
    """Refuse answers that do not validate against `schema`, naming every problem (at most 20)."""
    errors = sorted(Draft202012Validator(schema).iter_errors(answers), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        raise AnswersInvalid(details=[{"loc": ["body", "answers", *map(str, e.absolute_path)], "message": e.message,
                                       "type": str(e.validator)} for e in errors[:20]])


async def define(db: Database, actor: Actor, title: str, schema: dict[str, Any]) -> intake.Template:
    _check_template(schema)
    return await intake.create(db, actor.user_id, title, schema)


async def redefine(db: Database, actor: Actor, template_id: uuid.UUID, title: str, schema: dict[str, Any]) -> intake.Template:
    _check_template(schema)
    template = await intake.revise(db, template_id, actor.user_id, title, schema)
    if template is None:
        raise NotFound("template")
    return template


async def template(db: Database, template_id: uuid.UUID, version: int | None) -> intake.Template:
    found = await intake.get(db, template_id, version)
    if found is None:
        raise NotFound("template")
    return found
