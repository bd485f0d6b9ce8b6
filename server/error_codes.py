"""Every error code the API can answer with, collected from the source, and the table docs/api.md shows.

Why from the source: a code added in a handler and never documented is a code
an integrator meets for the first time in production. The collector reads the
packages' syntax trees (nothing is imported or run) and finds each way a code
is written: `code="..."` passed to any refusal, a refusal class's `code = ...`,
`Refused(status, "code", ...)`, `EventError("code", ...)`, and the
`(code, message)` pairs of refusal tables. `MEANINGS` must name exactly those
codes; tests/test_error_codes.py checks both this and the table in docs/api.md
(`./klear error-codes` prints it).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("server", "channels", "scheduler", "rtc", "discovery", "records", "storage")
_CODE = re.compile(r"^[a-z][a-z0-9_]*[a-z0-9]$")
_POSITIONAL = {"Refused": 1, "TransitionRefused": 1, "EventError": 0}

MEANINGS: dict[str, str] = {
    "incomplete_point": "Search: give both `lat` and `lon`, or neither.",
    "radius_without_point": "Search: `radius_km` needs a point (`lat` and `lon`).",
    "invalid_price_range": "Search: `price_max` is below `price_min`.",
    "radius_needs_in_person": "Search: a radius finds in-person practitioners, so it cannot be combined with `mode=video`.",
    "not_completed": "Only a completed session can be reviewed.",
    "review_period_over": "The review window (KLEAR_REVIEW_WINDOW_DAYS after the session) has closed.",
    "already_reviewed": "This booking already has its review.",
    "already_replied": "The practitioner has already replied to this review.",
    "already_reported": "You have already reported this review (or this account).",
    "already_decided": "An admin has already verified or rejected this credential.",
    "invalid_cursor": "The cursor is not one this search returned; start again without it.",
    "too_many_keys": "You have as many active device keys as allowed (KLEAR_MAX_DEVICE_KEYS); revoke one first.",
    "own_request": "You asked for this conversation; the other person accepts it.",
    "request_pending": "The conversation is a contact request the other person has not accepted yet.",
    "request_too_long": "The request line or a header is longer than the HTTP parser takes.",
    "bad_method": "The HTTP method is not one the parser knows.",
    "too_many_sockets": "Socket.IO: this account already has as many sockets open on this server as it may.",
    "too_many_handshakes": "Socket.IO: too many connections are waiting to authenticate; retry shortly.",
    "wrong_serializer": "Socket.IO: the client speaks the other path's framing (JSON on the msgpack path, or the reverse).",
    "bad_request": "The request could not be read.",
    "invalid_json": "The body is not valid JSON.",
    "validation_failed": "A body, query or header failed validation; `details` lists each problem.",
    "invalid_range": "`to` is not after `from`.",
    "range_too_long": "The range asked for is longer than allowed (slots: 42 days).",
    "unknown_offering": "The practitioner has no bookable offering with that id.",
    "unauthorized": "Not signed in.",
    "missing_token": "No `Authorization` header.",
    "token_invalid": "Not a token we signed (malformed, forged, wrong scheme).",
    "token_expired": "The token has expired; refresh it (or sign in again for a refresh token).",
    "token_revoked": "The session was signed out; sign in again.",
    "token_reused": "A spent refresh token was presented; the session is now signed out.",
    "invalid_credentials": "Wrong email or password (the same answer for unknown emails).",
    "totp_required": "Two-factor sign-in is on: send `totp_code` (the app's code or a recovery code) with the password.",
    "totp_invalid": "The two-factor code is wrong, too old, or was already used (each code and recovery code works once).",
    "two_factor_enabled": "Two-factor sign-in is already on; turn it off before starting again.",
    "two_factor_not_started": "Two-factor sign-in is not on, or its setup was not started.",
    "verify_token_invalid": "The email-confirmation token is unknown, already used or expired; ask for a new email.",
    "reset_token_invalid": "The password-reset token is unknown, already used or expired; ask for a new email.",
    "forbidden": "Signed in, but not allowed to do this.",
    "insufficient_scope": "An app's or a personal access token lacks the scope this operation needs (`details[0].scope`; null: only the person may do it).",
    "invalid_request": "OAuth: a parameter is missing, repeated or malformed, or the redirect_uri is not registered (RFC 6749).",
    "invalid_client": "OAuth: unknown app, or wrong client credentials.",
    "invalid_grant": "OAuth: the code or refresh token is unknown, expired or spent, or the PKCE verifier does not match.",
    "unauthorized_client": "OAuth: this app may not use this grant (a public app has no client credentials).",
    "unsupported_grant_type": "OAuth: the token endpoint does not know this grant_type.",
    "unsupported_response_type": "OAuth: only response_type=code is supported.",
    "invalid_scope": "OAuth: a scope asked for does not exist, or exceeds the grant.",
    "webhook_url_refused": "The webhook URL is not https, or its host is or resolves to an address that is not public (SSRF).",
    "access_denied": "OAuth: the person declined the app's request (sent to the app's redirect_uri).",
    "consent_required": "The client has not granted you this scope of their record, or the grant expired or was revoked; the attempt is audited. `details[].scope` names the scope.",
    "wrong_password": "The password given to confirm this (account erasure) is not the account's.",
    "invalid_template": "The intake questionnaire is not a valid JSON Schema (draft 2020-12), or refers to another document.",
    "answers_invalid": "The intake answers do not fit the questionnaire version answered; `details` lists each problem (`loc`, `message`, `type` = the schema keyword).",
    "unsupported_attachment": "Attachments are PDF, PNG, JPEG or WebP files.",
    "attachment_type_mismatch": "The file's content is not the type claimed (`details[0].claimed`, `found`); nothing was stored.",
    "attachment_too_large": "The attachment is larger than KLEAR_MAX_ATTACHMENT_BYTES (`details[0].limit`).",
    "invalid_consent": "The consent grant cannot be made as asked (for example an expiry in the past).",
    "not_owner": "Only the owner of this profile (the practitioner in the path) may change it.",
    "not_practitioner": "Only practitioner accounts have a practitioner profile.",
    "not_found": "No such resource, or one you may not see.",
    "method_not_allowed": "The route does not accept that method (see `Allow`).",
    "conflict": "Conflicts with the current state; reload and retry.",
    "slot_unavailable": "The time cannot be booked; `details[0].reason` says why.",
    "illegal_transition": "The booking's status does not allow this change.",
    "too_early": "Too early for this change (for example starting more than 10 minutes before).",
    "too_late": "Too late for this change (the session has started or closed).",
    "too_many_offerings": "A practitioner has the most active offerings allowed (`KLEAR_MAX_OFFERINGS`).",
    "payload_too_large": "The body is larger than 1 MiB.",
    "unsupported_media_type": "Send application/json.",
    "http_error": "Another HTTP-level refusal; the message says which.",
    "rate_limited": "Too many requests; wait `retry_after` seconds.",
    "internal_error": "A fault on our side; logged with the request id, never detailed in the answer.",
    "service_unavailable": "A dependency (the database, Redis) is unavailable; retry shortly.",
    "not_ready": "The process is starting or stopping.",
    "cannot_book_self": "A practitioner cannot book their own offering.",
    "idempotency_key_reused": "This Idempotency-Key was already used for a different request.",
    "key_id_taken": "You already registered a device key with this key_id.",
    "wrong_roles": "A direct conversation is between a client and a practitioner.",
    "unavailable": "Socket.IO: the service (Redis, the database, a video host) is not answering; retry shortly.",
    "invalid_payload": "Socket.IO: the event's payload is missing fields or has wrong types or sizes.",
    "unknown_event": "Socket.IO: no such event.",
    "not_connected": "Socket.IO: the socket has not finished connecting.",
    "wrong_user": "Socket.IO `auth:refresh`: the token belongs to another account.",
    "not_member": "Socket.IO: you are not a member of this conversation.",
    "not_joined": "Socket.IO: join the conversation (or video session) first.",
    "not_author": "Socket.IO: only the author can change a message.",
    "deleted": "Socket.IO: the message was deleted.",
    "client_id_reused": "Socket.IO: this client_id was already used for another conversation.",
    "e2ee_required": "Socket.IO: the conversation is end-to-end encrypted; send `e2ee`, not `body`.",
    "plaintext_required": "Socket.IO: the conversation is not end-to-end encrypted; send `body`.",
    "refused": "Socket.IO: the message was refused for another reason.",
    "not_participant": "Socket.IO: you do not take part in this booking.",
    "not_video": "Video: the booking is not a video session.",
    "not_joinable": "Video: the booking's status allows no video session.",
    "session_ended": "Video: the session has ended.",
    "session_full": "Video: the session holds `KLEAR_RTC_MAX_PARTICIPANTS` people already.",
    "too_many_candidates": "Video: too many ICE candidates for one connection.",
    "negotiation_failed": "Video: the SDP offer or answer could not be negotiated.",
    "already_published": "Video: you already publish that source.",
    "too_many_publications": "Video: you publish the most tracks allowed.",
    "unknown_publication": "Video: you have no publication with that id.",
    "moved": "Video, between processes: the session is hosted by another process (clients get `unavailable`).",
}


def _strings(node: ast.AST) -> Iterator[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value


def _codes_in(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "code":
                    yield from _strings(value)
        elif isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg == "code":
                    yield from _strings(kw.value)
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            at = _POSITIONAL.get(name or "")
            if at is not None and len(node.args) > at:
                yield from _strings(node.args[at])
            if name == "get" and len(node.args) == 2 and isinstance(node.args[1], ast.Tuple) and node.args[1].elts:
                yield from _strings(node.args[1].elts[0])  # the fallback (code, message) of a refusal table
        elif isinstance(node, ast.ClassDef):
            for stmt in node.body:
                if isinstance(stmt, ast.Assign):
                    yield from _class_code(stmt)
        elif isinstance(node, ast.Tuple) and len(node.elts) == 2:
            first, second = node.elts
            if (isinstance(first, ast.Constant) and isinstance(first.value, str) and _CODE.match(first.value)
                    and isinstance(second, ast.Constant) and isinstance(second.value, str) and " " in second.value):
                yield first.value  # a (code, message) pair of a refusal table


def _class_code(stmt: ast.Assign) -> Iterator[str]:
    """`code = "x"` or `status, code = 404, "x"` in a class body."""
    for target in stmt.targets:
        if isinstance(target, ast.Name) and target.id == "code":
            yield from _strings(stmt.value)
        elif isinstance(target, ast.Tuple) and isinstance(stmt.value, ast.Tuple):
            for name, value in zip(target.elts, stmt.value.elts, strict=False):
                if isinstance(name, ast.Name) and name.id == "code":
                    yield from _strings(value)


def collect(root: Path = ROOT) -> dict[str, set[str]]:
    """Each code found in the packages, with the packages that answer with it."""
    found: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            for code in _codes_in(ast.parse(path.read_text(), str(path))):
                if _CODE.match(code):
                    found.setdefault(code, set()).add(package)
    return found


def markdown_table(found: dict[str, set[str]] | None = None) -> str:
    """The table of docs/api.md: every code, what it means, and which part of the server answers with it."""
    found = collect() if found is None else found
    lines = ["| code | meaning | from |", "| --- | --- | --- |"]
    for code in sorted(found):
        lines.append(f"| `{code}` | {MEANINGS.get(code, '**undocumented**')} | {', '.join(sorted(found[code]))} |")
    return "\n".join(lines)
