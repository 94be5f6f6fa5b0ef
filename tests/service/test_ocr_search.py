"""Words that appear only on screen are found: `kairos index --streams subtitles,ocr` with the bundled model,
then `POST /v1/search` (real video files, real OCR weights, real FAISS, real Redis)."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from commands.cli import app
from service.app import create_app
from service.settings import Settings
from tests import factories

QUERY = "quarterly turbine maintenance"


def test_a_moment_is_found_by_the_words_on_screen(tmp_path: Path, redis_url: str) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("noise_a", "noise_b"):
        factories.write_video(videos / f"{name}.mp4", seconds=12.0, width=160, height=120, pattern="texture")
    (videos / "noise_b.srt").write_text("1\n00:00:01,000 --> 00:00:02,500\nthe weather is nice today\n")
    factories.write_text_video(videos / "slides.mp4", [(6.0, 9.0, ["Quarterly turbine maintenance"])])
    root = tmp_path / "index"

    result = CliRunner().invoke(
        app,
        [
            "index",
            str(videos),
            "--model",
            "kairos-small",
            "--out",
            str(root),
            "--streams",
            "subtitles,ocr",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["counts"]["indexed"] == 3 and report["counts"]["ocr_lines"] == 1, report["counts"]

    settings = Settings(snapshot_root=root, model="kairos-small", redis_url=redis_url)
    with TestClient(create_app(settings)) as client:
        answer = client.post("/v1/search", json={"query": QUERY, "limit": 3})
    assert answer.status_code == 200, answer.text
    best = answer.json()["moments"][0]
    assert best["video_id"] == "slides" and best["start"] < 9.0 and best["end"] > 6.0, answer.json()
    assert best["matched"] == [
        {"stream": "ocr", "text": "Quarterly turbine maintenance", "start": 6.0, "end": 9.0}
    ], best
