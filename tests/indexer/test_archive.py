"""Snapshot backups: export → import round trip, corrupted and clashing archives, the CLI commands."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from commands.cli import app
from indexer.snapshot import SnapshotError, current_version, list_snapshots, open_snapshot
from indexer.snapshot.archive import BACKUP_MANIFEST, export_snapshot, import_snapshot
from tests.indexer.test_snapshot import build, make_videos


def nothing_published(root: Path) -> bool:
    tmp = root / "tmp"
    return current_version(root) is None and not list_snapshots(root) and not any(tmp.iterdir())


def test_round_trip_publishes_the_same_snapshot(tmp_path: Path) -> None:
    source = tmp_path / "a"
    info = build(source, make_videos(5))
    archive = export_snapshot(source, "current", tmp_path / "backup.tar")
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        listing = json.loads(tar.extractfile(BACKUP_MANIFEST).read())  # type: ignore[union-attr]
    assert names[0] == BACKUP_MANIFEST and listing["version"] == info.version
    assert {f"{info.version}/{name}" for name in listing["files"]} == set(names[1:])

    restored = import_snapshot(tmp_path / "b", archive)
    assert restored.version == info.version == current_version(tmp_path / "b")
    query = make_videos(1, seed=9)[0].video_vector[None, :]
    with open_snapshot(source) as old, open_snapshot(tmp_path / "b") as new:
        assert new.video_ids == old.video_ids and new.manifest == old.manifest
        assert np.array_equal(new.clip_vectors(old.video_ids[2]), old.clip_vectors(old.video_ids[2]))
        found = [[a.tolist() for a in snap.top_videos(query, 3)] for snap in (old, new)]
        assert found[0] == found[1]


def test_a_clashing_version_is_refused(tmp_path: Path) -> None:
    info = build(tmp_path / "a", make_videos(3))
    archive = export_snapshot(tmp_path / "a", info.version, tmp_path / "backup.tar")
    with pytest.raises(SnapshotError, match=f"already has snapshot {info.version}"):
        import_snapshot(tmp_path / "a", archive)
    other = tmp_path / "b"
    build(other, make_videos(2, seed=4))  # v000001 with another suffix: the same version number
    with pytest.raises(SnapshotError, match=r"\(the same version number\); nothing was imported"):
        import_snapshot(other, archive)
    assert len(list_snapshots(other)) == 1 and not any((other / "tmp").iterdir())


def test_a_corrupted_archive_names_the_file_and_publishes_nothing(tmp_path: Path) -> None:
    info = build(tmp_path / "a", make_videos(4))
    archive = export_snapshot(tmp_path / "a", info.version, tmp_path / "backup.tar")
    with tarfile.open(archive) as tar:
        member = tar.getmember(f"{info.version}/clips.f16")
    data = bytearray(archive.read_bytes())
    data[member.offset_data + 10] ^= 0xFF  # one flipped bit pattern inside the clip vectors
    broken = tmp_path / "broken.tar"
    broken.write_bytes(bytes(data))
    with pytest.raises(SnapshotError, match=r"broken\.tar: clips\.f16 is corrupted"):
        import_snapshot(tmp_path / "b", broken)
    assert nothing_published(tmp_path / "b")

    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(archive.read_bytes()[: member.offset_data + 100])
    with pytest.raises(SnapshotError, match="truncated"):
        import_snapshot(tmp_path / "b", truncated)
    not_a_backup = tmp_path / "plain.tar"
    with tarfile.open(not_a_backup, "w") as tar:
        tar.add(archive, arcname="something")
    with pytest.raises(SnapshotError, match=f"no {BACKUP_MANIFEST}"):
        import_snapshot(tmp_path / "b", not_a_backup)
    (tmp_path / "junk.tar").write_bytes(b"not a tar file at all")
    with pytest.raises(SnapshotError, match="not a readable tar file"):
        import_snapshot(tmp_path / "b", tmp_path / "junk.tar")
    assert nothing_published(tmp_path / "b")


def test_cli_export_and_import(tmp_path: Path) -> None:
    info = build(tmp_path / "a", make_videos(3))
    runner = CliRunner()
    backup = str(tmp_path / "backup.tar")
    root = str(tmp_path / "a")
    exported = runner.invoke(app, ["snapshots", "export", info.version, backup, "--root", root])
    assert exported.exit_code == 0, exported.output
    imported = runner.invoke(app, ["snapshots", "import", backup, "--root", str(tmp_path / "b")])
    assert imported.exit_code == 0 and f"imported {info.version} (3 videos)" in imported.output
    again = runner.invoke(app, ["snapshots", "import", backup, "--root", str(tmp_path / "b")])
    assert again.exit_code == 1 and "already has snapshot" in again.output
    missing = runner.invoke(app, ["snapshots", "export", "v000009-00000000", backup, "--root", str(tmp_path)])
    assert missing.exit_code == 1 and "no snapshot 'v000009-00000000'" in missing.output
