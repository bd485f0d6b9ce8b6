"""REST calls for health records, consent grants and the access log.

Mixed into `KlearClient`; every method returns the JSON body or raises `ApiError`.
"""

from __future__ import annotations

from typing import Any, Protocol


class _Caller(Protocol):
    async def call(self, method: str, path: str, **kwargs: Any) -> Any: ...


class RecordsMixin:
    """Records, consents and the access log, on top of `call`."""

    async def add_history(self: _Caller, category: str, title: str, text: str = "") -> dict[str, Any]:
        """Add an entry (condition, medication, allergy, note) to your health history."""
        result: dict[str, Any] = await self.call(
            "POST", "/records/history", json_body={"category": category, "title": title, "text": text})
        return result

    async def add_note(self: _Caller, booking_id: str, text: str, *, private: bool = False) -> dict[str, Any]:
        """Write a session note about the client of one of your bookings (practitioners)."""
        result: dict[str, Any] = await self.call(
            "POST", "/records/notes", json_body={"booking_id": booking_id, "text": text, "private": private})
        return result

    async def records(self: _Caller, client_id: str | None = None) -> list[dict[str, Any]]:
        """Your records, or the records of `client_id` that you may read."""
        params = {"client_id": client_id} if client_id else None
        result: list[dict[str, Any]] = (await self.call("GET", "/records", params=params))["records"]
        return result

    async def record(self: _Caller, record_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("GET", f"/records/{record_id}")
        return result

    async def record_versions(self: _Caller, record_id: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = (await self.call("GET", f"/records/{record_id}/versions"))["versions"]
        return result

    async def edit_record(self: _Caller, record_id: str, text: str | None = None, **changes: Any) -> dict[str, Any]:
        """A new version of a record you wrote (`text`, `title`, `category`, `answers`, `private` as its kind
        allows)."""
        body = {k: v for k, v in {"text": text, **changes}.items() if v is not None}
        result: dict[str, Any] = await self.call("PUT", f"/records/{record_id}", json_body=body)
        return result

    async def grant_consent(self: _Caller, practitioner_id: str, scopes: list[str], expires_at: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.call(
            "POST", "/consents",
            json_body={"practitioner_id": practitioner_id, "scopes": scopes, "expires_at": expires_at})
        return result

    async def propose_consent(self: _Caller, booking_id: str, scopes: list[str], expires_at: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.call(
            "POST", "/consents/proposals", json_body={"booking_id": booking_id, "scopes": scopes, "expires_at": expires_at})
        return result

    async def decide_consent(self: _Caller, grant_id: str, accept: bool) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("POST", f"/consents/{grant_id}/decision", json_body={"accept": accept})
        return result

    async def revoke_consent(self: _Caller, grant_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("POST", f"/consents/{grant_id}/revoke")
        return result

    async def consents(self: _Caller) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = (await self.call("GET", "/consents"))["grants"]
        return result

    async def access_log(
        self: _Caller, *, before: int | None = None, limit: int = 50, about: str = "all"
    ) -> list[dict[str, Any]]:
        """Who else read, wrote or tried to reach your data, newest first (`about="health"`: your health records
        only)."""
        params = {"limit": str(limit), "about": about, **({"before": str(before)} if before else {})}
        result: list[dict[str, Any]] = (await self.call("GET", "/me/access-log", params=params))["entries"]
        return result

    async def export(self: _Caller) -> dict[str, Any]:
        """Start (or look at) the export of everything about you; `status` is `ready` with a `download_url`."""
        result: dict[str, Any] = await self.call("GET", "/me/export")
        return result

    async def erase_account(self: _Caller, password: str) -> None:
        """Erase your account for good (GDPR art. 17)."""
        await self.call("POST", "/me/erase", json_body={"current_password": password})

    async def define_intake(self: _Caller, title: str, json_schema: dict[str, Any]) -> dict[str, Any]:
        """Define an intake questionnaire (practitioners): a JSON Schema the answers must fit."""
        result: dict[str, Any] = await self.call(
            "POST", "/records/intake-templates", json_body={"title": title, "json_schema": json_schema})
        return result

    async def redefine_intake(self: _Caller, template_id: str, title: str, json_schema: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self.call(
            "PUT", f"/records/intake-templates/{template_id}", json_body={"title": title, "json_schema": json_schema})
        return result

    async def intake_template(self: _Caller, template_id: str, version: int | None = None) -> dict[str, Any]:
        params = {"version": str(version)} if version else None
        result: dict[str, Any] = await self.call("GET", f"/records/intake-templates/{template_id}", params=params)
        return result

    async def answer_intake(self: _Caller, template_id: str, version: int, answers: dict[str, Any]) -> dict[str, Any]:
        """Answer a version of a questionnaire (clients)."""
        result: dict[str, Any] = await self.call(
            "POST", "/records/intake", json_body={"template_id": template_id, "version": version, "answers": answers})
        return result

    async def upload_attachment(self: Any, data: bytes, filename: str, content_type: str) -> dict[str, Any]:
        """Add a PDF or image to your record (clients); its content must be `content_type`."""
        result: dict[str, Any] = await self.call(
            "POST", "/records/attachments", params={"filename": filename, "content_type": content_type}, data=data,
            headers={"Content-Type": "application/octet-stream"})
        return result

    async def attachment_file(self: Any, record_id: str) -> bytes:
        """The bytes of an attachment you may read."""
        resp = await self.raw("GET", f"/api/v1/records/{record_id}/file")
        if resp.status >= 400:
            await self.call("GET", f"/records/{record_id}/file")  # raises the ApiError
        data: bytes = resp.raw
        return data
