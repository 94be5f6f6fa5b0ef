"""Plain functions behind `kairos index`, `delete`, `snapshots` and `gc` (`commands.cli` wires options)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from indexer import snapshot
from indexer.pipeline import IndexOptions, clean_work
from indexer.pipeline import index as run_index
from indexer.streams import DEFAULT_STREAMS, StreamSettings, parse_asr, user_languages
from indexer.streams.asr import speech_settings
from models.pretrained import DEFAULT_MODEL


def index(
    sources: list[str],
    out: Path,
    model: str = DEFAULT_MODEL,
    workers: int = 1,
    features: Path | None = None,
    features_fps: float | None = None,
    progress: bool = True,
    streams: tuple[str, ...] = DEFAULT_STREAMS,
    subtitle_languages: tuple[str, ...] | None = None,
    asr: str | None = None,
) -> dict[str, Any]:
    """Index video SOURCEs (folders, globs, files, `.jsonl` manifests) and/or a features folder into ``out``.

    Returns the report (also stored in the new snapshot's manifest): lists `indexed`, `resumed` (finished
    by an earlier, interrupted run), `reused` (carried over), `skipped` and `failed` (with reasons); `counts`;
    `timings` in seconds (load_model, hash, decode and ocr summed over worker processes, encode, pipeline =
    wall clock of decode + encode, write, publish, total); `throughput`; and `version` (None: nothing
    published). ``streams`` are the text streams read ("subtitles", "ocr", "asr"); ``subtitle_languages``
    (ISO 639-3, in order of preference) choose among embedded subtitle tracks, by default the user's
    languages; ``asr`` ("whisper:<dir-or-hub-id>") is the model that hears speech, needed with "asr".
    """
    languages = user_languages() if subtitle_languages is None else subtitle_languages
    source = parse_asr(asr, streams)
    speech = speech_settings(source) if source is not None else None
    options = IndexOptions(
        workers=workers,
        features=features,
        features_fps=features_fps,
        progress=progress,
        streams=StreamSettings(streams, languages, asr_settings=speech),
    )
    return run_index(out, sources, model, options)


def delete(root: Path, video_ids: list[str]) -> dict[str, Any]:
    """Publish a snapshot without ``video_ids`` (nothing is re-encoded)."""
    info = snapshot.delete(root, video_ids)
    return {"version": info.version, "deleted": sorted(set(video_ids)), "videos": info.manifest.counts.videos}


def list_snapshots(root: Path) -> list[dict[str, Any]]:
    """Published snapshots, oldest first, with their counts, size on disk and whether each is CURRENT."""
    current = snapshot.current_version(root)
    return [
        {
            "version": info.version,
            "current": info.version == current,
            "created_at": info.manifest.created_at,
            "model_hash": info.manifest.model_hash,
            "videos": info.manifest.counts.videos,
            "clips": info.manifest.counts.clips,
            "segments": info.manifest.counts.segments,
            "bytes": sum(p.stat().st_size for p in info.path.iterdir() if p.is_file()),
            "path": str(info.path),
        }
        for info in snapshot.list_snapshots(root)
    ]


def gc(root: Path, keep: int = 2) -> dict[str, Any]:
    """Remove old snapshots (never CURRENT nor the newest ``keep``), stale partials, unused checkpoints."""
    return {"removed": snapshot.gc(root, keep=keep), "work_removed": clean_work(root)}
