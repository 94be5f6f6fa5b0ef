"""Small real media files for tests and benchmarks, written with PyAV.

Good videos come in two patterns:
- ``"index"``: every frame is one flat colour that encodes its frame index (``index_colour``), so a test can
  tell which frame a decoder returned with ``decode_index``; flat colours survive h264 and yuv420 well;
- ``"texture"``: a moving, noisy pattern whose bitrate is closer to a real video (for benchmarks).

Videos with words: ``write_subtitled_video`` muxes text subtitle tracks (mov_text, SubRip, ASS, WebVTT) with
their language tags; ``write_text_video`` renders lines of text into the frames (Pillow's bundled TrueType
font) for OCR.

Bad files: ``write_zero_byte``, ``write_text_as_video``, ``write_truncated``, ``write_garbage_mp4``,
``write_audio_only``, ``write_empty_video``. Speech: ``write_video_with_audio`` (a tone under noise); a tiny
random Whisper, ``tiny_whisper_dir``. Every writer returns the path it wrote. Output is deterministic
(one encoder thread, fixed seeds).
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import av
import numpy as np
from av.subtitles.subtitle import SubtitleSet
from PIL import Image, ImageDraw, ImageFont

Pattern = Literal["index", "texture"]

_LEVELS = 6
_STEP = 40
_BASE = 20
_CYCLE = _LEVELS**3
_ASS_HEADER = (
    b"[Script Info]\nScriptType: v4.00+\nPlayResX: 384\nPlayResY: 288\n\n[V4+ Styles]\n"
    b"Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, "
    b"Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, "
    b"MarginL, MarginR, MarginV, Encoding\n"
    b"Style: Default,Arial,16,&Hffffff,&Hffffff,&H0,&H0,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,0\n\n"
    b"[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
)

# A subtitle track to mux: codec ("mov_text", "subrip", "ass", "webvtt"), language tag (None: untagged) and
# cues (start s, end s, text). A cue given as bytes is muxed as the packet's raw payload, not encoded
# (invalid text); a cue with end == start gets no duration (a broken timestamp).
TrackSpec = tuple[str, str | None, Sequence[tuple[float, float, str | bytes]]]


def index_colour(index: int) -> tuple[int, int, int]:
    """Flat RGB colour of frame ``index`` in the "index" pattern (unique for 216 consecutive frames)."""
    i = index % _CYCLE
    return (
        _BASE + _STEP * (i % _LEVELS),
        _BASE + _STEP * (i // _LEVELS % _LEVELS),
        _BASE + _STEP * (i // _LEVELS**2),
    )


def decode_index(image: np.ndarray) -> int:
    """Frame index (modulo 216) of an "index"-pattern image [H, W, 3], read from the median of its centre."""
    h, w = image.shape[:2]
    centre = image[h // 2 - h // 8 : h // 2 + h // 8 + 1, w // 2 - w // 8 : w // 2 + w // 8 + 1]
    rgb = np.median(centre.reshape(-1, 3), axis=0)
    digits = np.clip(np.rint((rgb - _BASE) / _STEP), 0, _LEVELS - 1).astype(int)
    return int(digits[0] + _LEVELS * digits[1] + _LEVELS**2 * digits[2])


def _texture_frame(index: int, width: int, height: int, tile: np.ndarray) -> np.ndarray:
    """A noisy tile scrolled by ``index`` pixels, tinted by the frame's index colour."""
    shifted = np.roll(tile, shift=(index * 2, index * 3), axis=(0, 1))[:height, :width]
    tint = np.array(index_colour(index), dtype=np.uint16)
    return ((shifted.astype(np.uint16) + tint) // 2).astype(np.uint8)


def _noise_tile(width: int, height: int) -> np.ndarray:
    """A fixed tile of 8x8-pixel noise blocks, a little larger than the frame so it can scroll."""
    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 256, size=(height // 8 + 2, width // 8 + 2, 3), dtype=np.uint8)
    return np.kron(coarse, np.ones((8, 8, 1), dtype=np.uint8))


def write_video(
    path: Path,
    *,
    seconds: float = 2.0,
    fps: float = 10.0,
    width: int = 64,
    height: int = 48,
    pattern: Pattern = "index",
    gop: int = 12,
    preset: str = "ultrafast",
    faststart: bool = False,
) -> Path:
    """Write an h264 (yuv420p) video of ``round(seconds * fps)`` frames; frame i shows pattern frame i.

    ``fps`` may be fractional (29.97 is stored as 30000/1001); width and height must be even.
    ``gop`` is the keyframe interval in frames; ``preset`` the x264 preset ("ultrafast": no B-frames, fastest
    to write; "veryfast" and slower add B-frames and CABAC, as real videos have).
    ``faststart`` puts the mp4 index (moov) before the data, as streaming encoders do.
    """
    rate = Fraction(fps).limit_denominator(1001)
    count = round(seconds * float(rate))
    tile = _noise_tile(width, height) if pattern == "texture" else None
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), mode="w", options=options) as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = gop
        stream.options = {"preset": preset, "crf": "18", "threads": "1"}
        for i in range(count):
            image = (
                np.full((height, width, 3), index_colour(i), dtype=np.uint8)
                if tile is None
                else _texture_frame(i, width, height, tile)
            )
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def write_subtitled_video(
    path: Path, tracks: Sequence[TrackSpec], *, seconds: float = 4.0, fps: float = 10.0
) -> Path:
    """An "index"-pattern video (h264; VP9 for .webm) of 64x48 with text subtitle tracks, muxed by PyAV.

    Cue text may carry ASS override tags (``{\\i1}``) and ``\\N`` line breaks, as the encoders take them.
    """
    codec = "libvpx-vp9" if path.suffix == ".webm" else "libx264"
    with av.open(str(path), mode="w") as container:
        video = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        assert isinstance(video, av.VideoStream)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        video.options = {"threads": "1"}
        streams = []
        for name, language, _ in tracks:
            stream = container.add_stream(name)
            assert isinstance(stream, av.subtitles.stream.SubtitleStream)
            stream.codec_context.subtitle_header = _ASS_HEADER
            if language is not None:
                stream.metadata["language"] = language
            streams.append(stream)
        container.start_encoding()
        for i in range(round(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(
                np.full((48, 64, 3), index_colour(i), np.uint8), format="rgb24"
            )
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        for stream, (_, _, cues) in zip(streams, tracks, strict=True):
            for n, (start, end, text) in enumerate(cues):
                container.mux(_subtitle_packet(stream, n, start, end, text))
    return path


def _subtitle_packet(
    stream: av.subtitles.stream.SubtitleStream, n: int, start: float, end: float, text: str | bytes
) -> av.Packet:
    """One cue as a packet of ``stream``: encoded by the stream's encoder, or ``text`` as raw bytes."""
    if isinstance(text, bytes):
        packet = av.Packet(text)
    else:
        dialogue = f"{n},0,Default,,0,0,0,,{text}".encode()
        packet = stream.codec_context.encode_subtitle(
            SubtitleSet.create(dialogue, 0, round((end - start) * 1000))
        )
    base = stream.time_base
    assert base is not None
    packet.stream = stream
    packet.pts = packet.dts = round(start / base)
    packet.duration = round((end - start) / base)
    return packet


def write_text_video(
    path: Path,
    slides: Sequence[tuple[float, float, Sequence[str]]],
    *,
    seconds: float = 12.0,
    fps: float = 5.0,
    width: int = 640,
    height: int = 360,
    pointer: bool = True,
) -> Path:
    """An h264 video of a dark background (with a small white square moving across it, as a pointer would,
    unless ``pointer`` is False); during each slide (start s, end s, lines) its lines are drawn in white, one
    above the other, in Pillow's bundled TrueType font (Aileron) 36 px high."""
    font = ImageFont.load_default(size=36)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "18", "threads": "1"}
        for i in range(round(seconds * fps)):
            t = i / fps
            image = Image.new("RGB", (width, height), (20, 30, 60))
            draw = ImageDraw.Draw(image)
            if pointer:
                x = round((width - 24) * t / seconds)
                draw.rectangle((x, height - 40, x + 24, height - 16), fill=(255, 255, 255))
            for start, end, lines in slides:
                if start <= t < end:
                    for row, line in enumerate(lines):
                        draw.text((40, 40 + 56 * row), line, fill=(255, 255, 255), font=font)
            container.mux(stream.encode(av.VideoFrame.from_image(image)))
        container.mux(stream.encode(None))
    return path


def write_video_with_audio(path: Path, *, seconds: float = 4.0, fps: float = 2.0) -> Path:
    """Write a small h264 video (32x24, ``index`` pattern) with a mono 16 kHz AAC track of the same length:
    a 440 Hz tone under seeded noise, louder in alternate 2-second stretches (a stand-in for speech)."""
    rate, size = 16000, 1024
    rng = np.random.default_rng(7)
    with av.open(str(path), mode="w") as container:
        video = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        video.width, video.height, video.pix_fmt = 32, 24, "yuv420p"
        video.options = {"preset": "ultrafast", "threads": "1"}
        audio = container.add_stream("aac", rate=rate, layout="mono")
        assert isinstance(audio, av.AudioStream)
        fmt = audio.codec_context.format.name
        for i in range(round(seconds * fps)):
            image = np.full((24, 32, 3), index_colour(i), dtype=np.uint8)
            container.mux(video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(video.encode(None))
        for start in range(0, int(seconds * rate), size):
            t = np.arange(start, start + size) / rate
            loud = 0.3 if int(t[0] / 2) % 2 == 0 else 0.05
            wave = loud * np.sin(2 * np.pi * 440 * t) + 0.02 * rng.standard_normal(size)
            frame = av.AudioFrame.from_ndarray(
                _as_format(wave.astype(np.float32)[None, :], fmt), format=fmt, layout="mono"
            )
            frame.sample_rate, frame.pts = rate, start
            container.mux(audio.encode(frame))
        container.mux(audio.encode(None))
    return path


def write_audio_only(path: Path, *, seconds: float = 1.0, codec: str = "aac", rate: int = 44100) -> Path:
    """Write a file holding one mono 440 Hz audio stream and no video (e.g. ``clip.m4a`` or ``clip.mp4``;
    ``long.wav`` with ``codec="adpcm_ima_wav"`` and ``rate=8000`` writes 2 hours in about 2 s, 29 MB)."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=rate, layout="mono")
        assert isinstance(stream, av.AudioStream)
        size = stream.codec_context.frame_size or 1024
        fmt = stream.codec_context.format.name
        for start in range(0, int(seconds * rate), size):
            t = np.arange(start, start + size) / rate
            samples = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]
            frame = av.AudioFrame.from_ndarray(_as_format(samples, fmt), format=fmt, layout="mono")
            frame.sample_rate, frame.pts = rate, start
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def _as_format(samples: np.ndarray, fmt: str) -> np.ndarray:
    """Float samples [1, N] in -1..1 converted to the encoder's sample format (fltp or s16)."""
    if fmt.startswith("s16"):
        return (samples * 32767).astype(np.int16)
    return samples


def write_empty_video(path: Path, *, width: int = 64, height: int = 48) -> Path:
    """Write an mp4 whose h264 video stream got no frames (a zero-length video; mp4 then drops the track)."""
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        container.start_encoding()
        container.mux(stream.encode(None))
    return path


def write_zero_byte(path: Path) -> Path:
    """Create an empty (0-byte) file."""
    path.write_bytes(b"")
    return path


def write_text_as_video(path: Path) -> Path:
    """Write a plain text file, meant to be given a video name such as ``notes.mp4``."""
    path.write_text("This is not a video.\nJust some notes someone saved with the wrong name.\n" * 20)
    return path


def write_truncated(path: Path, source: Path, *, keep: float = 0.5) -> Path:
    """Copy the first ``keep`` fraction of ``source``'s bytes to ``path`` (an interrupted download)."""
    data = source.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def write_garbage_mp4(path: Path, *, size: int = 4096) -> Path:
    """Write an mp4 ``ftyp`` header followed by random bytes: looks like an mp4, holds no readable index."""
    ftyp = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
    path.write_bytes(ftyp + np.random.default_rng(1).integers(0, 256, size, dtype=np.uint8).tobytes())
    return path


def tiny_clip_dir(root: Path) -> Path:
    """A tiny random CLIP (both towers, projection dim 16, 32x32 images) and a byte-level CLIP tokenizer
    (no merges) saved under `root/clip` the way transformers saves a real one."""
    import torch
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import CLIPConfig, CLIPModel, CLIPTokenizer

    chars = sorted(ByteLevel.alphabet())
    specials = ["<|startoftext|>", "<|endoftext|>"]
    tokenizer = CLIPTokenizer(
        vocab={t: i for i, t in enumerate(chars + [c + "</w>" for c in chars] + specials)}
    )
    tower = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2}
    text = tower | {
        "vocab_size": len(tokenizer),
        "max_position_embeddings": 77,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    torch.manual_seed(0)
    config = CLIPConfig(
        text_config=text, vision_config=tower | {"image_size": 32, "patch_size": 8}, projection_dim=16
    )
    CLIPModel(config).save_pretrained(root / "clip")
    tokenizer.save_pretrained(root / "clip")
    return root / "clip"


def tiny_whisper_dir(root: Path, *, seed: int = 0) -> Path:
    """A tiny random multilingual Whisper (d_model 32, one layer a side) with a byte-level Whisper tokenizer
    (no merges; Whisper's special, two language and 1501 timestamp tokens) and the feature extractor, saved
    under `root/whisper` the way transformers saves a real one (the generation config as openai/whisper-*)."""
    import torch
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
        WhisperTokenizer,
    )

    languages = ["<|en|>", "<|fr|>"]
    tasks = ["<|translate|>", "<|transcribe|>"]
    others = ["<|startoflm|>", "<|startofprev|>", "<|nospeech|>", "<|notimestamps|>"]
    specials = ["<|endoftext|>", "<|startoftranscript|>", *languages, *tasks, *others]
    stamps = [f"<|{i * 0.02:.2f}|>" for i in range(1501)]
    vocab = {t: i for i, t in enumerate(sorted(ByteLevel.alphabet()) + specials + stamps)}
    end, start = vocab["<|endoftext|>"], vocab["<|startoftranscript|>"]
    tokens: dict[str, Any] = {
        "pad_token_id": end,
        "bos_token_id": end,
        "eos_token_id": end,
        "decoder_start_token_id": start,
    }
    torch.manual_seed(seed)
    shape: dict[str, Any] = {
        "d_model": 32,
        "encoder_layers": 1,
        "decoder_layers": 1,
        "encoder_ffn_dim": 64,
        "decoder_ffn_dim": 64,
    }
    heads: dict[str, Any] = {
        "encoder_attention_heads": 2,
        "decoder_attention_heads": 2,
        "max_target_positions": 448,
    }
    model = WhisperForConditionalGeneration(WhisperConfig(vocab_size=len(vocab), **shape, **heads, **tokens))
    model.generation_config = GenerationConfig(
        **tokens,
        max_length=448,
        is_multilingual=True,
        lang_to_id={t: vocab[t] for t in languages},
        task_to_id={t.strip("<|>"): vocab[t] for t in tasks},
        no_timestamps_token_id=vocab["<|notimestamps|>"],
        prev_sot_token_id=vocab["<|startofprev|>"],
        max_initial_timestamp_index=50,
        begin_suppress_tokens=[vocab["\u0120"], end],  # a space, the end: never first
    )
    model.save_pretrained(root / "whisper")
    WhisperProcessor(WhisperFeatureExtractor(), WhisperTokenizer(vocab=vocab, merges=[])).save_pretrained(
        root / "whisper"
    )
    return root / "whisper"
