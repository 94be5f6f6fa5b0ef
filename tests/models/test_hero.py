"""Hierarchical encoder: shapes, masks, windowed attention, segments, pooling, and that the model trains."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import torch
import torch.nn.functional as F

from models.config import ModelConfig
from models.encoders import CUES, TextFeatures
from models.model import KairosModel
from models.registry import create_model, get_config

torch.set_num_threads(1)
ATOL = 1e-5


def tiny(**changes: object) -> KairosModel:
    torch.manual_seed(0)
    config = dataclasses.replace(get_config("kairos-tiny"), **changes)  # type: ignore[arg-type]
    return create_model(config).eval()


def text_features(b: int, length: int, dim: int = 384, seed: int = 0) -> TextFeatures:
    gen = torch.Generator().manual_seed(seed)
    tokens = torch.randn(b, length, dim, generator=gen)
    mask = torch.ones(b, length, dtype=torch.bool)
    return TextFeatures(tokens, mask, F.normalize(tokens.mean(1), dim=-1))


def test_clip_level_shapes_and_padding() -> None:
    model = tiny()
    c = model.config
    frames, subs = torch.randn(5, 2, c.visual_dim), torch.randn(5, 4, c.text_dim)
    base = model.clip_level(
        frames, torch.ones(5, 2, dtype=torch.bool), subs, torch.ones(5, 4, dtype=torch.bool)
    )
    assert base.shape == (5, c.hidden)
    # one extra padding frame and two extra padding tokens, filled with noise
    padded_frames = torch.cat([frames, torch.randn(5, 1, c.visual_dim)], dim=1)
    padded_subs = torch.cat([subs, torch.randn(5, 2, c.text_dim)], dim=1)
    frame_mask = torch.tensor([True, True, False]).expand(5, 3)
    sub_mask = torch.tensor([True] * 4 + [False] * 2).expand(5, 6)
    padded = model.clip_level(padded_frames, frame_mask, padded_subs, sub_mask)
    torch.testing.assert_close(padded, base, atol=ATOL, rtol=1e-4)


def test_clip_level_without_subtitles_ignores_them() -> None:
    model = tiny(use_subtitles=False)
    frames, mask = torch.randn(3, 3, 32), torch.ones(3, 3, dtype=torch.bool)
    a = model.clip_level(frames, mask, torch.randn(3, 4, 384), torch.ones(3, 4, dtype=torch.bool))
    b = model.clip_level(frames, mask, None, None)
    torch.testing.assert_close(a, b)


def test_same_seed_same_outputs() -> None:
    frames = torch.randint(0, 256, (6, 96, 128, 3), dtype=torch.uint8)
    a, b = tiny().encode_frames(frames), tiny().encode_frames(frames)
    assert torch.equal(a, b)


def test_windowed_equals_full_attention_when_short() -> None:
    model = tiny()  # window 8
    states, mask = torch.randn(2, 8, 32), torch.ones(2, 8, dtype=torch.bool)
    mask[1, 6:] = False
    full = F.normalize(model.hero.out_proj(model.hero.temporal(states, mask)), dim=-1)
    out = model.video_level(states, mask)
    assert out.shape == (2, 8, model.config.dim)
    torch.testing.assert_close(out[0], full[0], atol=ATOL, rtol=1e-4)
    torch.testing.assert_close(out[1, :6], full[1, :6], atol=ATOL, rtol=1e-4)
    torch.testing.assert_close(out.norm(dim=-1), torch.ones(2, 8))


def test_video_level_padding_and_locality() -> None:
    model = tiny()  # window 8, stride 4
    long, short = torch.randn(1, 30, 32), torch.randn(1, 5, 32)
    alone_long = model.video_level(long, torch.ones(1, 30, dtype=torch.bool))
    alone_short = model.video_level(short, torch.ones(1, 5, dtype=torch.bool))
    batch = torch.cat([long, F.pad(short, (0, 0, 0, 25))])  # [2,30,32]
    mask = torch.zeros(2, 30, dtype=torch.bool)
    mask[0], mask[1, :5] = True, True
    batched = model.video_level(batch, mask)
    torch.testing.assert_close(batched[0], alone_long[0], atol=ATOL, rtol=1e-4)
    torch.testing.assert_close(batched[1, :5], alone_short[0], atol=ATOL, rtol=1e-4)
    # local attention: changing the first clip leaves far clips untouched
    changed = long.clone()
    changed[0, 0] = torch.randn(32)
    moved = model.video_level(changed, torch.ones(1, 30, dtype=torch.bool))
    assert not torch.allclose(moved[0, 0], alone_long[0, 0])
    torch.testing.assert_close(moved[0, 16:], alone_long[0, 16:])


def test_video_level_two_hours_bounded() -> None:
    model = tiny(window=64)
    with torch.no_grad():
        out = model.video_level(torch.randn(1, 4800, 32), torch.ones(1, 4800, dtype=torch.bool))
    assert out.shape == (1, 4800, 32) and torch.isfinite(out).all()


def test_video_level_without_temporal_only_projects() -> None:
    model = tiny(use_temporal=False)
    states = torch.randn(1, 12, 32)
    out = model.video_level(states, torch.ones(1, 12, dtype=torch.bool))
    torch.testing.assert_close(out, F.normalize(model.hero.out_proj(states), dim=-1))


def test_segments_ranges_and_vectors() -> None:
    model = tiny()  # scales [2, 4]
    clips = F.normalize(torch.randn(7, 32), dim=-1)
    vectors, ranges = model.segments(clips)
    expected = [(0, 2), (1, 3), (2, 4), (3, 5), (4, 6), (5, 7), (0, 4), (2, 6), (4, 7)]
    assert ranges.dtype == torch.int64 and [tuple(r) for r in ranges.tolist()] == expected
    torch.testing.assert_close(vectors[-1], F.normalize(clips[4:7].mean(0), dim=0))
    short_vectors, short = model.segments(clips[:1])
    assert short.tolist() == [[0, 1]] and short_vectors.shape == (1, 32)
    assert model.segments(torch.randn(100, 32))[1].shape[0] <= 200


def test_video_vector_masks_and_normalises() -> None:
    model = tiny()
    clips = F.normalize(torch.randn(1, 6, 32), dim=-1)
    padded = torch.cat([clips, torch.randn(1, 3, 32)], dim=1)
    mask = torch.tensor([[True] * 6 + [False] * 3])
    a = model.video_vector(clips, torch.ones(1, 6, dtype=torch.bool))
    torch.testing.assert_close(model.video_vector(padded, mask), a)
    assert a.shape == (1, 32)
    torch.testing.assert_close(a.norm(dim=-1), torch.ones(1))


def test_encode_query_masks_tokens() -> None:
    model = tiny()
    text = text_features(2, 5)
    q = model.encode_query(text)
    assert q.shape == (2, 32)
    torch.testing.assert_close(q.norm(dim=-1), torch.ones(2))
    mask = torch.cat([text.mask, torch.zeros(2, 3, dtype=torch.bool)], dim=1)
    padded = TextFeatures(torch.cat([text.tokens, torch.randn(2, 3, 384)], dim=1), mask, text.pooled)
    torch.testing.assert_close(model.encode_query(padded), q)


def test_encode_video_chunks_and_matches_batched_path() -> None:
    model = tiny()
    frames, frame_mask = torch.randn(20, 3, 32), torch.ones(20, 3, dtype=torch.bool)
    subs, sub_mask = torch.randn(20, 4, 384), torch.ones(20, 4, dtype=torch.bool)
    enc = model.encode_video(frames, frame_mask, subs, sub_mask, chunk=7)
    assert enc.clips.shape == (20, 32) and enc.video.shape == (32,)
    assert enc.segments.shape[0] == enc.segment_ranges.shape[0]
    states = model.clip_level(frames, frame_mask, subs, sub_mask)
    clips = model.video_level(states[None], torch.ones(1, 20, dtype=torch.bool))[0]
    torch.testing.assert_close(enc.clips, clips, atol=ATOL, rtol=1e-4)
    assert model.hero.mask_embedding.shape == (model.config.hidden,)


def test_a_few_steps_lower_query_video_infonce() -> None:
    """The whole path (pixels -> CNN -> clip level -> video level -> video vector) trains."""
    torch.manual_seed(0)
    model = create_model(get_config("kairos-tiny")).train()
    n_videos, n_clips, f = 4, 2, 2
    frames = torch.randint(0, 256, (n_videos * n_clips * f, 96, 128, 3), dtype=torch.uint8)
    subs, sub_mask = (
        torch.randn(n_videos * n_clips, 4, 384),
        torch.ones(n_videos * n_clips, 4, dtype=torch.bool),
    )
    queries = text_features(n_videos, 6, seed=1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(8):
        feats = model.encode_frames(frames).view(n_videos * n_clips, f, -1)  # [V*C*F,Dv] -> [V*C,F,Dv]
        states = model.clip_level(feats, torch.ones(n_videos * n_clips, f, dtype=torch.bool), subs, sub_mask)
        mask = torch.ones(n_videos, n_clips, dtype=torch.bool)
        clips = model.video_level(states.view(n_videos, n_clips, -1), mask)  # [V*C,H] -> [V,C,H]
        scores = model.encode_query(queries) @ model.video_vector(clips, mask).T / 0.1  # [Q,V]
        loss = F.cross_entropy(scores, torch.arange(n_videos))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0] - 0.3


def test_config_json_round_trip_and_hash() -> None:
    config = get_config("kairos-small")
    assert ModelConfig.from_json(config.to_json()) == config
    assert dataclasses.replace(config, name="other", dropout=0.3).config_hash() == config.config_hash()
    assert dataclasses.replace(config, window=32).config_hash() != config.config_hash()
    flipped = dataclasses.replace(config, motion_cues=not config.motion_cues)
    assert flipped.config_hash() != config.config_hash()


def test_fields_added_later_keep_older_hashes() -> None:
    """A config without `cnn_glimpse`, `motion_cues` and the visual-concept / zero-shot / query-skip fields
    (as written before they existed) hashes as it did."""
    old = get_config("kairos-small").to_dict()
    old.pop("cnn_glimpse"), old.pop("motion_cues")
    before = ModelConfig.from_dict(old | {"cnn_glimpse": False})
    later = {"name", "dropout", "cnn_glimpse", "motion_cues", "concepts", "concept_floor", "zero_shot"}
    later.add("query_skip")
    fields = {k: v for k, v in before.to_dict().items() if k not in later}
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    assert before.config_hash() == hashlib.sha256(canonical.encode()).hexdigest()[:16]


def test_motion_reader_reads_the_cues_across_frames_and_skips_masked_ones() -> None:
    model = tiny(cnn_glimpse=True, motion_cues=True)
    reader = model.hero.motion
    assert reader is not None and tiny().hero.motion is None
    c = model.config
    frames, mask = torch.randn(5, 3, c.visual_dim), torch.ones(5, 3, dtype=torch.bool)
    base = reader(frames, mask)
    assert base.shape == (5, c.hidden)
    learnt = frames.clone()
    learnt[..., :-CUES] = torch.randn(5, 3, c.visual_dim - CUES)
    torch.testing.assert_close(reader(learnt, mask), base)  # only the cues are read
    moved = frames.clone()
    moved[:, 2, -CUES] += 0.5  # the last frame's colour further right
    assert (reader(moved, mask) - base).abs().amax(dim=1).min() > 1e-4
    # a masked last frame reads as a clip of two frames, whatever it holds
    two = reader(frames[:, :2], mask[:, :2])
    torch.testing.assert_close(reader(moved, torch.tensor([True, True, False]).expand(5, 3)), two)
    states = model.clip_level(frames, mask, None, None)
    assert not torch.allclose(states, model.clip_level(moved, mask, None, None))


def test_subtitle_skip_adds_what_is_said_and_leaves_silent_clips() -> None:
    model = tiny(subtitle_skip=True)
    c = model.config
    frames, frame_mask = torch.randn(4, 2, c.visual_dim), torch.ones(4, 2, dtype=torch.bool)
    line = text_features(1, 5, seed=3)
    tokens = torch.zeros(4, 5, c.text_dim)
    mask = torch.zeros(4, 5, dtype=torch.bool)
    tokens[1], mask[1] = line.tokens[0], True  # only clip 1 is spoken over
    said = model.subtitle_vectors(tokens, mask)
    assert said is not None
    # a spoken clip's text is where the query encoder puts the same text as a query
    torch.testing.assert_close(said[1], model.encode_query(line)[0], atol=ATOL, rtol=1e-4)
    assert torch.equal(said[[0, 2, 3]], torch.zeros(3, c.dim))
    encoding = model.encode_video(frames, frame_mask, tokens, mask)
    states = model.clip_level(frames, frame_mask, tokens, mask)
    context = model.video_level(states[None], torch.ones(1, 4, dtype=torch.bool))[0]
    torch.testing.assert_close(encoding.clips[[0, 2, 3]], context[[0, 2, 3]], atol=ATOL, rtol=1e-4)
    expected = F.normalize(context[1] + model.subtitle_gate * said[1], dim=-1)  # type: ignore[operator]
    torch.testing.assert_close(encoding.clips[1], expected, atol=ATOL, rtol=1e-4)


def test_without_subtitle_skip_no_gate_and_no_said_vectors() -> None:
    for model in (tiny(), tiny(subtitle_skip=True, use_subtitles=False)):
        assert model.subtitle_gate is None
        assert "subtitle_gate" not in model.state_dict()
        assert model.subtitle_vectors(torch.randn(2, 3, 384), torch.ones(2, 3, dtype=torch.bool)) is None


def test_head_hidden_sets_the_moment_head_width() -> None:
    model = tiny(head_hidden=16)
    assert model.moment_head.unary.in_features == 16
    unary, pair = model.moment_head(
        torch.randn(2, model.config.dim),
        torch.randn(2, 7, model.config.dim),
        torch.ones(2, 7, dtype=torch.bool),
    )
    assert unary.shape == (2, 7, 3) and pair.shape == (2, 6, 3, 3)
