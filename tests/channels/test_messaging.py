"""Sending and receiving: stored before the ack, idempotent, ordered, fanned out to the room."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from klear_client import EventRefused

from ..conftest import signed_up
from ..support.eventually import eventually, holds
from .conftest import joined_pair, pair

pytestmark = pytest.mark.quick


async def test_a_message_reaches_the_other_member_and_is_stored_before_the_ack(app, clients, realtime, database_url):
    a, b, cid, ra, rb = await joined_pair(clients, realtime, app.url)
    sent = await ra.send(cid, "Hello, see you Tuesday")
    conn = await asyncpg.connect(database_url)
    try:
        stored = await conn.fetchval("SELECT count(*) FROM messages WHERE id = $1", uuid.UUID(sent["id"]))
    finally:
        await conn.close()
    assert stored == 1
    got = await rb.next_event("message:new")
    assert (got["seq"], got["body"], got["sender_id"]) == (1, "Hello, see you Tuesday", a.session.user_id)
    assert (got["id"], got["client_id"], got["created_at"]) == (sent["id"], sent["client_id"], sent["created_at"])


async def test_retrying_with_the_same_client_id_never_duplicates(app, clients, realtime, database_url):
    a, b, cid = await pair(clients, app.url)
    ra = await realtime(a)
    await ra.join(cid)
    client_id = str(uuid.uuid4())
    first = await ra.call("message:send", {"conversation_id": cid, "client_id": client_id, "body": "once"})
    again = await ra.call("message:send", {"conversation_id": cid, "client_id": client_id, "body": "once"})
    assert again["duplicate"] is True and first["duplicate"] is False
    assert again["message"]["id"] == first["message"]["id"] and again["message"]["seq"] == first["message"]["seq"]
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM messages") == 1
        assert await conn.fetchval("SELECT last_seq FROM conversations") == 1
    finally:
        await conn.close()


async def test_concurrent_sends_get_strictly_increasing_gap_free_seqs(app, clients, realtime):
    a, b, cid, ra, rb = await joined_pair(clients, realtime, app.url)
    results = await asyncio.gather(*(s.send(cid, f"m{i}") for i, s in enumerate([ra, rb] * 10)))
    assert sorted(m["seq"] for m in results) == list(range(1, 21))
    for r in (ra, rb):
        await eventually(lambda r=r: holds([m["seq"] for m in r.received[cid]] == list(range(1, 21)), r.received[cid]))


async def test_non_members_cannot_join_send_or_read_history(app, clients, realtime):
    a, b, cid = await pair(clients, app.url)
    outsider = await signed_up(clients(app.url), "client")
    ro = await realtime(outsider)
    with pytest.raises(EventRefused) as join:
        await ro.join(cid)
    assert join.value.code == "not_member"
    with pytest.raises(EventRefused) as send:
        await ro.send(cid, "let me in")
    assert send.value.code == "not_member"
    with pytest.raises(EventRefused) as receipt:
        await ro.read(cid, 1)
    assert receipt.value.code == "not_member"
    with pytest.raises(EventRefused) as typing:
        await ro.typing(cid)
    assert typing.value.code == "not_joined"
    resp = await outsider.raw("GET", f"/api/v1/conversations/{cid}/messages")
    assert resp.status == 404


async def test_author_can_edit_and_delete_as_tombstone(app, clients, realtime):
    a, b, cid, ra, rb = await joined_pair(clients, realtime, app.url)
    m = await ra.send(cid, "typo")
    edited = await ra.edit(cid, m["seq"], "fixed")
    update = await rb.next_event("message:updated")
    assert (edited["body"], edited["seq"], update["body"], update["edited_at"] is not None) == ("fixed", 1, "fixed", True)
    with pytest.raises(EventRefused) as err:
        await rb.edit(cid, m["seq"], "not mine")
    assert err.value.code == "not_author"
    gone = await ra.delete(cid, m["seq"])
    assert gone["deleted"] is True and gone["body"] is None
    history = await a.call("GET", f"/conversations/{cid}/messages")
    assert history["messages"][0]["deleted"] is True and history["messages"][0]["body"] is None


async def test_history_is_cursor_paginated(app, clients, realtime):
    a, b, cid = await pair(clients, app.url)
    ra = await realtime(a)
    await ra.join(cid)
    for i in range(7):
        await ra.send(cid, f"n{i}")
    newest = await a.call("GET", f"/conversations/{cid}/messages", params={"limit": "3"})
    assert [m["seq"] for m in newest["messages"]] == [5, 6, 7] and newest["has_more"]
    older = await a.call("GET", f"/conversations/{cid}/messages", params={"limit": "3", "before_seq": "5"})
    assert [m["seq"] for m in older["messages"]] == [2, 3, 4] and older["has_more"]
    after = await a.call("GET", f"/conversations/{cid}/messages", params={"after_seq": "5", "limit": "10"})
    assert [m["seq"] for m in after["messages"]] == [6, 7] and not after["has_more"]
    bad = await a.raw("GET", f"/api/v1/conversations/{cid}/messages", params={"limit": "0"})
    assert bad.status == 422


async def test_history_pages_are_always_ascending_and_has_more_points_the_way_you_page(app, clients, realtime):
    a, _, cid = await pair(clients, app.url)
    empty = await a.history(cid)
    assert (empty["messages"], empty["has_more"]) == ([], False)
    ra = await realtime(a)
    await ra.join(cid)
    for i in range(5):
        await ra.send(cid, f"n{i}")
    newest = await a.history(cid, limit=2)  # no cursor: the newest page
    assert ([m["seq"] for m in newest["messages"]], newest["has_more"]) == ([4, 5], True)
    back = await a.history(cid, before_seq=4, limit=2)  # the page just older, still oldest first
    assert ([m["seq"] for m in back["messages"]], back["has_more"]) == ([2, 3], True)
    first = await a.history(cid, before_seq=2, limit=2)
    assert ([m["seq"] for m in first["messages"]], first["has_more"]) == ([1], False)
    window = await a.history(cid, after_seq=1, before_seq=5, limit=2)  # forwards, bounded above
    assert ([m["seq"] for m in window["messages"]], window["has_more"]) == ([2, 3], True)
    rest = await a.history(cid, after_seq=3, before_seq=5, limit=2)
    assert ([m["seq"] for m in rest["messages"]], rest["has_more"]) == ([4], False)
    everything = await a.history(cid)
    assert ([m["seq"] for m in everything["messages"]], everything["has_more"]) == ([1, 2, 3, 4, 5], False)


async def test_message_text_is_encrypted_at_rest(app, clients, realtime, database_url):
    a, b, cid = await pair(clients, app.url)
    ra = await realtime(a)
    await ra.join(cid)
    await ra.send(cid, "my knee pain is worse after yoga")
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow("SELECT m::text AS everything FROM messages m")
    finally:
        await conn.close()
    assert "knee" not in row["everything"]
