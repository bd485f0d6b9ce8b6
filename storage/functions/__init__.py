"""The SQL functions, one file each, and how Python calls them.

`<name>.sql` holds the only definition of function `<name>`: one
`CREATE OR REPLACE FUNCTION`, which `storage.migrate` applies again whenever
the file changes (numbered migrations never define functions). Files apply
in name order with their bodies checked: plpgsql looks up what it calls when
it runs, so plpgsql functions may call each other in any order, but a
SQL-language body is checked when it is created and may only call functions
whose files sort before its own.
"""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def _named(function: str, params: tuple[str, ...]) -> str:
    return f"SELECT * FROM {function}({', '.join(f'{p} => ${i}' for i, p in enumerate(params, 1))})"


def call(function: str, /, **args: Any) -> tuple[Any, ...]:
    """The query calling `function` with `args` in SQL named notation, then the arguments, for
    `conn.fetch(*call(...))`: the wire protocol binds parameters by position only, so the names go in
    the SQL, and each argument is named where it is given."""
    return (_named(function, tuple(args)), *args.values())
