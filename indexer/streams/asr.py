"""Speech: Whisper (transformers) over a video's audio, decoded with PyAV and resampled to 16 kHz mono.

The audio is streamed: samples are decoded into a buffer of at most one 30 s window (Whisper's input) plus
one decoded chunk, so a 2-hour file is never in memory whole. Windows follow Whisper's own long-form rule:
each window is transcribed with timestamps; the next one starts where the last complete segment ended (a
segment cut off by the window's end is heard again, whole, in the next window), or after the whole window
where the transcription ends with a closing timestamp or has no segment boundary. Segment times become
`Cue(start, end, text, "speech")` lines, counted from the first video frame as subtitle cues are.

Imported by the decode workers: torch and transformers are imported only where the model is loaded.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import av
import numpy as np

from indexer.cues import SPEECH, Cue
from indexer.decoders import MediaError, check_file, open_container
from indexer.media import probe_video
from indexer.streams.embedded import OPEN_TIMEOUT_S, video_origin
from indexer.streams.settings import AsrSettings
from indexer.subtitles import clean_text
from models.config import ModelError
from models.files import file_sha256
from models.hub import HUB_FILES, hub_folder

SAMPLE_RATE = 16_000  # what Whisper hears
WINDOW = 30 * SAMPLE_RATE  # one Whisper input: 30 s
MIN_WINDOW = SAMPLE_RATE // 10  # a tail shorter than 0.1 s is not transcribed
TIME_PRECISION = 0.02  # seconds per timestamp token
# What a transformers Whisper folder needs: configs, safetensors weights, tokenizer and feature extractor.

Segment = tuple[float, float, list[int]]  # start s, end s (in the window), text tokens


class SpeechError(MediaError):
    """A video's audio stream cannot be decoded."""


def whisper_folder(source: str) -> Path:
    """A local folder as it is; a hub id -> its snapshot folder in the hub cache (downloaded when online)."""
    path = Path(source).expanduser()
    if path.is_dir():
        return _checked(path.resolve())  # absolute: the decode workers load it
    return _checked(hub_folder(source, "Whisper weights", "--asr whisper:DIR"))


def _checked(folder: Path) -> Path:
    """`folder` when its config.json describes a Whisper (model_type "whisper") and its weights are
    safetensors (never pickles), else a ModelError."""
    config = folder / "config.json"
    if not config.is_file():
        raise ModelError(f"Whisper folder {folder} has no config.json (save it with save_pretrained)")
    if (kind := json.loads(config.read_text()).get("model_type")) != "whisper":
        raise ModelError(f"{folder} holds a {kind!r} model, not a Whisper (config.json's model_type)")
    if not any(folder.glob("model*.safetensors")):
        raise ModelError(
            f"Whisper folder {folder} has no model.safetensors (weights are read as safetensors)"
        )
    return folder


def whisper_digest(folder: Path) -> str:
    """SHA-256 over the names and contents of the files of ``folder`` that loading reads (HUB_FILES)."""
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        if path.is_file() and any(fnmatch.fnmatch(path.name, pattern) for pattern in HUB_FILES):
            digest.update(path.name.encode() + b"\0")
            digest.update(bytes.fromhex(file_sha256(path)))
    return digest.hexdigest()


def speech_settings(source: str) -> AsrSettings:
    """The settings of ``--asr whisper:<source>``: the local folder and the digest of its files."""
    folder = whisper_folder(source)
    return AsrSettings(folder, whisper_digest(folder))


def read_audio(path: Path, open_timeout_s: float = OPEN_TIMEOUT_S) -> Iterator[tuple[float, np.ndarray]]:
    """(start s from the first video frame, 16 kHz mono float32 samples) per decoded chunk of the first audio
    stream; nothing for a file without one. Chunks are taken as contiguous (a gap in the audio shifts later
    times by its length)."""
    check_file(path)
    with open_container(path, open_timeout_s) as container:
        if not container.streams.audio:
            return
        stream = container.streams.audio[0]
        origin = video_origin(container)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        start: float | None = None
        count = 0  # samples yielded
        try:
            for frame in container.decode(stream):
                if start is None:
                    start = (float(frame.time) if frame.time is not None else 0.0) - origin
                for out in resampler.resample(frame):
                    yield start + count / SAMPLE_RATE, out.to_ndarray()[0]
                    count += out.samples
            for out in resampler.resample(None):
                yield (start or 0.0) + count / SAMPLE_RATE, out.to_ndarray()[0]
        except av.FFmpegError as exc:
            raise SpeechError(f"{path}: its audio cannot be decoded ({exc})") from None


class AudioWindows:
    """30 s windows over streamed audio chunks, each starting where the last transcription said to go on."""

    def __init__(self, chunks: Iterator[tuple[float, np.ndarray]]) -> None:
        self._chunks = chunks
        self._buffer = np.zeros(0, np.float32)
        self.start = 0.0  # seconds from the first video frame of the buffer's first sample
        self._started = False

    def next(self) -> np.ndarray | None:
        """The next window (up to WINDOW samples), or None where under MIN_WINDOW samples are left."""
        parts, size = [self._buffer], len(self._buffer)
        while size < WINDOW:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            if not self._started:
                self.start, self._started = chunk[0], True
            parts.append(chunk[1])
            size += len(chunk[1])
        self._buffer = np.concatenate(parts) if len(parts) > 1 else self._buffer
        return self._buffer[:WINDOW] if size >= MIN_WINDOW else None

    def advance(self, seconds: float) -> None:
        """Drop the first ``seconds`` of the buffer: the next window starts there."""
        drop = min(len(self._buffer), max(1, round(seconds * SAMPLE_RATE)))
        self._buffer = self._buffer[drop:].copy()  # a copy: the dropped samples are freed
        self.start += drop / SAMPLE_RATE


