"""The metadata database (`meta.sqlite`): one row per video and its streams' timed lines, written once, opened
read-only."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from indexer.cues import Cue

SCHEMA = """
CREATE TABLE videos (
    video_id TEXT NOT NULL UNIQUE,
    idx INTEGER PRIMARY KEY,
    path TEXT NOT NULL,
    duration REAL NOT NULL,
    content_hash TEXT NOT NULL,
    metadata TEXT NOT NULL,
    clip_offset INTEGER NOT NULL,
    n_clips INTEGER NOT NULL,
    clip_seconds REAL NOT NULL,
    segment_offset INTEGER NOT NULL,
    n_segments INTEGER NOT NULL
);
CREATE TABLE lines (
    idx INTEGER NOT NULL,
    stream TEXT NOT NULL,
    start_s REAL NOT NULL,
    end_s REAL NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX lines_by_video ON lines (idx, start_s);
"""
COLUMNS = (
    "video_id, idx, path, duration, content_hash, metadata, clip_offset, n_clips, clip_seconds, "
    "segment_offset, n_segments"
)


@dataclass(frozen=True)
class VideoRow:
    """One video of a snapshot: identity, source, and where its vectors lie."""

    video_id: str
    idx: int
    path: str
    duration: float
    content_hash: str
    metadata: dict[str, Any]
    clip_offset: int
    n_clips: int
    clip_seconds: float
    segment_offset: int
    n_segments: int

    @classmethod
    def from_sql(cls, row: tuple[Any, ...]) -> VideoRow:
        vid, idx, path, duration, chash, meta, c_off, n_c, clip_s, s_off, n_s = row
        return cls(vid, idx, path, duration, chash, json.loads(meta), c_off, n_c, clip_s, s_off, n_s)

    def to_sql(self) -> tuple[Any, ...]:
        return (
            self.video_id,
            self.idx,
            self.path,
            self.duration,
            self.content_hash,
            json.dumps(self.metadata, sort_keys=True),
            self.clip_offset,
            self.n_clips,
            self.clip_seconds,
            self.segment_offset,
            self.n_segments,
        )


def create(path: Path) -> sqlite3.Connection:
    """A new metadata database for a snapshot being written."""
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA)
    return conn


def insert(conn: sqlite3.Connection, row: VideoRow) -> None:
    conn.execute(f"INSERT INTO videos ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row.to_sql())


def insert_lines(conn: sqlite3.Connection, idx: int, lines: list[Cue]) -> None:
    conn.executemany(
        "INSERT INTO lines (idx, stream, start_s, end_s, text) VALUES (?, ?, ?, ?, ?)",
        [(idx, cue.stream, cue.start, cue.end, cue.text) for cue in lines],
    )


def has_lines(conn: sqlite3.Connection) -> bool:
    """Whether the database has the lines table (snapshots written before it existed have none)."""
    return (
        conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'lines'").fetchone()
        is not None
    )


def read_lines(conn: sqlite3.Connection, idx: int) -> tuple[list[int], list[Cue]]:
    """The lines of the video `idx`, by start time, and their line numbers (rowid - 1)."""
    rows = conn.execute(
        "SELECT rowid - 1, start_s, end_s, text, stream FROM lines WHERE idx = ? "
        "ORDER BY start_s, stream, rowid",
        (idx,),
    ).fetchall()
    return [row[0] for row in rows], [Cue(*row[1:]) for row in rows]


def read_line(conn: sqlite3.Connection, line: int) -> tuple[int, Cue]:
    """The video idx and the line with line number `line`."""
    idx, *cue = conn.execute(
        "SELECT idx, start_s, end_s, text, stream FROM lines WHERE rowid = ?", (line + 1,)
    ).fetchone()
    return int(idx), Cue(*cue)


def open_read_only(path: Path) -> sqlite3.Connection:
    """Open a published database read-only and immutable (no locks, no journal), usable from any thread."""
    uri = f"file:{quote(str(path.resolve()))}?mode=ro&immutable=1"
    return sqlite3.connect(uri, uri=True, check_same_thread=False)
