"""The README's figures are the committed results, the generator survives results it does not know, and every
link in the documents resolves inside a clone."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from benchmarks import readme

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    *sorted(ROOT.glob("models/weights/*/*.md")),
]


def test_the_readme_figures_are_the_results() -> None:
    stated = readme.generated_part((ROOT / "README.md").read_text(encoding="utf-8"))
    assert stated, "README.md has lost its generated figures section"
    assert stated == readme.section(), (
        "README.md and benchmarks/results disagree: run `python -m benchmarks.readme`"
    )


def test_every_results_file_has_a_row_and_none_warns() -> None:
    rows, warnings = readme.rows()
    assert warnings == []
    commands = {command for _, command, _ in rows}
    for path in sorted(readme.RESULTS.glob("*.json")):
        assert readme.script_of(path.stem, json.loads(path.read_text())) in commands


def test_changed_and_new_results_get_a_pointer_row_not_a_crash(tmp_path: Path) -> None:
    shutil.copy(readme.RESULTS / "moment_head.json", tmp_path)
    demo = json.loads((readme.RESULTS / "demo_search.json").read_text())
    del demo["top3_hit_rate"]  # a renamed key
    (tmp_path / "demo_search.json").write_text(json.dumps(demo))
    (tmp_path / "brand_new.json").write_text(json.dumps({"benchmark": "brand_new", "figure": 1.0}))
    (tmp_path / "brand_new.md").write_text("| figure |\n| 1.0 |\n")
    rows, warnings = readme.rows(tmp_path)
    by_what = {what: figures for what, _, figures in rows}
    assert [w.split(":")[0] for w in warnings] == ["demo_search.json"]
    assert "top3_hit_rate" in warnings[0]
    assert (
        by_what["demo search"]
        == "in [`benchmarks/results/demo_search.json`](benchmarks/results/demo_search.json)"
    )
    assert by_what["brand new"] == "in [`benchmarks/results/brand_new.md`](benchmarks/results/brand_new.md)"
    head = json.loads((tmp_path / "moment_head.json").read_text())["results"]
    assert any(f"{head[0]['p50_ms']:.1f}" in figures for figures in by_what.values())


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_resolves_inside_the_clone(document: Path) -> None:
    targets = re.findall(r"\]\(([^)#\s]+)[^)]*\)", document.read_text(encoding="utf-8"))
    local = [t for t in targets if not re.match(r"[a-z]+://|mailto:", t)]
    for target in local:
        resolved = (document.parent / target).resolve()
        assert resolved.is_relative_to(ROOT), f"{document.name} links outside the repository: {target}"
        assert resolved.exists(), f"{document.name} links to a missing file: {target}"
