"""The packages import each other only the way pyproject.toml's [tool.importlinter] contracts allow.

Run here as well as in CI so that `./klear test` alone fails on a wrong-way import.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_imports_keep_the_contracts():
    lint_imports = Path(sys.executable).with_name("lint-imports")  # the dev dependency's script, beside python
    result = subprocess.run(
        [str(lint_imports), "--no-cache", "--no-logo"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    if result.returncode != 0:
        pytest.fail(result.stdout + result.stderr, pytrace=False)
