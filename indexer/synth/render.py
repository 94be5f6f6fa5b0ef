"""Rendering: turn a `VideoPlan` into frames (numpy + PIL) and encode them as mp4/h264 with PyAV.

A frame is: a grey background pattern, grey distractor specks and thin lines drifting across it, the event
objects on screen at that time, then camera shake (a sub-pixel bilinear shift) and Gaussian noise.
Only event objects carry colour. x264 runs single-threaded with fixed options, so a plan and a seed always
give the same decoded frames.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw

from indexer.synth.plan import EventPlan, SynthConfig, VideoPlan
from indexer.synth.vocab import COLOURS, SIZES

#: Fixed x264 options. Macroblock-tree rate control is off: with it on, the same frames sometimes encoded
#: differently from one run to the next (measured with x264 through PyAV 18); without it they never did.
X264_OPTIONS: dict[str, str] = {"preset": "veryfast", "crf": "23", "x264-params": "no-mbtree=1"}
BLINK_PERIOD = 0.8  # seconds; the object is visible for the half period around the event's middle
BOUNCE_PERIOD = 0.9
SPIN_TURNS_PER_SECOND = 0.35
_NOISE_MARGIN = 16


def _regular(n: int, radius: float = 1.0, phase: float = -math.pi / 2) -> np.ndarray:
    angles = phase + 2 * math.pi * np.arange(n) / n
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _star() -> np.ndarray:
    outer, inner = _regular(5), _regular(5, 0.45, -math.pi / 2 + math.pi / 5)
    return np.stack([outer, inner], axis=1).reshape(10, 2)


def _cross(arm: float = 0.34) -> np.ndarray:
    a, b = arm, 0.95
    return np.array(
        [
            (-a, -b),
            (a, -b),
            (a, -a),
            (b, -a),
            (b, a),
            (a, a),
            (a, b),
            (-a, b),
            (-a, a),
            (-b, a),
            (-b, -a),
            (-a, -a),
        ]
    )


#: Unit polygons (inside the unit circle, y pointing down); the circle is drawn as an ellipse.
POLYGONS: dict[str, np.ndarray] = {
    "square": _regular(4, 1.0, math.pi / 4),
    "triangle": _regular(3),
    "star": _star(),
    "cross": _cross(),
    "diamond": np.array([(0.0, -1.0), (0.7, 0.0), (0.0, 1.0), (-0.7, 0.0)]),
    "hexagon": _regular(6, 1.0, 0.0),
}


@dataclass(frozen=True)
class Pose:
    """Where and how an event object is drawn in one frame, in pixels and radians."""

    x: float
    y: float
    radius: float
    angle: float


def scale_range(action: str) -> tuple[float, float]:
    """Object scale at the start and end of the event."""
    return {"grow": (0.75, 1.25), "shrink": (1.25, 0.75)}.get(action, (1.0, 1.0))


def event_pose(event: EventPlan, t: float, width: int, height: int) -> Pose | None:
    """The object's pose at time `t`, or None when it is not on screen."""
    if not event.start <= t < event.end:
        return None
    u = (t - event.start) / (event.end - event.start)
    mid = 0.5 * (event.start + event.end)
    if event.action == "blink" and ((t - mid) / BLINK_PERIOD + 0.25) % 1.0 >= 0.5:
        return None
    base = SIZES[event.size] * height / 2
    s0, s1 = scale_range(event.action)
    margin = base * max(s0, s1) + 2
    x0, y0 = event.region[0] * width + margin, event.region[1] * height + margin
    x1, y1 = event.region[2] * width - margin, event.region[3] * height - margin
    x, y = x0 + event.anchor[0] * (x1 - x0), y0 + event.anchor[1] * (y1 - y0)
    x, y = _move(event.action, u, t - event.start, (x, y), (x0, y0, x1, y1))
    angle = 0.0
    if event.action == "rotate":
        turns = SPIN_TURNS_PER_SECOND * (t - event.start) * math.copysign(1.0, event.spin)
        angle = event.spin * math.pi + 2 * math.pi * turns
    return Pose(x, y, base * (s0 + (s1 - s0) * u), angle)


