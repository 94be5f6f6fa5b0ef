"""The `kairos` command line. Heavy imports happen inside each command so `kairos --help` stays fast."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import typer

app = typer.Typer(
    help="Kairos: index videos, ask a sentence, get the moments.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=1)


@app.command()
def probe(
    file: Path = typer.Argument(..., help="A video file."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Print what Kairos finds in a video: streams, duration, fps, size, subtitles, clips."""
    from indexer.media import MediaError, probe_video
    from indexer.subtitles import find_sidecar, read_subtitles

    try:
        info = probe_video(file)
        sidecar = find_sidecar(file)
        cues = read_subtitles(sidecar) if sidecar is not None else []
    except MediaError as exc:
        _fail(str(exc))
        return
    report = dataclasses.asdict(info) | {
        "subtitles": str(sidecar) if sidecar else None,
        "cues": len(cues),
    }
    if as_json:
        typer.echo(json.dumps(report, default=str))
        return
    for key, value in report.items():
        typer.echo(f"{key:>12}: {value}")


@app.command()
def synth(
    out: Path = typer.Option(..., "--out", help="Output folder (created)."),
    videos: int = typer.Option(50, "--videos", min=1, help="How many videos."),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed gives the same corpus."),
    width: int = typer.Option(320, "--width", min=32),
    height: int = typer.Option(240, "--height", min=32),
    workers: int = typer.Option(1, "--workers", min=1, help="Processes rendering videos."),
) -> None:
    """Generate a synthetic corpus: videos, subtitles and TVR-format annotations."""
    from indexer.synth import SynthConfig, format_summary, generate_corpus

    summary = generate_corpus(
        out, SynthConfig(videos=videos, seed=seed, width=width, height=height), workers=workers
    )
    typer.echo(format_summary(summary))


@app.command()
def demo(
    root: Path = typer.Option(Path("demo"), "--root", help="Where the demo corpus goes."),
    videos: int = typer.Option(12, "--videos", min=1),
) -> None:
    """Run Kairos on its embedded defaults: generate a demo corpus and summarise it."""
    from indexer.synth import SynthConfig, format_summary, generate_corpus

    summary = generate_corpus(root / "corpus", SynthConfig(videos=videos, seed=2026))
    typer.echo(format_summary(summary))


if __name__ == "__main__":
    app()
