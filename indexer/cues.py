"""`Cue`: one timed line of text of a video, and the stream it came from."""

from __future__ import annotations

from dataclasses import dataclass

SUBTITLES, OCR, SPEECH, CONCEPTS = "subtitles", "ocr", "speech", "concepts"


@dataclass(frozen=True)
class Cue:
    """Seconds from the start of the video, plain text, and its stream: "subtitles" (a sidecar or an
    embedded track), "ocr" (on-screen text), "speech" (what Whisper heard) or "concepts" (what the ImageNet
    network saw)."""

    start: float
    end: float
    text: str
    stream: str = SUBTITLES
