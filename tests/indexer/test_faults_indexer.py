"""The indexer killed mid-run resumes without losing or duplicating a video; progress is reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import faults
from indexer.pipeline import IndexingError, IndexOptions, index
from indexer.snapshot import delete, open_snapshot
from indexer.snapshot.layout import read_current
from tests.conftest import TINY_MODEL, Corpus


def test_indexer_killed_during_encode_resumes(corpus: Corpus, tmp_path: Path) -> None:
    videos = sorted(corpus.videos.glob("*.mp4"))
    base = corpus.copy_root(tmp_path / "base")
    delete(base, [v.stem for v in videos[1:]])
    outcome = faults.kill_indexer(base, videos, tmp_path, kills=2, only={"encode"})
    (kill,) = outcome["kills"]
    assert kill["point"] == "encode" and kill["killed_during"].startswith("encode"), kill
    assert kill["final_videos"] == len(videos) and kill["next_run"]["resumed"] >= 1, kill


def test_progress_reports_done_over_total(corpus: Corpus, tmp_path: Path) -> None:
    """Regression: index jobs went from 0 to 1 with nothing between."""
    videos = sorted(corpus.videos.glob("*.mp4"))
    root = corpus.copy_root(tmp_path / "index")
    delete(root, [v.stem for v in videos[2:]])
    calls: list[tuple[int, int]] = []
    sources = [str(v) for v in videos] + [str(tmp_path / "missing.mp4")]
    (tmp_path / "missing.mp4").write_bytes(b"not a video")
    report = index(root, sources, TINY_MODEL, IndexOptions(on_progress=lambda d, t: calls.append((d, t))))
    total = len(sources)
    assert report["counts"]["reused"] == 2 and report["counts"]["indexed"] == len(videos) - 2
    assert all(t == total for _, t in calls) and calls[0] == (2, total) and calls[-1] == (total, total)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls) and len({d for d, _ in calls}) >= 3


def test_a_checkpoint_that_cannot_be_written_is_a_clear_error(corpus: Corpus, tmp_path: Path) -> None:
    """Regression: an OSError writing a checkpoint (a full disk) escaped `kairos index` as a traceback."""
    videos = sorted(corpus.videos.glob("*.mp4"))
    root = corpus.copy_root(tmp_path / "index")
    version = delete(root, [videos[0].stem]).version
    with open_snapshot(root) as snap:
        fingerprint = snap.manifest.model_hash
    (root / "work").mkdir(exist_ok=True)
    (root / "work" / fingerprint).write_bytes(b"")  # where the checkpoint folder should be: mkdir fails
    with pytest.raises(IndexingError, match=f"cannot checkpoint video '{videos[0].stem}'"):
        index(root, [str(videos[0])], TINY_MODEL, IndexOptions())
    assert read_current(root) == version
