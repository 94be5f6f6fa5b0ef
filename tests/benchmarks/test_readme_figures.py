"""The README's generated figures match the committed benchmark results."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from benchmarks import readme_figures

ROOT = Path(__file__).resolve().parents[2]


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


@pytest.mark.parametrize("phrase", readme_figures.phrases())
def test_the_readme_states_the_figure_the_results_give(phrase: str) -> None:
    assert _flat(phrase) in _flat((ROOT / "README.md").read_text(encoding="utf-8"))
