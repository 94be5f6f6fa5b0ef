"""On-screen text read by RapidOCR (its real weights) from a real video with text rendered into its frames."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer.streams.ocr import ScreenReader, ScreenScan, ocr_size
from indexer.streams.settings import OcrSettings
from indexer.subtitles import Cue
from tests import factories

SLIDES = [
    (2.0, 6.0, ["Quarterly turbine maintenance"]),
    (4.0, 6.0, ["", "Pelican budget approved"]),  # a second line joins the first slide at 4 s
    (8.0, 11.0, ["Zebra crossing ahead"]),
]
LINES = [
    Cue(2.0, 6.0, "Quarterly turbine maintenance", "ocr"),
    Cue(4.0, 6.0, "Pelican budget approved", "ocr"),
    Cue(8.0, 11.0, "Zebra crossing ahead", "ocr"),
]


@pytest.fixture(scope="module")
def slides(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ocr")
    return factories.write_text_video(folder / "slides.mp4", SLIDES, seconds=12.0, pointer=False)


@pytest.fixture(scope="module")
def reader() -> ScreenReader:
    return ScreenReader()


def scan(video: Path, reader: ScreenReader, settings: OcrSettings) -> ScreenScan:
    screen = ScreenScan(video, reader, settings)
    assert list(screen) == [float(t) for t in range(12)]  # one sample a second
    return screen


def test_lines_are_timed_merged_and_read_only_when_the_picture_changes(
    slides: Path, reader: ScreenReader
) -> None:
    screen = scan(slides, reader, OcrSettings())
    assert screen.cues() == LINES
    # read at 0 s and at each change of the picture (2, 4, 6, 8 and 11 s), not while a slide stays
    assert (screen.samples, screen.reads) == (12, 6)


def test_reading_every_sample_finds_the_same_lines(slides: Path, reader: ScreenReader) -> None:
    screen = scan(slides, reader, OcrSettings(trigger=0.0))
    assert screen.cues() == LINES and screen.reads == 12


def test_lines_below_the_confidence_floor_are_dropped(slides: Path, reader: ScreenReader) -> None:
    assert scan(slides, reader, OcrSettings(min_confidence=1.0)).cues() == []


@pytest.mark.parametrize(
    ("size", "expected"), [((1920, 1080), (960, 540)), ((640, 360), (640, 360)), ((1279, 719), (960, 540))]
)
def test_frames_are_read_at_most_960_wide_keeping_the_aspect(
    size: tuple[int, int], expected: tuple[int, int]
) -> None:
    assert ocr_size(*size, max_width=960) == expected
