"""The batch indexer end to end: real decoding, the kairos-tiny model, real FAISS, real snapshots."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from commands import index as index_command
from indexer.decode_pool import DecodePool, DecodeSettings
from indexer.encoding import VideoEncoder
from indexer.pipeline import IndexingError, IndexOptions, index
from indexer.snapshot import ModelMismatchError, Snapshot, SnapshotError, open_snapshot
from indexer.sources import SourceError
from indexer.synth import SynthConfig, generate_corpus
from models.checkpoint import save_checkpoint
from models.model import KairosModel
from models.pretrained import model_fingerprint, resolve_model
from models.registry import create_model
from tests import factories

REPO = Path(__file__).resolve().parents[2]
MODEL = "kairos-tiny"
OPTIONS = IndexOptions(workers=1)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four synthetic videos of 10-11 s with subtitles."""
    out = tmp_path_factory.mktemp("corpus")
    generate_corpus(
        out, SynthConfig(videos=4, seed=7, min_duration=10, max_duration=11, compositional_videos=1)
    )
    return out / "videos"


@pytest.fixture(scope="module")
def model() -> KairosModel:
    return resolve_model(MODEL)


@pytest.fixture(scope="module")
def indexed(
    corpus: Path, model: KairosModel, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Any]]:
    """A root holding the whole corpus, and the report of the run that built it (read-only for tests)."""
    root = tmp_path_factory.mktemp("indexed")
    return root, index(root, [str(corpus)], model, OPTIONS)


def videos_of(corpus: Path, tmp_path: Path, ids: list[str], name: str = "videos") -> Path:
    """A folder holding copies of the corpus videos ``ids`` and their subtitles."""
    folder = tmp_path / name
    folder.mkdir(exist_ok=True)
    for vid in ids:
        for suffix in (".mp4", ".srt"):
            shutil.copy(corpus / f"{vid}{suffix}", folder)
    return folder


def ids(entries: list[dict[str, Any]]) -> list[str]:
    return sorted(entry["video_id"] for entry in entries)


def search(snapshot: Snapshot, queries: np.ndarray) -> list[list[tuple[str, float]]]:
    scores, rows = snapshot.top_videos(queries, k=len(snapshot))
    return [
        [(snapshot.video_ids[i], round(float(s), 3)) for s, i in zip(score, row, strict=True) if i >= 0]
        for score, row in zip(scores, rows, strict=True)
    ]


def test_index_corpus_and_open_snapshot(
    corpus: Path, model: KairosModel, indexed: tuple[Path, dict[str, Any]]
) -> None:
    root, report = indexed
    names = sorted(p.stem for p in corpus.glob("*.mp4"))
    assert ids(report["indexed"]) == names and report["failed"] == [] and report["reused"] == []
    assert set(report["timings"]) >= {"decode", "encode", "write", "publish", "total"}
    assert report["counts"]["clips_encoded"] == sum(e["clips"] for e in report["indexed"]) > 0
    with open_snapshot(root, expected_model_hash=model_fingerprint(model)) as snapshot:
        assert snapshot.version == report["version"]
        assert snapshot.manifest.report["counts"]["indexed"] == len(names)
        for entry in report["indexed"]:
            row = snapshot.video(entry["video_id"])
            assert row.n_clips == entry["clips"] == int(np.ceil(row.duration / 1.5 - 1e-9))
            assert row.path.endswith(f"{entry['video_id']}.mp4")
        own = np.stack([snapshot.record(v).video_vector for v in snapshot.video_ids]).astype(np.float32)
        scores, found = snapshot.search_videos(own, k=1)
        assert found[:, 0].tolist() == list(range(len(names))) and np.allclose(scores[:, 0], 1.0, atol=1e-2)
    assert not (root / "work" / report["model_fingerprint"]).exists()  # checkpoints cleaned after publish


