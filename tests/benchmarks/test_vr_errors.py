"""The VR error analysis names the attributes the closest event of a wrongly ranked video gets wrong."""

from __future__ import annotations

from benchmarks.vr_errors import closest_mismatch
from indexer.synth.plan import EventPlan, VideoPlan


def _event(shape: str, colour: str, size: str, action: str) -> EventPlan:
    return EventPlan(shape, colour, size, action, 0.0, 3.0, (0.0, 0.0, 1.0, 1.0), (0.5, 0.5), 0.0)


def _video(*events: EventPlan) -> VideoPlan:
    return VideoPlan("v0", 0, "test", 10.0, "grid", 0.5, events, ())


def test_the_closest_event_decides_which_attributes_were_missed() -> None:
    video = _video(_event("square", "red", "small", "rotate"), _event("circle", "blue", "large", "grow"))
    query = {"shape": "square", "colour": "red", "action": "bounce"}
    assert closest_mismatch(query, video) == ("action",)
    assert closest_mismatch({"shape": "star", "colour": "blue", "background": "stripes"}, video) == (
        "shape",
        "background",
    )
    assert closest_mismatch({"colour": "red", "size": "small"}, video) == ()
