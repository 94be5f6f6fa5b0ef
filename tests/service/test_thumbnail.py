"""GET /v1/videos/{id}/thumbnail over HTTP on real indexed videos: the seeking reader behind the route."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from indexer.decoders import Deadline, pyav_frames
from indexer.media import letterbox
from indexer.pipeline import IndexOptions, index
from service.app import create_app
from service.settings import Settings
from tests import factories
from tests.conftest import TINY_MODEL
from tests.service.conftest import assert_error

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A snapshot root over two real videos (8 s and 6 s, B-frames, 2.5 s GOP) and their folder."""
    folder = tmp_path_factory.mktemp("thumb")
    videos = folder / "videos"
    videos.mkdir()
    for name, seconds in (("whole", 8.0), ("cut", 6.0)):
        factories.write_video(
            videos / f"{name}.mp4",
            seconds=seconds,
            fps=10,
            width=128,
            height=96,
            gop=25,
            preset="veryfast",
            faststart=True,
        )
    report = index(folder / "index", [str(videos)], TINY_MODEL, IndexOptions(workers=1))
    assert report["version"], report
    return folder / "index", videos


@pytest.fixture(scope="module")
def thumbs(indexed: tuple[Path, Path], make_settings: Callable[..., Settings]) -> Iterator[TestClient]:
    """An app over that snapshot, cache off so that every thumbnail is decoded."""
    settings = make_settings(snapshot_root=indexed[0], cache_ttl_s=0)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def video_id(client: TestClient, name: str) -> str:
    """The id of the indexed video whose file is ``name``."""
    ids = [v["video_id"] for v in client.get("/v1/videos").json()["videos"]]
    matches = [i for i in ids if name in i]
    assert len(matches) == 1, ids
    return matches[0]


def thumbnail(client: TestClient, vid: str, t: float) -> np.ndarray:
    """The thumbnail at t, decoded from its JPEG."""
    response = client.get(f"/v1/videos/{vid}/thumbnail", params={"t": t})
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg", response.text
    return np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"))


@pytest.mark.parametrize(("t", "shown"), [(0.0, 0), (2.49, 24), (4.04, 40), (7.95, 79), (8.0, 79)])
def test_thumbnail_is_the_sequential_frame_at_t(
    thumbs: TestClient, indexed: tuple[Path, Path], t: float, shown: int
) -> None:
    image = thumbnail(thumbs, video_id(thumbs, "whole"), t)
    assert image.shape == (240, 320, 3) and factories.decode_index(image) == shown
    path = indexed[1] / "whole.mp4"
    _, expected = next(pyav_frames(path, iter([min(t, 7.95)]), Deadline(path, 60), 10))
    assert np.abs(image.astype(np.int16) - letterbox(expected, (320, 240))).mean() < 3


def test_thumbnail_past_the_end_and_before_the_start_are_422(thumbs: TestClient) -> None:
    vid = video_id(thumbs, "whole")
    assert assert_error(thumbs.get(f"/v1/videos/{vid}/thumbnail", params={"t": 8.5}), 422)["field"] == "t"
    assert_error(thumbs.get(f"/v1/videos/{vid}/thumbnail", params={"t": -0.5}), 422)


def test_truncated_file_serves_early_frames_and_refuses_late_ones(
    thumbs: TestClient, indexed: tuple[Path, Path]
) -> None:
    path = indexed[1] / "cut.mp4"
    path.write_bytes(path.read_bytes()[: int(path.stat().st_size * 0.6)])
    vid = video_id(thumbs, "cut")
    assert factories.decode_index(thumbnail(thumbs, vid, 1.0)) == 10
    error = assert_error(thumbs.get(f"/v1/videos/{vid}/thumbnail", params={"t": 5.5}), 422, "media_truncated")
    assert error["field"] == "t" and "ends at" in error["message"]
    path.write_text("no longer a video")
    assert_error(thumbs.get(f"/v1/videos/{vid}/thumbnail", params={"t": 1.0}), 404, "media_unreadable")
