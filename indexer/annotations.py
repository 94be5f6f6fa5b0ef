"""Query annotations in TVR or QVHighlights jsonl, read into one record type (`Annotation`).

TVR (jayleicn/TVRetrieval): `desc_id`, `desc`, `vid_name`, `ts` ([start, end] s), optional `duration` and
`type` (v / t / vt). QVHighlights (jayleicn/moment_detr, line/lighthouse): `qid`, `query`, `vid`,
`relevant_windows` ([[start, end], ...] s), optional `duration`. The format is detected per line: a row with
`qid` or `relevant_windows` is QVHighlights, any other row TVR, so one file may mix both.

A QVHighlights query may have several windows: all are kept in file order; training takes the first as the
query's moment (`Annotation.moment`), evaluation counts a prediction that reaches the IoU threshold with any
one of them (`Annotation.tvr_row`), as QVHighlights' own evaluator does by taking the best IoU over them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

QUERY_TYPES = ("v", "t", "vt")
_TVR_FIELDS = ("desc_id", "desc", "vid_name", "ts")
_QVH_FIELDS = ("qid", "query", "vid", "relevant_windows")

Window = tuple[float, float]


class AnnotationError(ValueError):
    """An annotation file that cannot be used; the message names the file, the line and the field."""


@dataclass(frozen=True)
class Annotation:
    """One query with its gold moment(s) in one video, whichever format it came from."""

    query_id: int | str
    text: str
    video: str
    windows: tuple[Window, ...]  # one or more [start, end] in seconds, in file order
    duration: float | None  # the video's duration the file states, if it does
    kind: str  # TVR query type (v / t / vt); "" where the file gives none
    line: int  # 1-based line number in its file

    @property
    def moment(self) -> Window:
        """The moment training learns: the first window."""
        return self.windows[0]

    def tvr_row(self) -> dict[str, Any]:
        """The ground-truth row `models.tvr_metrics` reads; more than one window go under `windows`."""
        row: dict[str, Any] = {
            "desc_id": self.query_id,
            "desc": self.text,
            "vid_name": self.video,
            "ts": list(self.moment),
        }
        if self.kind:
            row["type"] = self.kind
        if len(self.windows) > 1:
            row["windows"] = [list(window) for window in self.windows]
        return row


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _window(value: object) -> Window | None:
    """[start, end] with finite numbers and start <= end, else None."""
    if (
        isinstance(value, list)
        and len(value) == 2
        and all(_number(t) for t in value)
        and value[0] <= value[1]
    ):
        return float(value[0]), float(value[1])
    return None


def _windows(row: dict[str, Any], qvh: bool) -> tuple[Window, ...]:
    """The row's windows: QVHighlights `relevant_windows`, or TVR's one `ts`; ValueError naming the field."""
    raw = row["relevant_windows"] if qvh else [row["ts"]]
    windows = [w for w in map(_window, raw) if w is not None] if isinstance(raw, list) else []
    if qvh and (not windows or len(windows) < len(raw)):
        raise ValueError(
            f"relevant_windows must be a non-empty list of [start, end] seconds, start <= end, got {raw!r}"
        )
    if not windows:
        raise ValueError(f"ts must be [start, end] seconds with start <= end, got {row['ts']!r}")
    return tuple(windows)


def _parse(row: object, line: int) -> Annotation:
    """One decoded line as an `Annotation`; ValueError saying which field is wrong."""
    if not isinstance(row, dict):
        raise ValueError("expected a JSON object")
    qvh = "qid" in row or "relevant_windows" in row
    id_key, text_key, video_key = ("qid", "query", "vid") if qvh else ("desc_id", "desc", "vid_name")
    fields = _QVH_FIELDS if qvh else _TVR_FIELDS
    if missing := [key for key in fields if key not in row]:
        raise ValueError(f"{'QVHighlights' if qvh else 'TVR'} row: missing field(s) {', '.join(missing)}")
    query_id, text, video = row[id_key], row[text_key], row[video_key]
    if isinstance(query_id, bool) or not isinstance(query_id, int | str):
        raise ValueError(f"{id_key} must be an integer or a string, got {query_id!r}")
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{text_key} must be a non-empty string")
    if not isinstance(video, str) or not video:
        raise ValueError(f"{video_key} must be a non-empty string")
    windows = _windows(row, qvh)
    duration = row.get("duration")
    if duration is not None and not (_number(duration) and duration > 0):
        raise ValueError(f"duration must be a positive number of seconds, got {duration!r}")
    kind = row.get("type", "")
    if kind and kind not in QUERY_TYPES:
        raise ValueError(f"type must be one of {', '.join(QUERY_TYPES)}, got {kind!r}")
    return Annotation(
        query_id=query_id,
        text=text,
        video=video,
        windows=windows,
        duration=None if duration is None else float(duration),
        kind=str(kind),
        line=line,
    )


def read_annotations(path: Path) -> list[Annotation]:
    """Every query of a TVR or QVHighlights jsonl file (blank lines skipped), query ids unique.

    A bad line is an `AnnotationError` naming the file, the line number and the field.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise AnnotationError(f"cannot read annotations {path}: {exc}") from exc
    out: list[Annotation] = []
    first_line: dict[int | str, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = _parse(json.loads(line), number)
        except json.JSONDecodeError as exc:
            raise AnnotationError(
                f"{path}:{number}: not valid JSON ({exc.msg}, column {exc.colno})"
            ) from None
        except ValueError as exc:
            raise AnnotationError(f"{path}:{number}: {exc}") from None
        if (seen := first_line.get(record.query_id)) is not None:
            raise AnnotationError(f"{path}:{number}: query id {record.query_id!r} repeats line {seen}")
        first_line[record.query_id] = number
        out.append(record)
    if not out:
        raise AnnotationError(f"{path} holds no queries")
    return out
