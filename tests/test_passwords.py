"""New passwords: no common ones, no runs or repetitions, no control characters, wherever a password is set."""

from __future__ import annotations

import io
import logging
from typing import Annotated

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from server import cli
from server.api import auth
from server.auth.password_policy import common_passwords, problem
from server.routing import Input

from .conftest import PASSWORD, new_email

pytestmark = pytest.mark.quick

REFUSED = ["aaaaaaaaaa", "password12", "\x00" * 12, "Password123!", "P@ssw0rd2024", "1234567890", "qwertyuiop",
           "0987654321", "iloveyou2024", "abcabcabcabc", "Ab1!Ab1!Ab1!", "monkeymonkey", "2024dragon", "letmein123",
           "correct\nhorse battery", "tab\tseparated words", "klearkarma1"]
ACCEPTED = [PASSWORD, "a long passphrase", "Tr0ub4dor&3xyz", "my dog is called rex", "9f8e7d6c5b",
            "señora del mar azul", "日本語のパスフレーズです", "🧘 breathe in, breathe out"]


@pytest.mark.parametrize("password", REFUSED)
def test_weak_passwords_are_refused(password):
    assert problem(password) is not None


@pytest.mark.parametrize("password", ACCEPTED)
def test_ordinary_passphrases_are_accepted(password):
    assert problem(password) is None


def test_the_common_list_ships_with_the_package():
    common = common_passwords()
    assert len(common) > 1000 and {"password", "123456", "qwerty", "iloveyou"} <= common


def _input_models() -> list[type[BaseModel]]:
    seen, todo = [], [Input, BaseModel]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in seen and sub.__module__.startswith("server."):
                seen.append(sub)
                todo.append(sub)
    return seen


def test_every_model_that_sets_a_password_applies_the_policy():
    """A new route or command taking a password to set must use the same field type (login only checks one)."""
    setters = [m for m in _input_models() if "password" in m.model_fields and m is not auth.LoginIn]
    assert auth.RegisterIn in setters and cli._AdminIn in setters
    for model in setters:
        field = model.model_fields["password"]
        adapter = TypeAdapter(Annotated[field.annotation, *field.metadata])
        for weak in ("password12", "aaaaaaaaaa", "\x00" * 12):
            with pytest.raises(ValidationError):
                adapter.validate_python(weak)
        assert adapter.validate_python(PASSWORD) == PASSWORD


async def test_registration_names_what_is_wrong_with_the_password(app, clients):
    resp = await clients(app.url).raw("POST", "/api/v1/auth/register", json_body={
        "email": new_email(), "password": "password12", "display_name": "Weak", "role": "client", "time_zone": "UTC"})
    assert (resp.status, resp.body["error"]["code"]) == (422, "validation_failed")
    [detail] = resp.body["error"]["details"]
    assert detail["loc"] == ["body", "password"] and "common" in detail["message"]


def test_create_admin_refuses_a_common_password(monkeypatch, capsys):
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))  # `klear` sets up logging for a process of its own
    monkeypatch.setattr(root, "level", root.level)
    monkeypatch.setattr("sys.stdin", io.StringIO("password12\n"))
    code = cli.main(["create-admin", "--email", new_email("admin"), "--display-name", "Admin", "--password-stdin"])
    assert code == 2
    assert "invalid password" in capsys.readouterr().err
