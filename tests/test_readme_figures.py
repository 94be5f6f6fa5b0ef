"""The README's generated figures match the committed benchmark results."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "_bench_readme_figures", ROOT / "benchmarks" / "readme_figures.py"
)
assert _spec is not None and _spec.loader is not None
readme_figures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(readme_figures)


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


@pytest.mark.parametrize("phrase", readme_figures.phrases())
def test_the_readme_states_the_figure_the_results_give(phrase: str) -> None:
    assert _flat(phrase) in _flat((ROOT / "README.md").read_text(encoding="utf-8"))