def test_incremental_add_and_delete_equal_a_full_rebuild(
    corpus: Path, model: KairosModel, tmp_path: Path
) -> None:
    names = sorted(p.stem for p in corpus.glob("*.mp4"))
    folder = videos_of(corpus, tmp_path, names[:2])
    root = tmp_path / "incremental"
    index(root, [str(folder)], model, OPTIONS)
    videos_of(corpus, tmp_path, names[2:])  # the folder grows by two videos
    grown = index(root, [str(folder)], model, OPTIONS)
    assert ids(grown["indexed"]) == names[2:] and ids(grown["reused"]) == names[:2]
    assert grown["counts"]["indexed"] == 2 and grown["counts"]["reused"] == 2
    deleted = index_command.delete(root, [names[1]])
    assert deleted["videos"] == 3

    kept = [n for n in names if n != names[1]]
    rebuilt = tmp_path / "rebuilt"
    index(rebuilt, [str(videos_of(corpus, tmp_path, kept, "kept"))], model, OPTIONS)
    queries = np.random.default_rng(0).normal(size=(6, model.config.dim)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    with open_snapshot(root) as a, open_snapshot(rebuilt) as b:
        assert sorted(a.video_ids) == sorted(b.video_ids) == kept
        assert search(a, queries) == search(b, queries)
        for vid in kept:
            np.testing.assert_array_equal(a.clip_vectors(vid), b.clip_vectors(vid))


def test_unchanged_sources_publish_nothing_new(
    corpus: Path, model: KairosModel, indexed: tuple[Path, dict[str, Any]]
) -> None:
    root, first = indexed
    again = index(root, [str(corpus)], model, OPTIONS)
    assert again["version"] == first["version"] and again["counts"]["reused"] == len(first["indexed"])
    assert again["indexed"] == [] and len(index_command.list_snapshots(root)) == 1


def test_kill_and_resume_reencodes_only_unfinished_videos(
    corpus: Path, model: KairosModel, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    script = (
        "from pathlib import Path\n"
        "from indexer.pipeline import IndexOptions, index\n"
        f"index(Path({str(root)!r}), [{str(corpus)!r}], {MODEL!r}, IndexOptions(workers=1))\n"
    )
    env = os.environ | {"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, env=env, stderr=subprocess.DEVNULL)
    work = root / "work" / model_fingerprint(model)
    deadline = time.monotonic() + 90
    try:
        while not list(work.glob("*.npz")):
            assert process.poll() is None, "the indexer ended before its first checkpoint"
            assert time.monotonic() < deadline, "no checkpoint within 90 s"
            time.sleep(0.02)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    finished = len(list(work.glob("*.npz")))
    assert not (root / "CURRENT").exists()

    report = index(root, [str(corpus)], model, OPTIONS)
    names = sorted(p.stem for p in corpus.glob("*.mp4"))
    assert len(report["resumed"]) == finished >= 1
    assert sorted(ids(report["resumed"]) + ids(report["indexed"])) == names
    with open_snapshot(root) as snapshot:
        assert sorted(snapshot.video_ids) == names


def test_bad_files_are_reported_and_the_rest_indexed(model: KairosModel, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    good = factories.write_video(folder / "good.mp4", seconds=3.0)
    factories.write_video(folder / "also_good.mkv", seconds=2.0)
    bad = {
        factories.write_garbage_mp4(folder / "garbage.mp4"),
        factories.write_zero_byte(folder / "empty.mp4"),
        factories.write_text_as_video(folder / "notes.mov"),
        factories.write_truncated(folder / "cut.mp4", good, keep=0.1),
    }
    report = index(tmp_path / "root", [str(folder)], model, OPTIONS)
    assert ids(report["indexed"]) == ["also_good", "good"]
    assert {Path(e["path"]) for e in report["failed"]} == bad
    for entry in report["failed"]:
        assert Path(entry["path"]).name in entry["reason"]
    with open_snapshot(tmp_path / "root") as snapshot:
        assert sorted(snapshot.video_ids) == ["also_good", "good"]
        assert snapshot.manifest.report["counts"]["failed"] == 4


def test_duplicate_ids_and_unwritable_roots_are_refused_before_any_work(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        factories.write_video(tmp_path / name / "same.mp4", seconds=1.0)
    root = tmp_path / "root"
    with pytest.raises(SourceError, match="duplicate video id 'same'"):
        index(root, [str(tmp_path / "a"), str(tmp_path / "b")], MODEL, OPTIONS)
    assert not root.exists()
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    with pytest.raises(SnapshotError, match="not writable"):
        index(blocker / "root", [str(tmp_path / "a")], MODEL, OPTIONS)


def test_features_import(model: KairosModel, tmp_path: Path) -> None:
    folder = tmp_path / "features"
    folder.mkdir()
    rng = np.random.default_rng(3)
    dim = model.config.visual_dim
    np.save(folder / "talk.npy", rng.normal(size=(40, dim)).astype(np.float32))  # 10 s at 4 fps
    (folder / "talk.srt").write_text("1\n00:00:01,000 --> 00:00:04,000\na person talks\n")
    np.savez(folder / "walk.npz", features=rng.normal(size=(13, dim)))
    np.save(folder / "wrong.npy", rng.normal(size=(8, dim + 5)).astype(np.float32))
    report = index(tmp_path / "root", [], model, IndexOptions(features=folder, features_fps=4.0))
    assert ids(report["indexed"]) == ["talk", "walk"]
    (failed,) = report["failed"]
    assert (
        "wrong.npy" in failed["reason"]
        and f"D={dim + 5}" in failed["reason"]
        and str(dim) in failed["reason"]
    )
    with open_snapshot(tmp_path / "root") as snapshot:
        assert snapshot.video("talk").n_clips == 7 and snapshot.video("talk").duration == 10.0
        assert snapshot.video("walk").n_clips == 3  # 13 frames at 4 fps = 3.25 s
    again = index(tmp_path / "root", [], model, IndexOptions(features=folder, features_fps=2.0))
    assert ids(again["indexed"]) == ["talk", "walk"]  # another fps is other content: re-encoded


def test_another_model_fingerprint_is_a_clear_error(
    corpus: Path, model: KairosModel, indexed: tuple[Path, dict[str, Any]]
) -> None:
    root, _ = indexed
    torch.manual_seed(1)
    other = create_model(MODEL)
    assert other.config.config_hash() == model.config.config_hash()
    assert model_fingerprint(other) != model_fingerprint(model)
    with pytest.raises(ModelMismatchError, match=model_fingerprint(other)):
        open_snapshot(root, expected_model_hash=model_fingerprint(other))
    with pytest.raises(IndexingError, match="another --out folder"):
        index(root, [str(corpus)], other, OPTIONS)


@pytest.fixture
def pool() -> Iterator[DecodePool]:
    with DecodePool(
        1, DecodeSettings(fps=2.0, clip_seconds=1.5, size=(32, 24)), stall_timeout_s=2.0
    ) as decode:
        yield decode


def drain(pool: DecodePool, timeout: float = 60.0) -> list[Any]:
    events = []
    deadline = time.monotonic() + timeout
    while pool.busy and time.monotonic() < deadline:
        events += pool.poll(0.2)
    return events


def test_a_crashed_decoder_fails_its_video_only(pool: DecodePool, tmp_path: Path) -> None:
    video = factories.write_video(tmp_path / "v.mp4", seconds=2.0)
    pool.submit(0, video, None)
    pool.submit(1, video, None)  # queued behind video 0 on the same worker
    (pid,) = pool.pids
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    events = [e for e in drain(pool) if e.kind not in ("clips", "lines")]
    assert [(e.task_id, e.kind) for e in events] == [(0, "failed"), (1, "done")]
    assert "died" in events[0].reason and pool.pids != [pid]


def test_a_stalled_decoder_is_stopped(pool: DecodePool, tmp_path: Path) -> None:
    fifo = tmp_path / "stuck.mp4"
    os.mkfifo(fifo)  # opening it for reading blocks until a writer comes: a decoder that hangs
    pool.submit(0, fifo, None)
    (event,) = drain(pool)
    assert event.kind == "failed" and "no progress" in event.reason


def test_in_process_encoding_matches_the_pipeline(
    corpus: Path, model: KairosModel, indexed: tuple[Path, dict[str, Any]]
) -> None:
    root, _ = indexed
    video = sorted(corpus.glob("*.mp4"))[0]
    encoded = VideoEncoder(model).encode_file(video, video.with_suffix(".srt"))
    with open_snapshot(root) as snapshot:
        stored = snapshot.record(video.stem)
        assert stored.duration == pytest.approx(encoded.duration)
        np.testing.assert_allclose(stored.clips, encoded.clips, atol=2e-3)
        np.testing.assert_allclose(stored.segments, encoded.segments, atol=2e-3)
        np.testing.assert_array_equal(stored.segment_ranges, encoded.segment_ranges)
        assert stored.lines == encoded.lines and {cue.stream for cue in stored.lines} == {"subtitles"}


def test_resolve_model_from_a_checkpoint_folder_or_a_name(model: KairosModel, tmp_path: Path) -> None:
    save_checkpoint(model, tmp_path / "ckpt")
    assert model_fingerprint(resolve_model(str(tmp_path / "ckpt"))) == model_fingerprint(model)
    assert model_fingerprint(resolve_model(MODEL)) == model_fingerprint(model)  # same fixed seed
    with pytest.raises(ValueError, match="neither a checkpoint folder"):
        resolve_model("no-such-model")


def test_a_changed_file_is_reencoded_and_moved_files_keep_their_vectors(
    corpus: Path, model: KairosModel, indexed: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    source, first = indexed
    root = shutil.copytree(source, tmp_path / "root", ignore=shutil.ignore_patterns("work"))
    names = sorted(p.stem for p in corpus.glob("*.mp4"))
    moved = videos_of(corpus, tmp_path, names, "moved")
    (moved / f"{names[0]}.srt").write_text("1\n00:00:00,500 --> 00:00:03,000\na new line\n")
    report = index(root, [str(moved)], model, OPTIONS)
    assert ids(report["indexed"]) == names[:1] and ids(report["reused"]) == names[1:]
    with open_snapshot(source) as before, open_snapshot(root) as after:
        assert after.version != first["version"] and sorted(after.video_ids) == names
        assert after.video(names[1]).path == str(moved / f"{names[1]}.mp4")
        np.testing.assert_array_equal(after.clip_vectors(names[1]), before.clip_vectors(names[1]))
        assert not np.array_equal(after.clip_vectors(names[0]), before.clip_vectors(names[0]))


def test_gc_removes_unused_checkpoints_and_lists_snapshots(
    indexed: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    source, first = indexed
    root = shutil.copytree(source, tmp_path / "root", ignore=shutil.ignore_patterns("work"))
    mine = root / "work" / first["model_fingerprint"]
    other = root / "work" / "0123456789abcdef"
    for folder in (mine, other):
        folder.mkdir(parents=True)
    (other / "a.npz").write_bytes(b"x")
    (mine / ".b.npz.1234.tmp").write_bytes(b"x")
    (mine / "unfinished.npz").write_bytes(b"x")
    result = index_command.gc(root, keep=1)
    assert result["removed"] == []
    assert sorted(result["work_removed"]) == sorted([f"{mine.name}/.b.npz.1234.tmp", other.name])
    assert [p.name for p in mine.iterdir()] == ["unfinished.npz"]
    (listed,) = index_command.list_snapshots(root)
    assert listed["current"] and listed["version"] == first["version"] and listed["bytes"] > 0
