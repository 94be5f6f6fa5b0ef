"""What hearing speech costs: Whisper through `indexer.streams.asr` on this CPU, on one thread (as a decode
worker runs it).

Measured:
1. The whole speech stream (`SpeechScan`: PyAV decode and resampling, log-mel features, `generate` with
   timestamps, segments) with the tiny random Whisper of the tests (d_model 32, one layer a side) over the
   16 kHz AAC track of a generated video; and its model-free parts: decoding + resampling per audio-second,
   log-mel features per 30 s window.
2. The architectures of Whisper tiny, base and small (their public sizes, random weights: nothing is
   downloaded): parameter counts, the encoder's time for one 30 s window (the fastest of 3: the machine is
   shared), and the decoder's time per token (the median of 48 greedy steps with the KV cache over a 30 s
   window's encoding, after the 4-token prompt).

Estimated (not measured, since random weights do not say how long a real transcript is): seconds per
audio-second of real speech = (log-mel + encoder + T x per-token) / 30 with T = 110 tokens a 30 s window
(about 150 words a minute at 1.3 tokens a word, and timestamp tokens). Silence costs about the encoder alone.
Writes `benchmarks/results/asr_speed.json` and `asr_speed.md` (also printed).

    .venv/bin/python benchmarks/asr_speed.py [--seconds 180] [--sizes tiny,base,small]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

if not __package__:  # run as `python benchmarks/x.py`: import from the repository root, as `-m benchmarks.x`
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.common import RESULTS, machine, write_report  # noqa: E402
from indexer.streams.asr import WINDOW, SpeechScan, Transcriber, read_audio, speech_settings  # noqa: E402
from tests import factories  # noqa: E402

# Public sizes (openai/whisper-*, config.json): d_model, layers a side, heads; vocabulary 51865.
SIZES = {"tiny": (384, 4, 6), "base": (512, 6, 8), "small": (768, 12, 12)}
TOKENS_PER_WINDOW = 110
STEPS = 48  # decoder steps timed


def stream_cost(seconds: float, tmp: Path) -> dict[str, Any]:
    """The whole speech stream with the tests' tiny Whisper over a generated video; its model-free parts."""
    video = factories.write_video_with_audio(tmp / "talk.mp4", seconds=seconds)
    transcriber = Transcriber(speech_settings(str(factories.tiny_whisper_dir(tmp))))
    started = time.perf_counter()
    samples = sum(len(chunk) for _, chunk in read_audio(video))
    decode_s = time.perf_counter() - started
    window = np.zeros(WINDOW, np.float32)
    mel = []
    for _ in range(5):
        started = time.perf_counter()
        transcriber.processor.feature_extractor(window, sampling_rate=16000, return_tensors="pt")
        mel.append(time.perf_counter() - started)
    scan = SpeechScan(video, transcriber)
    started = time.perf_counter()
    windows = len(list(scan))
    total = time.perf_counter() - started
    audio = samples / 16000
    return {
        "audio_seconds": round(audio, 2),
        "windows": windows,
        "lines": len(scan.cues()),
        "seconds": round(total, 3),
        "seconds_per_audio_second": round(total / audio, 5),
        "decode_resample_s_per_audio_s": round(decode_s / audio, 5),
        "log_mel_s_per_window": round(statistics.median(mel), 4),
    }


def architecture_cost(name: str) -> dict[str, Any]:
    """Parameters, encoder s a 30 s window and decoder s a token of a random Whisper of this size."""
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    width, layers, heads = SIZES[name]
    config = WhisperConfig(
        vocab_size=51865,
        d_model=width,
        encoder_layers=layers,
        decoder_layers=layers,
        encoder_attention_heads=heads,
        decoder_attention_heads=heads,
        encoder_ffn_dim=4 * width,
        decoder_ffn_dim=4 * width,
    )
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(config).eval()
    features = torch.randn(1, 80, 3000)
    encoder = []
    with torch.inference_mode():
        for _ in range(3):
            started = time.perf_counter()
            hidden = model.model.encoder(features).last_hidden_state  # [1, 1500, width]
            encoder.append(time.perf_counter() - started)
        tokens, cache, steps = torch.tensor([[50258, 50259, 50359, 50364]]), None, []
        for _ in range(STEPS + 1):
            started = time.perf_counter()
            out = model(encoder_outputs=(hidden,), decoder_input_ids=tokens, cache=cache, use_cache=True)
            cache, tokens = out.cache, out.logits[:, -1:].argmax(-1)
            steps.append(time.perf_counter() - started)
    encoder_s, token_s = min(encoder), statistics.median(steps[1:])  # steps[0]: the prompt
    return {
        "model": f"whisper-{name} (architecture, random weights)",
        "parameters_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 1),
        "encoder_s_per_window": round(encoder_s, 3),
        "decoder_s_per_token": round(token_s, 4),
        "decoder_s_per_window": round(TOKENS_PER_WINDOW * token_s, 3),
    }


def markdown(result: dict[str, Any]) -> str:
    s = result["stream"]
    lines = [
        f"Whisper speech stream, one thread ({result['machine']['cpu']})",
        "",
        "| measured | figure |",
        "| --- | ---: |",
        f"| tests' tiny random Whisper, whole stream: s per audio-s | {s['seconds_per_audio_second']:.4f} |",
        f"| PyAV decode + resample to 16 kHz: s per audio-s | {s['decode_resample_s_per_audio_s']:.5f} |",
        f"| log-mel features: s per 30 s window | {s['log_mel_s_per_window']:.3f} |",
        "",
        f"| architecture | parameters (M) | encoder s / 30 s window | decoder s / token | "
        f"est. s per audio-s ({TOKENS_PER_WINDOW} tokens / window) | est. audio-s per s |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        *(
            f"| {a['model']} | {a['parameters_m']} | {a['encoder_s_per_window']:.2f} | "
            f"{a['decoder_s_per_token']:.4f} | {a['estimated_s_per_audio_second']:.3f} | "
            f"{1 / a['estimated_s_per_audio_second']:.1f} |"
            for a in result["architectures"]
        ),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180.0, help="length of the generated video")
    parser.add_argument("--sizes", default="tiny,base,small", help="Whisper architectures to time")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="kairos-asr-bench-") as name:
        stream = stream_cost(args.seconds, Path(name))
    architectures = []
    for size in args.sizes.split(","):
        cost = architecture_cost(size)
        window_s = (
            stream["log_mel_s_per_window"] + cost["encoder_s_per_window"] + cost["decoder_s_per_window"]
        )
        architectures.append(cost | {"estimated_s_per_audio_second": round(window_s / 30.0, 4)})
    result = {
        "machine": machine(),
        "threads": 1,
        "tokens_per_window_assumed": TOKENS_PER_WINDOW,
        "stream": stream,
        "architectures": architectures,
    }
    write_report(RESULTS / "asr_speed.json", result, markdown(result))


if __name__ == "__main__":
    main()
