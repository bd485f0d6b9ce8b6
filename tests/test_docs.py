"""The documentation promises what the code does."""

from __future__ import annotations

from pathlib import Path

from server.config import markdown_table, specs

ROOT = Path(__file__).resolve().parents[1]


def test_readme_lists_every_setting_exactly_as_the_code_defines_it():
    readme = (ROOT / "README.md").read_text()
    assert markdown_table() in readme, "regenerate the table with: ./klear settings"
    for _, spec in specs():
        assert f"`{spec.env}`" in readme


def test_readme_gives_the_two_commands_and_ci_runs_the_test_one():
    readme = (ROOT / "README.md").read_text()
    assert "./klear serve" in readme and "./klear test" in readme
    assert "./klear test" in (ROOT / ".ci" / "run").read_text()
