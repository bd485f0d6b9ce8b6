"""The SQL functions, one file each.

`<name>.sql` holds the only definition of function `<name>`: one
`CREATE OR REPLACE FUNCTION`, which `storage.migrate` applies again whenever
the file changes (numbered migrations never define functions). Files apply
in name order with their bodies checked: plpgsql looks up what it calls when
it runs, so plpgsql functions may call each other in any order, but a
SQL-language body is checked when it is created and may only call functions
whose files sort before its own.
"""
