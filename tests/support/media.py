"""Pre-encoded synthetic media for video tests: VP8 and Opus loops, encoded once per test session."""

from __future__ import annotations

from dataclasses import dataclass

from klear_client.media import EncodedLoop


@dataclass(frozen=True)
class Media:
    video: EncodedLoop
    audio: EncodedLoop

    @property
    def sources(self) -> dict[str, EncodedLoop]:
        """What a participant publishes for each source name."""
        return {"camera": self.video, "screen": self.video, "microphone": self.audio}

    def loop_for(self, kind: str) -> EncodedLoop:
        return self.video if kind == "video" else self.audio
