"""Conversations over REST: request and accept, list with unread counts, read history.

A direct conversation starts as a contact request: until the other person
accepts it (or the two have a booking), no one can send in it and it shares
no presence or device keys (storage/conversations.py).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field, model_validator

from channels.wire import message_json
from storage import accounts, conversations, messages
from storage.conversations import Summary

from ..errors import Forbidden, NotFound, Unprocessable
from ..routing import Call, Input, Output, QueryInput, RouteTable

routes = RouteTable("conversations")


class ConversationIn(Input):
    participant_id: uuid.UUID = Field(
        strict=False,
        description="The other person: a practitioner if you are a client, or a client. Unless you two have a "
                    "booking, they must accept the conversation before anyone can write in it.",
    )
    e2ee: bool = Field(default=False, description="End-to-end encrypted: the server stores only ciphertext.")


class ConversationOut(Output):
    id: uuid.UUID
    kind: Literal["direct", "booking"]
    e2ee: bool
    booking_id: uuid.UUID | None
    member_ids: list[uuid.UUID]
    state: Literal["pending", "accepted"] = Field(
        description="pending: a contact request the other member has not accepted; no one can send in it yet.")
    requested_by: uuid.UUID | None = Field(
        description="Who asked for this direct conversation (the other member accepts it); null for booking ones.")
    created_at: datetime
    last_seq: int = Field(description="The seq of the newest message.")
    last_rev: int = Field(description="The revision of the newest change (message, edit or deletion).")
    read_seq: int = Field(description="Your read position.")
    unread: int


class ConversationList(Output):
    conversations: list[ConversationOut]


class UnreadOut(Output):
    total: int
    conversations: dict[str, int] = Field(description="Unread count by conversation id, only those with unread messages.")


class SealedOut(Output):
    ciphertext: str = Field(description="Base64.")
    nonce: str = Field(description="Base64, 24 bytes.")
    sender_key_id: str | None


class MessageOut(Output):
    conversation_id: uuid.UUID
    seq: int
    rev: int
    id: uuid.UUID
    sender_id: uuid.UUID
    client_id: uuid.UUID
    created_at: datetime
    edited_at: datetime | None
    deleted: bool
    body: str | None
    e2ee: SealedOut | None


class MessagePage(Output):
    messages: list[MessageOut] = Field(description="Always in ascending seq, whichever cursor was given.")
    has_more: bool = Field(
        description="More messages exist beyond this page in the direction of paging: older ones without "
                    "after_seq, newer ones (below before_seq, if given) with after_seq.")


class HistoryQuery(QueryInput):
    before_seq: int | None = Field(
        default=None, ge=1,
        description="Page backwards: the `limit` newest messages with a seq below this one. With neither cursor, "
                    "the `limit` newest messages of the conversation.")
    after_seq: int | None = Field(
        default=None, ge=0,
        description="Page forwards: the `limit` oldest messages with a seq above this one (and below before_seq, "
                    "if given).")
    limit: int = Field(default=50, ge=1, le=200)

    @model_validator(mode="after")
    def _order(self) -> HistoryQuery:
        if self.before_seq is not None and self.after_seq is not None and self.before_seq <= self.after_seq + 1:
            raise ValueError("before_seq must be greater than after_seq + 1")
        return self


def _out(s: Summary) -> ConversationOut:
    c = s.conversation
    return ConversationOut(
        id=c.id, kind=c.kind, e2ee=c.e2ee, booking_id=c.booking_id, member_ids=list(c.member_ids),
        state="accepted" if c.accepted else "pending", requested_by=c.created_by if c.kind == "direct" else None,
        created_at=c.created_at, last_seq=c.last_seq, last_rev=c.last_rev, read_seq=s.read_seq, unread=s.unread,
    )


async def _membership(call: Call[object]) -> Summary:
    found = await conversations.for_member(call.runtime.db, call.uuid("conversation_id"), call.principal.user_id)
    if found is None:
        raise NotFound("No conversation with that id.")  # not a member looks the same as not existing
    return found


@routes.post("/conversations", body=ConversationIn, response=ConversationOut, status=201, errors=(404, 422))
async def create_conversation(call: Call[ConversationIn]) -> ConversationOut:
    """Ask for the one-to-one conversation between a client and a practitioner (200 with the existing one if it
    exists). It is pending until the other person accepts it, unless you two have a booking; asking for one the
    other person already asked for accepts it."""
    me, body = call.principal, call.body
    others = await accounts.get_public_users(call.runtime.db, [body.participant_id])
    if not others or body.participant_id == me.user_id:
        raise NotFound("No such user to talk to.")
    if {me.role, others[0].role} != {"client", "practitioner"}:
        raise Unprocessable("A direct conversation is between a client and a practitioner.", code="wrong_roles")
    conv, created = await conversations.create_direct(call.runtime.db, me.user_id, body.participant_id, e2ee=body.e2ee)
    if not created:
        call.status = 200
    found = await conversations.for_member(call.runtime.db, conv.id, me.user_id)
    assert found is not None
    return _out(found)


@routes.post("/conversations/{conversation_id}/accept", response=ConversationOut, errors=(403, 404))
async def accept_conversation(call: Call[None]) -> ConversationOut:
    """Accept a contact request made to you (idempotent: an accepted conversation is returned as it is)."""
    me, cid = call.principal.user_id, call.uuid("conversation_id")
    status = await conversations.accept(call.runtime.db, cid, me)
    if status == "not_member":
        raise NotFound("No conversation with that id.")
    if status == "own_request":
        raise Forbidden("Only the person you asked can accept this conversation.", code="own_request")
    return _out(await _membership(call))


@routes.get("/conversations", response=ConversationList, scope="messages:read")
async def list_conversations(call: Call[None]) -> ConversationList:
    """Your conversations, most recently active first, with unread counts."""
    return ConversationList(conversations=[_out(s) for s in await conversations.list_for_user(call.runtime.db, call.principal.user_id)])


@routes.get("/conversations/unread", response=UnreadOut, scope="messages:read")
async def unread_counts(call: Call[None]) -> UnreadOut:
    """How many messages you have not read, in total and per conversation."""
    summaries = await conversations.list_for_user(call.runtime.db, call.principal.user_id, limit=10_000)
    counts = {str(s.conversation.id): s.unread for s in summaries if s.unread}
    return UnreadOut(total=sum(counts.values()), conversations=counts)


@routes.get("/conversations/{conversation_id}", response=ConversationOut, errors=(404,), scope="messages:read")
async def get_conversation(call: Call[None]) -> ConversationOut:
    """One of your conversations."""
    return _out(await _membership(call))


@routes.get("/conversations/{conversation_id}/messages", query=HistoryQuery, response=MessagePage, errors=(404, 422),
             scope="messages:read")
async def history(call: Call[None]) -> MessagePage:
    """Message history, cursor-paginated by seq, each page in ascending seq. Audited.

    No cursor: the newest `limit` messages. `before_seq`: the newest `limit` below it (page back from the first
    seq you hold). `after_seq`: the oldest `limit` above it (catch up from the last seq you hold)."""
    summary = await _membership(call)
    q: HistoryQuery = call.query
    cid = summary.conversation.id
    page = await messages.page(call.runtime.db, cid, before_seq=q.before_seq, after_seq=q.after_seq, limit=q.limit + 1)
    more = len(page) > q.limit
    if more:
        page = page[: q.limit] if q.after_seq is not None else page[1:]
    others = [m for m in summary.conversation.member_ids if m != call.principal.user_id]
    await call.audit("conversation.history", subject_id=others[0] if len(others) == 1 else None, resource=f"conversation:{cid}")
    return MessagePage(messages=[MessageOut.model_validate(message_json(m)) for m in page], has_more=more)
