"""What the benchmark scripts share: the machine's description, percentiles, JSON output, a real server."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from indexer.synth.plan import SynthConfig, VideoPlan, plan_corpus

RESULTS = Path(__file__).resolve().parent / "results"
# The real TVR annotations beside the repository (../shared/data/tvr), as the benchmark machines have them.
TVR = Path(__file__).resolve().parents[2] / "shared" / "data" / "tvr"
TVR_VAL = TVR / "tvr_val_release.jsonl"
KAIROS = str(Path(sys.executable).with_name("kairos"))


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo, else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(**extra: Any) -> dict[str, Any]:
    """CPU count and model, memory, platform and Python of this machine, then `extra` (versions, threads)."""
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu_name(),
        "memory_gib": round(memory_gib, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
    } | extra


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-quantile (0..1) by nearest rank of unsorted ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


def write_json(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")


def write_report(path: Path, report: dict[str, Any], markdown: str) -> None:
    """``report`` as JSON at ``path`` and ``markdown`` beside it (``.md``), which is also printed."""
    write_json(path, report)
    path.with_suffix(".md").write_text(markdown)
    print(markdown)


def free_port() -> int:
    """A TCP port free on loopback now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout_s: float, process: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until ``url`` answers 200; RuntimeError if ``process`` exits first or the time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer 200 within {timeout_s:.0f} s")


def serve_logged(
    command: list[str], env: dict[str, str], log: Path, port: int, new_session: bool = False
) -> tuple[subprocess.Popen[bytes], str]:
    """Start a server on loopback ``port`` with output to ``log`` (in a session of its own with
    ``new_session``); (process, base URL) once /readyz is 200."""
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=out, start_new_session=new_session)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/readyz", 180, process)
    except RuntimeError as exc:
        process.kill()
        raise RuntimeError(f"kairos serve did not become ready ({exc}): {log.read_text()[-2000:]}") from None
    return process, url


def stop(process: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
    """Terminate ``process``; kill it when it has not exited within ``timeout_s``."""
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def throwaway_redis() -> Iterator[str]:
    """A real `redis-server` on a free loopback port, keeping nothing on disk; yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (Debian package redis-server)")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="kairos-redis-") as folder:
        args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        process = subprocess.Popen([*args, "--dir", folder], stdout=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise RuntimeError("redis-server did not start") from None
                    time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            process.wait(timeout=10)


@contextmanager
def kairos_server(
    root: Path, redis_url: str, env: dict[str, str] | None = None, workers: int = 1
) -> Iterator[tuple[str, int]]:
    """`kairos serve` on ``root`` (a real process on a free loopback port); yields (base URL, pid)."""
    port = free_port()
    environment = os.environ | {
        "KAIROS_REDIS_URL": redis_url,
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_OFFLINE": "1",
    }
    command = [KAIROS, "serve", "--snapshot-root", str(root), "--port", str(port), "--workers", str(workers)]
    process = subprocess.Popen(
        command, env=environment | (env or {}), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/readyz", 300, process)
        yield base, process.pid
    finally:
        stop(process)


def _family(pid: int) -> list[int]:
    """A process and its children."""
    return [pid, *map(int, Path(f"/proc/{pid}/task/{pid}/children").read_text().split())]


def process_memory_mb(pid: int) -> dict[str, float]:
    """VmRSS, VmHWM (peak), RssAnon and RssFile in MB of a process and its children, summed, from /proc; and
    their Pss (proportional set size: a page mapped by both workers counts half in each, so the sum is the
    memory they take together)."""
    fields = {"VmRSS": "rss_mb", "VmHWM": "peak_rss_mb", "RssAnon": "rss_anon_mb", "RssFile": "rss_file_mb"}
    out: dict[str, float] = dict.fromkeys([*fields.values(), "pss_mb"], 0.0)
    for process in _family(pid):
        for line in Path(f"/proc/{process}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in fields:
                out[fields[key]] = round(out[fields[key]] + int(value.split()[0]) / 1024, 1)
        for line in Path(f"/proc/{process}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                out["pss_mb"] = round(out["pss_mb"] + int(line.split()[1]) / 1024, 1)
    return out


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds used so far by a process and its children (from /proc/PID/stat)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for process in _family(pid):
        fields = Path(f"/proc/{process}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / ticks


def checkpoint_args(doc: str | None, out: Path) -> argparse.Namespace:
    """`--checkpoint NAME=DIR ...`, `--corpus` (a `kairos synth` corpus, or None) and `--out`."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", nargs="+", required=True, help="NAME=DIR")
    parser.add_argument("--corpus", type=Path, help="a kairos synth corpus (default: the held-out one)")
    parser.add_argument("--out", type=Path, default=out)
    return parser.parse_args()


def synth_plans(corpus: Path) -> dict[str, VideoPlan]:
    """The generator's plan of each video of a `kairos synth` corpus, by name (config from corpus.json)."""
    config = json.loads((corpus / "corpus.json").read_text())["config"]
    return {plan.vid_name: plan for plan in plan_corpus(SynthConfig(**config))}
