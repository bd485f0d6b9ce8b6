"""Admin REST calls: load-test accounts made in bulk, and their removal.

Mixed into `KlearClient`; the caller must be signed in as an admin.
"""

from __future__ import annotations

from typing import Any, Protocol


class _Caller(Protocol):
    async def call(self, method: str, path: str, **kwargs: Any) -> Any: ...


class AdminMixin:
    """Admin endpoints, on top of `call`."""

    async def create_test_users(
        self: _Caller, *, clients: int = 0, practitioners: int = 0, batch_id: str | None = None, time_zone: str = "UTC",
    ) -> dict[str, Any]:
        """Create up to 1,000 signed-in load-test accounts in a batch: `{batch_id, users: [{id, role,
        display_name, access_token, refresh_token, expires_in}]}`."""
        body: dict[str, Any] = {"clients": clients, "practitioners": practitioners, "time_zone": time_zone}
        if batch_id is not None:
            body["batch_id"] = batch_id
        result: dict[str, Any] = await self.call("POST", "/admin/test-users", json_body=body)
        return result

    async def remove_test_users(self: _Caller, batch_id: str) -> int:
        """Delete a batch of load-test accounts and all they made; returns how many accounts went."""
        result: dict[str, Any] = await self.call("DELETE", f"/admin/test-users/{batch_id}")
        return int(result["deleted_users"])