def split_segments(tokens: list[int], first_stamp: int, length: float) -> tuple[list[Segment], float]:
    """Whisper's reading of one window's tokens: the complete segments, and the seconds of the window they
    used (where the next window starts), as transformers' and OpenAI's long-form transcription do."""
    stamp = [token >= first_stamp for token in tokens]
    cuts = [i + 1 for i in range(len(tokens) - 1) if stamp[i] and stamp[i + 1]]  # between two timestamps
    single_ending = stamp[-2:] == [False, True]  # the last segment closed, no speech after it
    if not cuts:  # no segment boundary: the whole window is one segment
        stamps = [t - first_stamp for t in tokens if t >= first_stamp]
        end = stamps[-1] * TIME_PRECISION if stamps and stamps[-1] > 0 else length
        return [(0.0, end, [t for t in tokens if t < first_stamp])], length
    if single_ending:
        cuts.append(len(tokens))
    segments, last = [], 0
    for cut in cuts:  # what follows the last cut, unless single_ending, is cut off by the window's end
        piece = tokens[last:cut]
        stamps = [t - first_stamp for t in piece if t >= first_stamp]
        segments.append(
            (stamps[0] * TIME_PRECISION, stamps[-1] * TIME_PRECISION, [t for t in piece if t < first_stamp])
        )
        last = cut
    return segments, length if single_ending else segments[-1][1]


class Transcriber:
    """A Whisper folder loaded with transformers (`WhisperForConditionalGeneration`, `WhisperProcessor`),
    on one thread: one window of 16 kHz samples -> its timed text segments."""

    def __init__(self, settings: AsrSettings) -> None:
        import torch
        import transformers
        from transformers import WhisperForConditionalGeneration, WhisperProcessor

        torch.set_num_threads(1)  # parallelism comes from worker processes
        transformers.logging.set_verbosity_error()  # not one warning a window (max_length, max_new_tokens)
        transformers.logging.disable_progress_bar()
        folder = settings.folder
        try:
            self.processor: Any = WhisperProcessor.from_pretrained(folder)
            loaded = WhisperForConditionalGeneration.from_pretrained(
                folder, output_loading_info=True, use_safetensors=True
            )
            model, info = cast("tuple[Any, dict[str, list[str]]]", loaded)
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot load a Whisper from {folder}: {exc}") from None
        if missing := sorted(info["missing_keys"]):
            raise ModelError(f"{folder} lacks {len(missing)} Whisper weights ({', '.join(missing[:3])}, ...)")
        self.model = model.eval()
        generation = self.model.generation_config
        self.first_stamp = int(generation.no_timestamps_token_id) + 1
        self.options: dict[str, Any] = {
            "return_timestamps": True,
            "max_new_tokens": settings.max_new_tokens,
            "force_unique_generate_call": True,  # one pass a window: `SpeechScan` seeks, not transformers
        }
        if generation.is_multilingual:  # the language is detected per window; never translated
            self.options["task"] = "transcribe"
        ends = generation.eos_token_id
        self.end = min(ends) if isinstance(ends, list) else int(ends)  # Whisper's ids: text < end <= control

    def segments(self, samples: np.ndarray) -> tuple[list[tuple[float, float, str]], float]:
        """(start s, end s, text) of the complete segments heard in ``samples`` (at most 30 s), and the
        seconds of them used: where the next window starts."""
        import torch

        length = len(samples) / SAMPLE_RATE
        features = self.processor.feature_extractor(
            samples, sampling_rate=SAMPLE_RATE, return_tensors="pt"
        ).input_features  # [1, mel bins, 3000]: the window padded to 30 s
        with torch.inference_mode():
            encoded = self.model.get_encoder()(features)  # once: language detection would run it again
            tokens = self.model.generate(encoder_outputs=encoded, **self.options)[0].tolist()
        tokens = [t for t in tokens if t < self.end or t >= self.first_stamp]  # no prompt, no end
        found, used = split_segments(tokens, self.first_stamp, length)
        decode = self.processor.tokenizer.decode
        return [(start, end, clean_text(decode(text))) for start, end, text in found], used


class SpeechScan:
    """One video's speech: iterate to transcribe (the audio seconds done are yielded after each window), then
    take `cues()`."""

    def __init__(self, path: Path, transcriber: Transcriber) -> None:
        self.path, self.transcriber = path, transcriber
        self.seconds = 0.0  # audio transcribed
        self._cues: list[Cue] = []

    def __iter__(self) -> Iterator[float]:
        probe_video(self.path)  # a file that is no video fails here, before its audio is heard in vain
        windows = AudioWindows(read_audio(self.path))
        while (window := windows.next()) is not None:
            length = len(window) / SAMPLE_RATE
            segments, used = self.transcriber.segments(window)
            for start, end, text in segments:
                if text and start < length:  # nothing heard in the padding past the audio's end
                    begin = max(0.0, round(windows.start + start, 3))  # audio may start before the video
                    finish = round(windows.start + min(end, length), 3)
                    self._cues.append(Cue(begin, max(begin, finish), text, SPEECH))
            step = used if 0 < used <= length else length  # always forward
            windows.advance(step)
            self.seconds += step
            yield self.seconds

    def cues(self) -> list[Cue]:
        """The lines heard, as cues sorted by start time (call after iterating)."""
        return sorted(self._cues, key=lambda cue: cue.start)
