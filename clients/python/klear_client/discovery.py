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