def _move(
    action: str, u: float, elapsed: float, at: tuple[float, float], box: tuple[float, float, float, float]
) -> tuple[float, float]:
    """Position of a moving object: across its region for moves, hopping up from the bottom for bounces."""
    x, y = at
    x0, y0, x1, y1 = box
    if action == "move_left":
        return x1 - u * (x1 - x0), y
    if action == "move_right":
        return x0 + u * (x1 - x0), y
    if action == "move_up":
        return x, y1 - u * (y1 - y0)
    if action == "move_down":
        return x, y0 + u * (y1 - y0)
    if action == "bounce":
        return x, y1 - 0.85 * (y1 - y0) * abs(math.sin(math.pi * elapsed / BOUNCE_PERIOD))
    return x, y


def draw_event(draw: ImageDraw.ImageDraw, shape: str, colour: str, pose: Pose) -> None:
    """Draw one filled object."""
    fill = COLOURS[colour]
    if shape == "circle":
        r = 0.92 * pose.radius
        draw.ellipse((pose.x - r, pose.y - r, pose.x + r, pose.y + r), fill=fill)
        return
    c, s = math.cos(pose.angle), math.sin(pose.angle)
    points = POLYGONS[shape] @ np.array([[c, s], [-s, c]]) * pose.radius + (pose.x, pose.y)
    draw.polygon([(float(px), float(py)) for px, py in points], fill=fill)


