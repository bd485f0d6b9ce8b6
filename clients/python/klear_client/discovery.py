"""REST calls of discovery: search, public profiles, reviews, credentials and their moderation.

Mixed into `KlearClient`; every method returns the JSON body or raises `ApiError`.
"""

from __future__ import annotations

from typing import Any, Protocol


class _Caller(Protocol):
    async def call(self, method: str, path: str, **kwargs: Any) -> Any: ...


def _params(values: dict[str, Any]) -> dict[str, str]:
    return {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in values.items() if v is not None}


class DiscoveryMixin:
    """Discovery endpoints, on top of `call`."""

    async def search(self: _Caller, q: str | None = None, **filters: Any) -> dict[str, Any]:
        """One page of practitioners: `q` (typos corrected) and filters such as modality, language, mode,
        price_min, price_max, currency, min_rating, verified, lat, lon, radius_km, free_within_days, explain,
        limit and cursor (docs/search.md)."""
        result: dict[str, Any] = await self.call("GET", "/search/practitioners", params=_params({"q": q, **filters}))
        return result

    async def public_profile(self: _Caller, practitioner_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("GET", f"/practitioners/{practitioner_id}/profile")
        return result

    async def review(self: _Caller, booking_id: str, rating: int, body: str = "") -> dict[str, Any]:
        """Review your completed booking (once)."""
        result: dict[str, Any] = await self.call(
            "POST", f"/bookings/{booking_id}/review", json_body={"rating": rating, "body": body}
        )
        return result

    async def reviews(self: _Caller, practitioner_id: str, *, limit: int = 20, cursor: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = await self.call(
            "GET", f"/practitioners/{practitioner_id}/reviews", params=_params({"limit": limit, "cursor": cursor})
        )
        return result

    async def reply_to_review(self: _Caller, review_id: str, body: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("POST", f"/reviews/{review_id}/reply", json_body={"body": body})
        return result

    async def report_review(self: _Caller, review_id: str, reason: str) -> None:
        await self.call("POST", f"/reviews/{review_id}/reports", json_body={"reason": reason})

    async def reported_reviews(self: _Caller, *, limit: int = 50) -> dict[str, Any]:
        """Admin: the moderation queue."""
        result: dict[str, Any] = await self.call("GET", "/admin/reviews/reported", params=_params({"limit": limit}))
        return result

    async def hide_review(self: _Caller, review_id: str, reason: str) -> dict[str, Any]:
        """Admin: hide a review with a reason."""
        result: dict[str, Any] = await self.call("POST", f"/admin/reviews/{review_id}/hide", json_body={"reason": reason})
        return result

    async def keep_review(self: _Caller, review_id: str) -> dict[str, Any]:
        """Admin: keep a reported review."""
        result: dict[str, Any] = await self.call("POST", f"/admin/reviews/{review_id}/keep")
        return result

    async def upload_credential(self: _Caller, practitioner_id: str, **credential: Any) -> dict[str, Any]:
        """title, issuer, number, expires_at (optional), document (base64) and document_type."""
        result: dict[str, Any] = await self.call(
            "POST", f"/practitioners/{practitioner_id}/credentials", json_body=credential
        )
        return result

    async def credentials(self: _Caller, practitioner_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("GET", f"/practitioners/{practitioner_id}/credentials")
        return result

    async def pending_credentials(self: _Caller, *, limit: int = 50) -> dict[str, Any]:
        """Admin: credentials awaiting a decision."""
        result: dict[str, Any] = await self.call("GET", "/admin/credentials/pending", params=_params({"limit": limit}))
        return result

    async def verify_credential(self: _Caller, credential_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("POST", f"/admin/credentials/{credential_id}/verify")
        return result

    async def reject_credential(self: _Caller, credential_id: str, reason: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.call(
            "POST", f"/admin/credentials/{credential_id}/reject", json_body={"reason": reason}
        )
        return result

    async def similar_practitioners(self: _Caller, practitioner_id: str, *, limit: int = 10) -> dict[str, Any]:
        """Practitioners like this one."""
        result: dict[str, Any] = await self.call(
            "GET", f"/practitioners/{practitioner_id}/similar", params=_params({"limit": limit})
        )
        return result

    async def recommendations(self: _Caller, *, limit: int = 10) -> dict[str, Any]:
        """Practitioners for you (clients)."""
        result: dict[str, Any] = await self.call("GET", "/me/recommendations", params=_params({"limit": limit}))
        return result

    async def block(self: _Caller, user_id: str) -> None:
        await self.call("PUT", f"/me/blocked/{user_id}")

    async def unblock(self: _Caller, user_id: str) -> None:
        await self.call("DELETE", f"/me/blocked/{user_id}")

    async def report_user(self: _Caller, user_id: str, reason: str) -> None:
        await self.call("POST", f"/users/{user_id}/reports", json_body={"reason": reason})
