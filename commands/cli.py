"""The `kairos` command line. Heavy imports happen inside each command so `kairos --help` stays fast."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any, NoReturn

import typer

app = typer.Typer(
    help="Kairos: index videos, ask a sentence, get the moments.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
snapshots_app = typer.Typer(help="List, prune, back up and restore snapshots.", no_args_is_help=True)
app.add_typer(snapshots_app, name="snapshots")


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=1)


def _emit(result: Any, as_json: bool, table: str | None = None) -> None:
    """Print `result` as one JSON object (--json) or as `table` / indented JSON for a person."""
    if as_json:
        typer.echo(json.dumps(result, default=str))
    else:
        typer.echo(table if table is not None else json.dumps(result, indent=2, default=str))


@app.callback()
def _main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log at INFO level.")) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


@app.command()
def probe(
    file: Path = typer.Argument(..., help="A video file."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Print what Kairos finds in a video: streams, duration, fps, size, subtitles."""
    from indexer.media import MediaError, probe_video
    from indexer.subtitles import find_sidecar, read_subtitles

    try:
        info = probe_video(file)
        sidecar = find_sidecar(file)
        cues = read_subtitles(sidecar) if sidecar is not None else []
    except MediaError as exc:
        _fail(str(exc))
    report = dataclasses.asdict(info) | {"subtitles": str(sidecar) if sidecar else None, "cues": len(cues)}
    _emit(report, as_json, "\n".join(f"{key:>12}: {value}" for key, value in report.items()))


@app.command()
def synth(
    out: Path = typer.Option(..., "--out", help="Output folder (created)."),
    videos: int = typer.Option(50, "--videos", min=1, help="How many videos (train/val/test)."),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed gives the same corpus."),
    width: int = typer.Option(320, "--width", min=32),
    height: int = typer.Option(240, "--height", min=32),
    min_duration: float = typer.Option(20.0, "--min-duration", min=10.0, help="Seconds."),
    max_duration: float = typer.Option(90.0, "--max-duration", min=10.0, help="Seconds."),
    workers: int = typer.Option(1, "--workers", min=1, help="Processes rendering videos."),
) -> None:
    """Generate a synthetic corpus: videos, subtitles and TVR-format annotations."""
    from indexer.synth import SynthConfig, format_summary, generate_corpus

    config = SynthConfig(
        videos=videos,
        seed=seed,
        width=width,
        height=height,
        min_duration=min_duration,
        max_duration=max_duration,
    )
    typer.echo(format_summary(generate_corpus(out, config, workers=workers)))


