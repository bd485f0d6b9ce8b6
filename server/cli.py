"""The `klear` command: serve, migrate, create-admin, keys rotate, audit verify, retention, settings, error-codes, loadtest."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from contextlib import AsyncExitStack

import uvloop
from pydantic import BaseModel, ValidationError

from klear_loadtest import options as loadtest_options
from storage import accounts, audit, retention
from storage.errors import StorageError

from . import config, error_codes, keys, logs
from .api.fields import DisplayName, Email, NewPassword, TimeZone
from .auth.passwords import Passwords
from .config import ConfigError, Settings
from .runtime import database_url, open_database


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

    keys_cmd = sub.add_parser("keys", help="Data keys: `klear keys rotate` re-wraps them with a new master key.")
    keys_sub = keys_cmd.add_subparsers(dest="keys_command", required=True)
    rotate = keys_sub.add_parser(
        "rotate", help="Re-wrap every data key wrapped by KLEAR_DATA_KEY_PREVIOUS with KLEAR_DATA_KEY (no data is re-encrypted).")
    rotate.add_argument("--data-dir", help="Data folder (KLEAR_DATA_DIR).")

    audit_cmd = sub.add_parser("audit", help="The audit log: `klear audit verify` checks its hash chain.")
    audit_sub = audit_cmd.add_subparsers(dest="audit_command", required=True)
    check = audit_sub.add_parser("verify", help="Check the audit log's hash chain; name the first bad entry (exit 1).")
    check.add_argument("--anchor", action="append", default=[], metavar="SEQ:HASH",
                       help="A head printed by an earlier verify, kept outside the database; may repeat.")
    check.add_argument("--data-dir", help="Data folder (KLEAR_DATA_DIR).")

    keep = sub.add_parser("retention", help="Show what the retention job would remove now (--apply: remove it).")
    keep.add_argument("--apply", action="store_true", help="Remove it now instead of only reporting.")
    keep.add_argument("--data-dir", help="Data folder (KLEAR_DATA_DIR).")

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


def _anchor(raw: str) -> tuple[int, bytes]:
    seq, _, digest = raw.partition(":")
    try:
        return int(seq), bytes.fromhex(digest)
    except ValueError:
        raise ConfigError(f"invalid --anchor {raw!r}: expected SEQ:HEX as printed by `klear audit verify`") from None


async def _with_database(settings: Settings, work: str, admin: _AdminIn | None = None,
                         anchors: list[tuple[int, bytes]] | None = None) -> tuple[int, str]:
    """Run one maintenance command on the database; (exit status, what to print)."""
    secrets = keys.resolve(settings)
    async with AsyncExitStack() as stack:
        url = await database_url(stack, settings)
        db, applied = await open_database(stack, url, secrets, min_size=1, max_size=2)
        if work == "migrate":
            return 0, f"applied {applied.describe()}" if applied else "database is up to date"
        if work == "keys rotate":
            if secrets.previous_wrapping is None:
                raise ConfigError("klear keys rotate needs the old master key in KLEAR_DATA_KEY_PREVIOUS")
            return 0, f"re-wrapped {await db.keys.rotate(db)} data keys with the current KLEAR_DATA_KEY"
        if work.startswith("retention"):
            apply = work == "retention apply"
            found = await retention.sweep(db, settings.records.retention, datetime.now(UTC), apply=apply)
            verb = "removed" if apply else "would remove (dry run; --apply removes)"
            lines = [f"{kind}: {n} past {settings.records.retention[kind]} days" for kind, n in found.items()]
            return 0, "\n".join([f"retention {verb}:", *lines])
        if work == "audit verify":
            verdict = await audit.verify(db, anchors)
            head = f"head {verdict.head_seq}:{verdict.head_hash.hex()}"
            if verdict.problem is not None:
                return 1, f"audit log BROKEN after {verdict.checked} good entries: {verdict.problem}"
            return 0, f"audit log intact: {verdict.checked} entries; {head} (keep it to pass as --anchor later)"
        assert admin is not None
        try:
            user = await accounts.create_user(
                db, email=admin.email, password_hash=await Passwords().hash(admin.password),
                display_name=admin.display_name, role="admin", time_zone=admin.time_zone,
            )
        except accounts.EmailTaken:
            raise ConfigError("an account with this email already exists") from None
        return 0, f"created admin {user.id}"


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
        if args.command in ("migrate", "keys", "audit", "retention"):
            work = {"keys": f"keys {getattr(args, 'keys_command', '')}",
                    "audit": f"audit {getattr(args, 'audit_command', '')}",
                    "retention": "retention apply" if getattr(args, "apply", False) else "retention"}.get(
                        args.command, "migrate")
            anchors = [_anchor(a) for a in getattr(args, "anchor", [])]
            status, text = uvloop.run(_with_database(settings, work, anchors=anchors))
            print(text, file=sys.stdout if status == 0 else sys.stderr)
            return status
        password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("Admin password: ")
        try:
            admin = _AdminIn(
                email=args.email, display_name=args.display_name,
                time_zone=args.time_zone or settings.server.default_time_zone, password=password,
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ConfigError(f"invalid {first['loc'][0]}: {first['msg']}") from None
        status, text = uvloop.run(_with_database(settings, "create-admin", admin))
        print(text)
        return status
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
