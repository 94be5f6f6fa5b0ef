"""Resolving SOURCE arguments: folders, globs, files, manifests, duplicate ids, content hashes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from indexer.sources import SourceError, content_hash, resolve_sources


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_folder_is_recursive_and_keeps_video_extensions_with_sidecars(tmp_path: Path) -> None:
    touch(tmp_path / "a.mp4")
    touch(tmp_path / "a.srt", b"1\n00:00:00,000 --> 00:00:01,000\nhi\n")
    touch(tmp_path / "deep" / "b.MKV")
    touch(tmp_path / "notes.txt")
    resolved = resolve_sources([str(tmp_path)])
    assert [(i.video_id, i.subtitles) for i in resolved.items] == [("a", tmp_path / "a.srt"), ("b", None)]
    assert resolved.skipped == []


def test_glob_and_explicit_files(tmp_path: Path) -> None:
    touch(tmp_path / "x" / "one.webm")
    touch(tmp_path / "x" / "two.mov")
    notes = touch(tmp_path / "notes.txt")
    resolved = resolve_sources([str(tmp_path / "x" / "*.webm"), str(tmp_path / "x" / "two.mov"), str(notes)])
    assert [i.video_id for i in resolved.items] == ["one", "two"]
    assert [s.path for s in resolved.skipped] == [notes]


def test_same_file_through_two_sources_is_indexed_once(tmp_path: Path) -> None:
    touch(tmp_path / "a.mp4")
    resolved = resolve_sources([str(tmp_path), str(tmp_path / "*.mp4")])
    assert len(resolved.items) == 1


def test_manifest_paths_ids_subtitles_and_metadata(tmp_path: Path) -> None:
    touch(tmp_path / "media" / "clip.mp4")
    touch(tmp_path / "subs" / "clip-en.vtt", b"WEBVTT\n")
    lines = [
        {
            "path": "media/clip.mp4",
            "video_id": "c1",
            "subtitles": "subs/clip-en.vtt",
            "metadata": {"show": "s"},
        },
        {"path": "media/clip.mp4", "video_id": "c2"},
        {"path": "media/readme.md"},
    ]
    manifest = tmp_path / "list.jsonl"
    manifest.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n")
    resolved = resolve_sources([str(manifest)])
    first, second = resolved.items
    assert (first.video_id, first.subtitles, first.metadata) == (
        "c1",
        tmp_path / "subs" / "clip-en.vtt",
        {"show": "s"},
    )
    assert (second.video_id, second.subtitles, second.metadata) == ("c2", None, {})
    assert [s.path.name for s in resolved.skipped] == ["readme.md"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "not a JSON object"),
        ('{"video_id": "x"}', '"path"'),
        ('{"path": "a.mp4", "metadata": 3}', "metadata"),
    ],
)
def test_bad_manifest_lines_name_the_line(tmp_path: Path, line: str, message: str) -> None:
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(line + "\n")
    with pytest.raises(SourceError, match=message) as info:
        resolve_sources([str(manifest)])
    assert f"{manifest}:1" in str(info.value)


def test_duplicate_video_ids_name_both_files(tmp_path: Path) -> None:
    first = touch(tmp_path / "a" / "same.mp4")
    second = touch(tmp_path / "b" / "same.mp4")
    with pytest.raises(SourceError, match="duplicate video id 'same'") as info:
        resolve_sources([str(tmp_path)])
    assert str(first) in str(info.value) and str(second) in str(info.value)


def test_missing_source_and_empty_glob_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        resolve_sources([str(tmp_path / "nope")])
    with pytest.raises(SourceError, match="matches no video"):
        resolve_sources([str(tmp_path / "*.mp4")])


def test_content_hash_covers_video_and_subtitles(tmp_path: Path) -> None:
    video = touch(tmp_path / "v.mp4", b"video bytes" * 100_000)
    subs = touch(tmp_path / "v.srt", b"one")
    base = content_hash(video, subs)
    assert base == content_hash(video, subs)
    assert base != content_hash(video)
    assert base != content_hash(video, subs, salt="features@2")
    subs.write_bytes(b"two")
    assert base != content_hash(video, subs)