@app.command()
def train(
    corpus: Path | None = typer.Option(None, "--corpus", help="A corpus folder (videos/ and subtitles)."),
    features: Path | None = typer.Option(
        None, "--features", help="Instead of --corpus: a folder of precomputed [T, D] arrays."
    ),
    features_fps: float | None = typer.Option(
        None, "--features-fps", help="Rate of those arrays (default: the model's fps)."
    ),
    annotations: Path = typer.Option(..., "--annotations", help="TVR or QVHighlights jsonl."),
    out: Path | None = typer.Option(None, "--out", help="Checkpoint folder to write."),
    model: str = typer.Option("kairos-small", "--model", help="A registered architecture."),
    val_annotations: Path | None = typer.Option(None, "--val-annotations", help="Validation jsonl."),
    epochs: int | None = typer.Option(None, "--epochs", min=1),
    batch: int | None = typer.Option(None, "--batch", min=1, help="Videos per step."),
    lr: float | None = typer.Option(None, "--lr"),
    seed: int = typer.Option(0, "--seed"),
    resume: Path | None = typer.Option(None, "--resume", help="Continue from a checkpoint's `last` folder."),
    vsm: bool = typer.Option(True, "--vsm/--no-vsm", help="Subtitle lines as pseudo-queries (HERO VSM)."),
    mfm: bool = typer.Option(True, "--mfm/--no-mfm", help="Masked frame modelling (MFM-NCE)."),
    freeze_visual_after: int | None = typer.Option(
        None,
        "--freeze-visual-after",
        min=0,
        help="Epochs of end-to-end training before frame features are fixed.",
    ),
    visual_pretrain_epochs: int | None = typer.Option(
        None,
        "--visual-pretrain-epochs",
        min=0,
        help="Epochs of clip-text contrastive warm-up of the visual backbone before training.",
    ),
    cache: Path | None = typer.Option(None, "--cache", help="Where decoded frames and text features go."),
    device: str = typer.Option("cpu", "--device"),
    eval_only: bool = typer.Option(False, "--eval-only", help="Only evaluate --checkpoint."),
    checkpoint: Path | None = typer.Option(None, "--checkpoint", help="With --eval-only."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Train a model on a corpus or a features folder (or evaluate a checkpoint with --eval-only)."""
    from commands import train as train_command
    from indexer.dataset import FeatureSource
    from models.checkpoint import CheckpointError

    source: Path | FeatureSource
    if features is not None and corpus is None:
        source = FeatureSource(features, features_fps)
    elif corpus is not None and features is None:
        source = corpus
    else:
        _fail("give one of --corpus DIR and --features DIR")
    try:
        if eval_only:
            if checkpoint is None:
                _fail("--eval-only needs --checkpoint DIR")
            result = train_command.evaluate(checkpoint, source, annotations, cache=cache, device=device)
        else:
            if out is None:
                _fail("training needs --out DIR")
            result = train_command.train(
                source,
                annotations,
                out,
                model=model,
                val_annotations=val_annotations,
                epochs=epochs,
                batch=batch,
                lr=lr,
                seed=seed,
                resume=resume,
                vsm=vsm,
                mfm=mfm,
                freeze_visual_after=freeze_visual_after,
                visual_pretrain_epochs=visual_pretrain_epochs,
                cache=cache,
                device=device,
                progress=not as_json,
            )
    except (CheckpointError, FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    _emit(result, as_json)


@app.command()
def index(
    sources: list[str] = typer.Argument(None, help="Folders, globs, video files or .jsonl manifests."),
    out: Path = typer.Option(..., "--out", help="Snapshot root."),
    model: str = typer.Option(
        "kairos-real",
        "--model",
        help="A model name or checkpoint folder (kairos-small for synthetic corpora).",
    ),
    workers: int = typer.Option(1, "--workers", min=1, help="Decoding processes."),
    features: Path | None = typer.Option(None, "--features", help="A folder of precomputed [T, D] arrays."),
    features_fps: float | None = typer.Option(None, "--features-fps", help="Rate of those arrays."),
    streams: str = typer.Option(
        "subtitles",
        "--streams",
        help="Text streams to read, comma-separated: subtitles (a sidecar file, else an embedded track), "
        "ocr (on-screen text), asr (speech; needs --asr).",
    ),
    asr: str | None = typer.Option(
        None,
        "--asr",
        help="The speech model of the asr stream: whisper:DIR (a Whisper folder saved by transformers) or "
        "whisper:HUB-ID (e.g. openai/whisper-tiny; downloaded and cached where a network exists).",
    ),
    subtitle_languages: str | None = typer.Option(
        None,
        "--subtitle-languages",
        help="Preferred languages among embedded subtitle tracks, in order (e.g. en,fr); default: $LANGUAGE "
        "or the locale. A track in none of them: the first.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as one JSON object."),
) -> None:
    """Index videos into a new snapshot; unchanged videos are carried over, not re-encoded."""
    from commands import index as index_command
    from indexer.features import FeatureError
    from indexer.pipeline import IndexingError
    from indexer.snapshot import SnapshotError
    from indexer.sources import SourceError
    from indexer.streams import StreamSettingsError, parse_languages, parse_streams
    from models.config import ModelError

    if not sources and features is None:
        _fail("give at least one SOURCE or --features DIR")
    try:
        languages = parse_languages(subtitle_languages) if subtitle_languages is not None else None
        report = index_command.index(
            list(sources or []),
            out,
            model,
            workers,
            features,
            features_fps,
            progress=not as_json,
            streams=parse_streams(streams),
            subtitle_languages=languages,
            asr=asr,
        )
    except (IndexingError, SnapshotError, SourceError, FeatureError, ModelError, StreamSettingsError) as exc:
        _fail(str(exc))
    _emit(report, as_json)


@app.command()
def delete(
    video_ids: list[str] = typer.Argument(..., help="Video ids to remove."),
    root: Path = typer.Option(..., "--root", help="Snapshot root."),
) -> None:
    """Publish a snapshot without these videos."""
    from commands import index as index_command
    from indexer.snapshot import SnapshotError

    try:
        _emit(index_command.delete(root, video_ids), as_json=False)
    except SnapshotError as exc:
        _fail(str(exc))


@snapshots_app.command("list")
def snapshots_list(
    root: Path = typer.Option(..., "--root", help="Snapshot root."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List published snapshots, newest last; the current one is marked."""
    from commands import index as index_command
    from indexer.snapshot import SnapshotError

    try:
        rows = index_command.list_snapshots(root)
    except SnapshotError as exc:
        _fail(str(exc))
    _emit(rows, as_json)


@snapshots_app.command("gc")
def snapshots_gc(
    root: Path = typer.Option(..., "--root", help="Snapshot root."),
    keep: int = typer.Option(2, "--keep", min=1, help="Newest snapshots to keep (CURRENT is always kept)."),
) -> None:
    """Delete old snapshots and stale partial writes."""
    from commands import index as index_command
    from indexer.snapshot import SnapshotError

    try:
        _emit(index_command.gc(root, keep), as_json=False)
    except (SnapshotError, OSError) as exc:
        _fail(str(exc))


@snapshots_app.command("export")
def snapshots_export(
    version: str = typer.Argument(..., help="A version from `kairos snapshots list`, or `current`."),
    file: Path = typer.Argument(..., help="The backup to write (a tar file)."),
    root: Path = typer.Option(..., "--root", help="Snapshot root."),
) -> None:
    """Write one snapshot to a tar file with a SHA-256 of every file in it."""
    from indexer.snapshot import SnapshotError
    from indexer.snapshot.archive import export_snapshot

    try:
        typer.echo(f"wrote {export_snapshot(root, version, file)}")
    except SnapshotError as exc:
        _fail(str(exc))


@snapshots_app.command("import")
def snapshots_import(
    file: Path = typer.Argument(..., help="A backup written by `kairos snapshots export`."),
    root: Path = typer.Option(..., "--root", help="Snapshot root."),
) -> None:
    """Verify every file of a backup, then publish it as CURRENT (its version must be new to the root)."""
    from indexer.snapshot import SnapshotError
    from indexer.snapshot.archive import import_snapshot

    try:
        info = import_snapshot(root, file)
    except SnapshotError as exc:
        _fail(str(exc))
    typer.echo(f"imported {info.version} ({info.manifest.counts.videos} videos); CURRENT is {info.version}")


@app.command("eval")
def evaluate(
    snapshot: Path = typer.Option(..., "--snapshot", help="Snapshot root or folder."),
    queries: Path = typer.Option(..., "--queries", help="TVR or QVHighlights jsonl with ground truth."),
    out: Path | None = typer.Option(None, "--out", help="Write the TVR prediction file here."),
    model: str | None = typer.Option(None, "--model", help="Model name or folder (default: the service's)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object keyed as TVR's evaluator."),
) -> None:
    """VCMR, SVMR and VR through the search pipeline, scored exactly as TVR's official evaluator."""
    from commands.evaluate import EvalError
    from commands.evaluate import evaluate as run
    from commands.evaluation import format_table

    try:
        result = run(snapshot, queries, out, model)
    except EvalError as exc:
        _fail(str(exc))
    _emit(result, as_json, format_table(result))


@app.command()
def serve(
    snapshot_root: Path | None = typer.Option(None, "--snapshot-root", help="Default: KAIROS_SNAPSHOT_ROOT."),
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port"),
    workers: int = typer.Option(1, "--workers", min=1, max=64, help="Server processes (e.g. one per core)."),
    insecure_no_auth: bool = typer.Option(
        False, "--insecure-no-auth", help="Listen beyond loopback with no KAIROS_API_KEY (writes open)."
    ),
) -> None:
    """Serve the HTTP API and the web page (Redis from KAIROS_REDIS_URL)."""
    from service.app import ExposureError
    from service.app import serve as run
    from service.settings import Settings

    overrides: dict[str, Any] = {"snapshot_root": snapshot_root} if snapshot_root is not None else {}
    if insecure_no_auth:
        overrides["insecure_no_auth"] = True
    try:
        run(Settings(**overrides), host=host, port=port, workers=workers)
    except ExposureError as exc:
        _fail(str(exc))


@app.command()
def worker(burst: bool = typer.Option(False, "--burst", help="Stop when the queue is empty.")) -> None:
    """Run indexing jobs from the Redis queue."""
    from service.jobs import run_worker
    from service.settings import Settings

    run_worker(Settings(), burst=burst)


@app.command()
def demo(
    root: Path = typer.Option(Path("demo"), "--root", help="Where the demo corpus and index go."),
    videos: int = typer.Option(12, "--videos", min=1),
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port"),
    serve_api: bool = typer.Option(True, "--serve/--no-serve", help="Serve after indexing."),
) -> None:
    """Run Kairos on its embedded defaults: generate a corpus, index it with the bundled model, serve it."""
    from commands.demo import DEMO_MODEL, example_queries, generate, index_demo
    from indexer.synth import format_summary

    typer.echo(format_summary(generate(root, videos)))
    report = index_demo(root)
    typer.echo(f"indexed {len(report.get('indexed', []))}, reused {len(report.get('reused', []))} videos")
    typer.echo(f"\nKairos at http://{host}:{port}/  — try:")
    for row in example_queries(root / "corpus"):
        body = json.dumps({"query": row["desc"], "limit": 3})
        typer.echo(
            f"  curl -s -H 'content-type: application/json' -d '{body}' http://{host}:{port}/v1/search"
        )
    if serve_api:
        from service.app import ExposureError
        from service.app import serve as run
        from service.settings import Settings

        try:
            run(Settings(snapshot_root=root / "index", model=DEMO_MODEL), host=host, port=port)
        except ExposureError as exc:
            _fail(str(exc))


if __name__ == "__main__":
    app()