def background_image(kind: str, level: float, width: int, height: int) -> np.ndarray:
    """A grey background pattern [H, W, 3] uint8; `level` in [0, 1] sets its brightness."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    cell = max(4, height // 10)
    if kind == "gradient":
        grey = level * (0.2 + 0.8 * ys / height)
    elif kind == "grid":
        on_line = (ys.astype(int) % cell < 2) | (xs.astype(int) % cell < 2)
        grey = np.where(on_line, level, 0.35 * level)
    elif kind == "stripes":
        grey = np.where(((xs + ys).astype(int) // cell) % 2 == 0, 0.8 * level, 0.35 * level)
    elif kind == "checker":
        grey = np.where(
            ((xs.astype(int) // (cell * 3 // 2) + ys.astype(int) // (cell * 3 // 2)) % 2) == 0,
            0.75 * level,
            0.3 * level,
        )
    else:
        grey = np.full((height, width), 0.5 * level, dtype=np.float32)
    return np.repeat((grey * 255).astype(np.uint8)[:, :, None], 3, axis=2)


@dataclass(frozen=True)
class Distractor:
    """A grey speck (square) or thin line drifting and wrapping around the frame."""

    is_line: bool
    x: float
    y: float
    vx: float
    vy: float
    length: float
    angle: float
    grey: int

    def draw(self, draw: ImageDraw.ImageDraw, t: float, width: int, height: int) -> None:
        x = (self.x + self.vx * t) % width
        y = (self.y + self.vy * t) % height
        fill = (self.grey, self.grey, self.grey)
        if self.is_line:
            dx, dy = self.length * math.cos(self.angle), self.length * math.sin(self.angle)
            draw.line((x, y, x + dx, y + dy), fill=fill, width=1)
        else:
            draw.rectangle((x, y, x + self.length, y + self.length), fill=fill)


def make_distractors(rng: np.random.Generator, width: int, height: int) -> list[Distractor]:
    """5-9 specks and 1-3 thin lines with random drift."""
    out = []
    for is_line in [False] * int(rng.integers(5, 10)) + [True] * int(rng.integers(1, 4)):
        speed, heading = rng.uniform(4.0, 18.0) * height / 240, rng.uniform(0, 2 * math.pi)
        out.append(
            Distractor(
                is_line=is_line,
                x=float(rng.uniform(0, width)),
                y=float(rng.uniform(0, height)),
                vx=float(speed * math.cos(heading)),
                vy=float(speed * math.sin(heading)),
                length=float(rng.uniform(15, 40) if is_line else rng.uniform(1, 3)) * height / 240,
                angle=float(rng.uniform(0, math.pi)),
                grey=int(rng.integers(110, 231)),
            )
        )
    return out


class Camera:
    """Per-frame camera shake (sub-pixel bilinear shift) and Gaussian noise, from a seeded generator."""

    def __init__(self, rng: np.random.Generator, width: int, height: int, noise: float, jitter: float):
        shape = (height + _NOISE_MARGIN, width + _NOISE_MARGIN, 3)
        self._noise = np.round(rng.normal(0.0, noise, size=shape)).astype(np.int16)
        self._padded = np.zeros((height + 2, width + 2, 3), dtype=np.uint16)
        self._rng = rng
        self._jitter = jitter
        self._size = (height, width)

    def apply(self, frame: np.ndarray) -> np.ndarray:
        """Shake and noise one uint8 frame; returns a new uint8 frame."""
        h, w = self._size
        dy, dx = np.clip(self._rng.normal(0.0, self._jitter, size=2), -0.9, 0.9)
        oy, ox = self._rng.integers(0, _NOISE_MARGIN, size=2)
        out = self._shifted(frame, float(dy), float(dx)).astype(np.int16)
        out += self._noise[oy : oy + h, ox : ox + w]
        return np.clip(out, 0, 255).astype(np.uint8)

    def _shifted(self, frame: np.ndarray, dy: float, dx: float) -> np.ndarray:
        """Sample the frame at (y + dy, x + dx), bilinear in 1/16-pixel steps, edges repeated."""
        h, w = self._size
        pad = self._padded
        pad[1:-1, 1:-1] = frame
        pad[0], pad[-1] = pad[1], pad[-2]
        pad[:, 0], pad[:, -1] = pad[:, 1], pad[:, -2]
        y0, x0 = 1 + math.floor(dy), 1 + math.floor(dx)
        wy, wx = round((dy - math.floor(dy)) * 16), round((dx - math.floor(dx)) * 16)
        total = np.zeros((h, w, 3), dtype=np.uint16)
        for oy, weight_y in ((0, 16 - wy), (1, wy)):
            for ox, weight_x in ((0, 16 - wx), (1, wx)):
                if weight_y and weight_x:
                    total += pad[y0 + oy : y0 + oy + h, x0 + ox : x0 + ox + w] * np.uint16(
                        weight_y * weight_x
                    )
        return total >> 8


def render_frames(plan: VideoPlan, config: SynthConfig) -> Iterator[np.ndarray]:
    """Yield the video's frames [H, W, 3] uint8 at `config.fps`."""
    w, h = config.width, config.height
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, plan.index, 0xF8A]))
    background = Image.fromarray(background_image(plan.background, plan.background_level, w, h))
    distractors = make_distractors(rng, w, h)
    camera = Camera(rng, w, h, config.noise_sigma, config.jitter_sigma)
    for k in range(int(round(plan.duration * config.fps))):
        t = k / config.fps
        image = background.copy()
        draw = ImageDraw.Draw(image)
        for distractor in distractors:
            distractor.draw(draw, t, w, h)
        for event in plan.events:
            pose = event_pose(event, t, w, h)
            if pose is not None:
                draw_event(draw, event.shape, event.colour, pose)
        yield camera.apply(np.asarray(image))


def encode_video(path: Path, frames: Iterator[np.ndarray], fps: int, width: int, height: int) -> None:
    """Encode RGB frames as mp4/h264 (yuv420p, single-threaded x264 with fixed options)."""
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps, options=X264_OPTIONS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.thread_count = 1
        stream.codec_context.gop_size = 2 * fps
        for k, array in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            frame.pts, frame.time_base = k, Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def render_video(plan: VideoPlan, config: SynthConfig, path: Path) -> None:
    """Render and encode one planned video to `path`."""
    encode_video(path, render_frames(plan, config), config.fps, config.width, config.height)
