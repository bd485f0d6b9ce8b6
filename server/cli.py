"""The `klear` command: serve, migrate, create-admin, settings, error-codes, loadtest."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Sequence
from contextlib import AsyncExitStack

import uvloop
from pydantic import BaseModel, ValidationError

from klear_loadtest import options as loadtest_options
from storage import accounts
from storage.crypto import Sealer
from storage.database import Database
from storage.errors import StorageError
from storage.migrate import migrate

from . import config, error_codes, keys, logs
from .api.fields import DisplayName, Email, NewPassword, TimeZone
from .auth.passwords import Passwords
from .config import ConfigError, Settings
from .runtime import database_url


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="klear", description="Klear Karma real-time server.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="Run the server (flags override environment variables).")
    serve.add_argument("--host", help="Address to listen on (KLEAR_HOST).")
    serve.add_argument("--port", help="TCP port (KLEAR_PORT).")
    serve.add_argument("--workers", help="Worker processes sharing the port (KLEAR_WORKERS).")
    serve.add_argument("--data-dir", help="Data folder (KLEAR_DATA_DIR).")
    serve.add_argument("--log-level", help="debug, info, warning or error (KLEAR_LOG_LEVEL).")
    serve.add_argument("--ready-fd", type=int, help=argparse.SUPPRESS)

    mig = sub.add_parser("migrate", help="Apply database migrations and exit.")
    mig.add_argument("--data-dir", help="Data folder (KLEAR_DATA_DIR).")

    admin = sub.add_parser("create-admin", help="Create an admin account (password read from stdin or a prompt).")
    admin.add_argument("--email", required=True)
    admin.add_argument("--display-name", required=True)
    admin.add_argument("--time-zone", help="IANA time zone (default: KLEAR_DEFAULT_TIME_ZONE).")
    admin.add_argument("--password-stdin", action="store_true", help="Read the password from standard input.")
    admin.add_argument("--data-dir", help="Data folder (KLEAR_DATA_DIR).")

    settings = sub.add_parser("settings", help="Print every setting as a Markdown table.")
    settings.add_argument("--markdown", action="store_true", default=True)
    sub.add_parser("error-codes", help="Print every error code the API answers with, as the table of docs/api.md.")
    load = sub.add_parser("loadtest", help="Drive a deployment through its public API and judge its objectives "
                                           "(docs/loadtest.md).")
    loadtest_options.add_arguments(load)
    return parser


class _AdminIn(BaseModel):
    email: Email
    display_name: DisplayName
    time_zone: TimeZone
    password: NewPassword


async def _with_database(settings: Settings, work: str, admin: _AdminIn | None = None) -> str:
    secrets = keys.resolve(settings)
    async with AsyncExitStack() as stack:
        url = await database_url(stack, settings)
        db = await Database.connect(url, Sealer(secrets.data), min_size=1, max_size=2)
        stack.push_async_callback(db.close)
        async with db.connection("migrate") as conn:
            applied = await migrate(conn)
        if work == "migrate":
            return f"applied {applied.describe()}" if applied else "database is up to date"
        assert admin is not None
        try:
            user = await accounts.create_user(
                db, email=admin.email, password_hash=await Passwords().hash(admin.password),
                display_name=admin.display_name, role="admin", time_zone=admin.time_zone,
            )
        except accounts.EmailTaken:
            raise ConfigError("an account with this email already exists") from None
        return f"created admin {user.id}"


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        flags = {k: getattr(args, k, None) for k in ("host", "port", "workers", "data_dir", "log_level")}
        settings = config.load(flags=flags)
        logs.setup(settings.server.log_level)
        if args.command == "loadtest":
            from klear_loadtest import cli as loadtest_cli

            return loadtest_cli.main(args)
        if args.command == "settings":
            print(config.markdown_table())
            return 0
        if args.command == "error-codes":
            print(error_codes.markdown_table())
            return 0
        if args.command == "serve":
            from . import serve

            serve.main(settings, args.ready_fd)
            return 0
        if args.command == "migrate":
            print(uvloop.run(_with_database(settings, "migrate")))
            return 0
        password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("Admin password: ")
        try:
            admin = _AdminIn(
                email=args.email, display_name=args.display_name,
                time_zone=args.time_zone or settings.server.default_time_zone, password=password,
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ConfigError(f"invalid {first['loc'][0]}: {first['msg']}") from None
        print(uvloop.run(_with_database(settings, "create-admin", admin)))
        return 0
    except ConfigError as exc:
        print(f"klear: {exc}", file=sys.stderr)
        return 2
    except StorageError as exc:
        print(f"klear: cannot start: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
