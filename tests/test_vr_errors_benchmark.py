"""The VR error analysis names the attributes the closest event of a wrongly ranked video gets wrong."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from indexer.synth.plan import EventPlan, VideoPlan

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _vr_errors(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # its sibling imports (common, ablation, quality)
    spec = importlib.util.spec_from_file_location("_bench_vr_errors", BENCHMARKS / "vr_errors.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _event(shape: str, colour: str, size: str, action: str) -> EventPlan:
    return EventPlan(shape, colour, size, action, 0.0, 3.0, (0.0, 0.0, 1.0, 1.0), (0.5, 0.5), 0.0)


def _video(*events: EventPlan) -> VideoPlan:
    return VideoPlan("v0", 0, "test", 10.0, "grid", 0.5, events, ())


def test_the_closest_event_decides_which_attributes_were_missed(monkeypatch: pytest.MonkeyPatch) -> None:
    closest_mismatch = _vr_errors(monkeypatch).closest_mismatch
    video = _video(_event("square", "red", "small", "rotate"), _event("circle", "blue", "large", "grow"))
    query = {"shape": "square", "colour": "red", "action": "bounce"}
    assert closest_mismatch(query, video) == ("action",)
    assert closest_mismatch({"shape": "star", "colour": "blue", "background": "stripes"}, video) == (
        "shape",
        "background",
    )
    assert closest_mismatch({"colour": "red", "size": "small"}, video) == ()
