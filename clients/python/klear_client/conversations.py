"""REST calls of the chat: asking for a conversation, accepting one, listing them, reading history.

Mixed into `KlearClient`; every method returns the JSON body or raises `ApiError`.
A direct conversation starts as a request (`state: "pending"`) that the other
person accepts, unless the two have a booking; until then no one can send in
it (`request_pending`), and it shares no presence or device keys.
"""

from __future__ import annotations

from typing import Any, Protocol


class _Caller(Protocol):
    async def call(self, method: str, path: str, **kwargs: Any) -> Any: ...


class ConversationsMixin:
    """Conversation endpoints, on top of `call`."""

    async def request_conversation(self: _Caller, participant_id: str, *, e2ee: bool = False) -> dict[str, Any]:
        """Ask `participant_id` for a one-to-one conversation (or get the existing one; asking for one they
        asked you for accepts it)."""
        result: dict[str, Any] = await self.call(
            "POST", "/conversations", json_body={"participant_id": participant_id, "e2ee": e2ee}
        )
        return result

    async def accept_conversation(self: _Caller, conversation_id: str) -> dict[str, Any]:
        """Accept a conversation someone asked you for."""
        result: dict[str, Any] = await self.call("POST", f"/conversations/{conversation_id}/accept")
        return result

    async def conversations(self: _Caller) -> list[dict[str, Any]]:
        """Your conversations, newest activity first; requests to you have `state: "pending"`."""
        result: list[dict[str, Any]] = (await self.call("GET", "/conversations"))["conversations"]
        return result

    async def history(
        self: _Caller, conversation_id: str, *, before_seq: int | None = None, after_seq: int | None = None,
        limit: int = 50,
    ) -> dict[str, Any]:
        """One page of messages in ascending seq: the newest `limit` (below `before_seq`, if given), or the
        oldest `limit` after `after_seq`; `has_more` says whether more lie in that direction."""
        params = {"limit": str(limit)}
        if before_seq is not None:
            params["before_seq"] = str(before_seq)
        if after_seq is not None:
            params["after_seq"] = str(after_seq)
        result: dict[str, Any] = await self.call("GET", f"/conversations/{conversation_id}/messages", params=params)
        return result
