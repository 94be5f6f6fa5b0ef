"""TVR and QVHighlights annotation lines read into one record type; bad lines name file, line and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from indexer.annotations import Annotation, AnnotationError, read_annotations

TVR: dict[str, object] = {
    "vid_name": "friends_s01e03",
    "duration": 61.5,
    "ts": [16.5, 33.9],
    "desc": "Phoebe eats.",
    "type": "v",
    "desc_id": 90200,
}
QVH: dict[str, object] = {
    "qid": 2579,
    "query": "A girl and her mother cooked.",
    "vid": "NUMl6sdoMCM_360.0_510.0",
    "duration": 150,
    "relevant_windows": [[26, 36], [70, 80]],
}


def _write(path: Path, *rows: object) -> Path:
    path.write_text("\n".join(row if isinstance(row, str) else json.dumps(row) for row in rows) + "\n")
    return path


def test_both_formats_in_one_file(tmp_path: Path) -> None:
    tvr, qvh = read_annotations(_write(tmp_path / "a.jsonl", TVR, "", QVH))
    assert tvr == Annotation(90200, "Phoebe eats.", "friends_s01e03", ((16.5, 33.9),), 61.5, "v", 1)
    assert qvh == Annotation(
        2579, "A girl and her mother cooked.", "NUMl6sdoMCM_360.0_510.0", ((26, 36), (70, 80)), 150.0, "", 3
    )
    assert qvh.moment == (26.0, 36.0)  # training takes the first window
    assert tvr.tvr_row() == {k: TVR[k] for k in ("desc_id", "desc", "vid_name", "ts", "type")}
    assert qvh.tvr_row() == {
        "desc_id": 2579,
        "desc": QVH["query"],
        "vid_name": QVH["vid"],
        "ts": [26.0, 36.0],
        "windows": [[26.0, 36.0], [70.0, 80.0]],
    }


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({k: v for k, v in QVH.items() if k != "vid"}, "QVHighlights row: missing field\\(s\\) vid"),
        (QVH | {"relevant_windows": []}, "relevant_windows must be a non-empty list"),
        (QVH | {"relevant_windows": [[40, 30]]}, "relevant_windows must be"),
        (QVH | {"relevant_windows": [26, 36]}, "relevant_windows must be"),
        (QVH | {"query": " "}, "query must be a non-empty string"),
        (QVH | {"qid": [1]}, "qid must be an integer or a string"),
        (QVH | {"duration": -1}, "duration must be a positive number"),
        ({k: v for k, v in TVR.items() if k != "ts"}, "TVR row: missing field\\(s\\) ts"),
        (TVR | {"ts": [3, "x"]}, "ts must be"),
        (TVR | {"type": "z"}, "type must be one of v, t, vt"),
        ("[1, 2]", "expected a JSON object"),
        ('{"qid": 1,', "not valid JSON"),
        (QVH | {"qid": 1}, "query id 1 repeats line 1"),
    ],
)
def test_a_bad_line_names_file_line_and_field(tmp_path: Path, row: object, message: str) -> None:
    path = _write(tmp_path / "q.jsonl", QVH | {"qid": 1}, row)
    with pytest.raises(AnnotationError, match=rf"q\.jsonl:2: {message}"):
        read_annotations(path)


def test_an_empty_or_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(AnnotationError, match="holds no queries"):
        read_annotations(_write(tmp_path / "empty.jsonl", ""))
    with pytest.raises(AnnotationError, match="cannot read annotations"):
        read_annotations(tmp_path / "absent.jsonl")
