"""Fault scenarios of issue 7, run against real parts (processes, Redis, files), each outcome asserted.

python benchmarks/faults.py [--only redis_outage,publish_under_load,...] [--videos 8] [--kills 7]
Generates and indexes a synthetic corpus in a temporary folder, then runs:
  redis_outage        Redis (a throwaway server) stopped under 16 searching clients, then restarted
  publish_under_load  snapshots published while 16 clients search and list videos
  kill_indexer        `kairos index` SIGKILLed at decode, encode, snapshot write, publish and random points
  readonly_root       `kairos index` into a read-only snapshot root while the server serves it
  disk_full           a publish, then a whole `kairos index`, on a full file system (a small tmpfs)
  worker_killed       an rq worker's work-horse, then the whole `kairos worker`, SIGKILLed during a job
  schemathesis        the schemathesis suite (all endpoints) with enough examples for >= 1,000 cases
Writes benchmarks/results/faults.json and faults.md; exits 1 when a scenario's assertion fails.
The pytest suite (tests/*/test_faults_*.py) runs the cheaper ones with smaller numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faiss
import httpx
import numpy as np

if not __package__:  # run as `python benchmarks/x.py`: import from the repository root, as `-m benchmarks.x`
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.common import KAIROS, RESULTS, free_port, serve_logged, stop
from indexer.snapshot import delete, open_snapshot
from indexer.snapshot.layout import CURRENT, PARTIAL_SUFFIX, published_versions, read_current, tmp_dir
from indexer.snapshot.manifest import SEGMENT_INDEX, VIDEO_INDEX

MODEL = "kairos-tiny"
QUERIES = [
    "a red circle moves to the left",
    "a blue square spins",
    "the green triangle grows",
    "a yellow star jumps",
    "the screen turns dark",
    "a purple ball bounces",
]


class FaultFailed(AssertionError):
    """A scenario's outcome was not the one required."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise FaultFailed(message)


def base_env() -> dict[str, str]:
    return os.environ | {"OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}


def wait_until(condition: Callable[[], bool], seconds: float, what: str, step: float = 0.05) -> float:
    """Poll until ``condition()``; the seconds it took. FaultFailed after ``seconds``."""
    started = time.monotonic()
    while not condition():
        check(time.monotonic() - started < seconds, f"timed out after {seconds:.0f} s waiting for {what}")
        time.sleep(step)
    return time.monotonic() - started


def session_pids(sid: int) -> list[int]:
    """Live processes of a session (a process started with start_new_session and all it forked)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[3]) == sid:
            found.append(int(entry.name))
    return found


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def kill_session(sid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(sid, signal.SIGKILL)


# ---------------------------------------------------------------- real parts: Redis, the server, load


class RedisServer:
    """A throwaway `redis-server` on a free port (never the machine's shared one), restartable on it."""

    def __init__(self, folder: Path) -> None:
        if shutil.which("redis-server") is None:
            raise FileNotFoundError("redis-server is not installed")
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        """Start it unless it runs (`with RedisServer(...).start()` must not start a second, leaked one)."""
        if self.process is not None and self.process.poll() is None:
            return self
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "no", "--dir", str(self.folder)]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        wait_until(self.answers, 10, f"redis-server on port {self.port}")
        return self

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def serving(root: Path, redis_url: str, log: Path, **settings: str) -> Iterator[str]:
    """`kairos serve` (a real process) over ``root``; yields its URL once /readyz answers."""
    port = free_port()
    env = base_env() | {
        "KAIROS_SNAPSHOT_ROOT": str(root),
        "KAIROS_MODEL": MODEL,
        "KAIROS_REDIS_URL": redis_url,
    }
    env |= {f"KAIROS_{k.upper()}": v for k, v in settings.items()}
    command = [KAIROS, "serve", "--host", "127.0.0.1", "--port", str(port)]
    process, url = serve_logged(command, env, log, port, new_session=True)
    try:
        yield url
    finally:
        stop(process, timeout_s=20)
        kill_session(process.pid)


@dataclass
class Record:
    """One request of a load run: when, what, and what came back (or the transport error)."""

    started: float
    ended: float
    kind: str
    status: int | None
    error: str | None = None
    snapshot: str | None = None
    cached: bool | None = None
    videos: list[str] = field(default_factory=list)


Request = tuple[str, str, str, dict[str, Any] | None]  # kind, method, path, json body


class LoadRun:
    """``clients`` async clients sending requests from ``pick`` until stopped, in a thread of their own."""

    def __init__(self, url: str, clients: int, pick: Callable[[random.Random], Request]) -> None:
        self.url = url
        self.clients = clients
        self.pick = pick
        self.records: list[Record] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def __enter__(self) -> LoadRun:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=120)

    async def _run(self) -> None:
        limits = httpx.Limits(max_connections=self.clients, max_keepalive_connections=self.clients)
        async with httpx.AsyncClient(base_url=self.url, timeout=30, limits=limits) as session:
            await asyncio.gather(*(self._client(session, random.Random(k)) for k in range(self.clients)))

    async def _client(self, session: httpx.AsyncClient, rng: random.Random) -> None:
        while not self._stop.is_set():
            kind, method, path, body = self.pick(rng)
            started = time.monotonic()
            try:
                response = await session.request(method, path, json=body)
            except httpx.HTTPError as exc:
                self.records.append(Record(started, time.monotonic(), kind, None, type(exc).__name__))
                await asyncio.sleep(0.01)
                continue
            record = Record(started, time.monotonic(), kind, response.status_code)
            if response.status_code == 200:
                data = response.json()
                record.snapshot, record.cached = data.get("snapshot"), data.get("cached")
                items = data.get("moments") or data.get("videos") or []
                record.videos = [item["video_id"] for item in items]
            self.records.append(record)


def tally(records: list[Record]) -> dict[str, Any]:
    """Counts and latency of a list of records."""
    statuses: dict[str, int] = {}
    for r in records:
        key = str(r.status) if r.status is not None else f"error:{r.error}"
        statuses[key] = statuses.get(key, 0) + 1
    ms = sorted((r.ended - r.started) * 1000 for r in records if r.status is not None)
    p = lambda q: round(ms[min(len(ms) - 1, int(q * len(ms)))], 1) if ms else None  # noqa: E731
    return {"requests": len(records), "statuses": statuses, "p50_ms": p(0.5), "p99_ms": p(0.99)}


def search_mix(rng: random.Random) -> Request:
    """Searches over a few repeated queries (so the cache has something to hit)."""
    return "search", "POST", "/v1/search", {"query": rng.choice(QUERIES), "limit": 5}


# ---------------------------------------------------------------- snapshot checks


def verify_snapshot(root: Path, allowed: list[set[str]]) -> dict[str, Any]:
    """CURRENT opens, is complete (every video's vectors, SQLite rows, FAISS ntotal agree) and holds exactly
    one of the ``allowed`` video sets, none duplicated; its version and ids."""
    with open_snapshot(root) as snap:
        ids = list(snap.video_ids)
        check(len(ids) == len(set(ids)), f"{snap.version}: duplicated videos {ids}")
        check(
            set(ids) in allowed, f"{snap.version}: videos {sorted(ids)} are neither the old nor the new set"
        )
        m = snap.manifest
        rows = snap.videos()
        check(m.counts.videos == len(rows) == len(ids), f"{snap.version}: video counts disagree")
        check(sum(r.n_clips for r in rows) == m.counts.clips, f"{snap.version}: clip counts disagree")
        check(
            sum(r.n_segments for r in rows) == m.counts.segments, f"{snap.version}: segment counts disagree"
        )
        for row in rows:
            record = snap.record(row.video_id)
            check(record.clips.shape == (row.n_clips, m.dim), f"{row.video_id}: clip vectors missing")
            check(record.segments.shape[0] == row.n_segments, f"{row.video_id}: segment vectors missing")
            norms = np.linalg.norm(record.clips.astype(np.float32), axis=1)
            check(
                bool(np.all(np.abs(norms - 1) < 0.01)), f"{row.video_id}: clip vectors are not unit vectors"
            )
        for name, expected in ((SEGMENT_INDEX, m.counts.segments), (VIDEO_INDEX, m.counts.videos)):
            ntotal = faiss.read_index(str(snap.path / name)).ntotal
            check(ntotal == expected, f"{snap.version}: {name} holds {ntotal} vectors, expected {expected}")
        return {"version": snap.version, "videos": len(ids)}


# ---------------------------------------------------------------- scenarios


def redis_outage(root: Path, work: Path, clients: int = 16, phase_s: float = 6.0) -> dict[str, Any]:
    """Redis stopped under load and restarted: all answered, uncached while down, cached after, degraded."""
    redis = RedisServer(work).start()
    try:
        with (
            serving(root, redis.url, work / "serve.log", redis_retry_s="0.5") as url,
            LoadRun(url, clients, search_mix) as load,
        ):
            time.sleep(phase_s)
            check(httpx.get(f"{url}/readyz").json()["status"] == "ready", "not ready before the outage")
            redis.stop()
            down_at = time.monotonic()
            degraded_after = wait_until(
                lambda: httpx.get(f"{url}/readyz").json()["status"] == "degraded", 10, "/readyz degraded"
            )
            time.sleep(phase_s)
            # Redis is down until start() is called; once start() returns it has been answering for a while
            # (an answer then may already be a cached one), so the outage window ends here
            up_at = time.monotonic()
            redis.start()
            wait_until(lambda: httpx.get(f"{url}/readyz").json()["status"] == "ready", 10, "/readyz ready")
            ready_at = time.monotonic()
            time.sleep(phase_s)
    finally:
        redis.stop()
    records = load.records
    before = [r for r in records if r.ended < down_at]
    down = [r for r in records if r.started > down_at + 0.5 and r.ended < up_at]
    after = [r for r in records if r.started > ready_at + 0.5]
    failed = [r for r in records if r.status != 200]
    check(not failed, f"{len(failed)} requests failed: {tally(failed)['statuses']}")
    check(any(r.cached for r in before), "the cache was never used before the outage")
    during = [r for r in records if r.started < up_at and r.ended > down_at]
    check(
        bool(down),
        f"no request started and ended while Redis was down ({up_at - down_at:.2f} s; "
        f"overlapping it: {tally(during)})",
    )
    check(not any(r.cached for r in down), "answers while Redis was down came from a cache")
    check(any(r.cached for r in after), "the cache was not used again after Redis came back")
    return {
        "clients": clients,
        "phase_s": phase_s,
        "readyz_degraded_after_s": round(degraded_after, 2),
        "before": tally(before) | {"cached": sum(bool(r.cached) for r in before)},
        "down": tally(down) | {"cached": sum(bool(r.cached) for r in down)},
        "after": tally(after) | {"cached": sum(bool(r.cached) for r in after)},
        "failed": len(failed),
    }


def publish_under_load(
    root: Path, work: Path, redis_url: str, clients: int = 16, publishes: int = 3, gap_s: float = 2.0
) -> dict[str, Any]:
    """Snapshots published (videos deleted) while clients search and list: each answer is one version's."""
    with open_snapshot(root) as snap:
        versions = {snap.version: set(snap.video_ids)}
        order = list(snap.video_ids)
    check(len(order) > publishes, f"need more than {publishes} videos to delete one per publish")

    def pick(rng: random.Random) -> Request:
        if rng.random() < 0.8:
            body = {"query": rng.choice(QUERIES), "limit": 100, "top_k_videos": 1000}
            return "search", "POST", "/v1/search", body
        return "list", "GET", "/v1/videos?limit=1000", None

    with (
        serving(root, redis_url, work / "serve.log", reload_interval_s="0.2") as url,
        LoadRun(url, clients, pick) as load,
    ):
        for victim in order[:publishes]:
            time.sleep(gap_s)
            info = delete(root, [victim])
            versions[info.version] = set(versions[max(versions)]) - {victim}
        last = max(versions)
        wait_until(lambda: httpx.get(f"{url}/readyz").json()["snapshot"] == last, 10, "the last snapshot")
        time.sleep(gap_s)
    records = load.records
    failed = [r for r in records if r.status != 200]
    check(not failed, f"{len(failed)} requests failed: {tally(failed)['statuses']}")
    mixed = []
    for r in records:
        check(r.snapshot in versions, f"an answer names snapshot {r.snapshot}, which was never published")
        held = versions[r.snapshot or ""]
        if not set(r.videos) <= held or (r.kind == "list" and set(r.videos) != held):
            mixed.append(r)
    check(not mixed, f"{len(mixed)} answers mix snapshots (videos not in the version they name)")
    seen = {r.snapshot for r in records}
    check(seen == set(versions), f"answers saw {len(seen)} of {len(versions)} versions")
    return {
        "clients": clients,
        "publishes": publishes,
        "versions_seen": len(seen),
        "load": tally(records),
        "inconsistent": len(mixed),
    }


@dataclass(frozen=True)
class KillPoint:
    """When to SIGKILL `kairos index`: the first moment ``reached(state)`` holds, plus a random delay."""

    name: str
    reached: Callable[[dict[str, Any]], bool]
    jitter_s: float = 0.0


def index_state(root: Path, pid: int, base: str | None) -> dict[str, Any]:
    """What an indexing run has done so far, read from outside (processes and files only)."""
    partials = [p for p in tmp_dir(root).glob(f"*{PARTIAL_SUFFIX}")] if tmp_dir(root).is_dir() else []
    names = {n.name for p in partials for n in p.iterdir()} if partials else set()
    current = None
    with contextlib.suppress(OSError):
        current = (root / CURRENT).read_text().strip()
    return {
        "decoders": bool(children(pid)),
        "checkpoints": len(list((root / "work").glob("*/*.npz"))),
        "partial": bool(partials),
        "indexes": SEGMENT_INDEX in names,
        "renamed": len(published_versions(root)),
        "current": current,
        "base": base,
    }


def phase(state: dict[str, Any], published: int) -> str:
    """The stage a run was in, judged from its state."""
    if state["current"] != state["base"]:
        return "after publish"
    if state["renamed"] > published:
        return "publish (renamed, CURRENT not yet moved)"
    if state["indexes"]:
        return "publish (building/saving FAISS)"
    if state["partial"]:
        return "snapshot write"
    if state["checkpoints"]:
        return f"encode ({state['checkpoints']} videos checkpointed)"
    return "decode" if state["decoders"] else "start-up (model load)"


def kill_points(new: int, rng: random.Random, full_s: Callable[[], float], kills: int) -> list[KillPoint]:
    """The first ``kills`` of: decode, encode (early, late), snapshot write, publish, then random times
    within ``full_s()`` (an uninterrupted run's seconds, measured only when random points are asked for)."""
    points = [
        KillPoint("decode", lambda s: s["decoders"], 0.3),
        KillPoint("encode", lambda s: s["checkpoints"] >= 1),
        KillPoint("encode-late", lambda s: s["checkpoints"] >= max(1, new - 1)),
        KillPoint("snapshot write", lambda s: s["partial"]),
        KillPoint("publish", lambda s: s["indexes"]),
    ]
    randoms = max(0, kills - len(points))
    span = full_s() if randoms else 0.0
    return (
        points + [KillPoint(f"random {k}", lambda s: True, rng.uniform(0, span)) for k in range(randoms)]
    )[:kills]


def run_index(sources: list[str], root: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [KAIROS, "index", *sources, "--out", str(root), "--model", MODEL, "--json"],
            env=base_env(),
            stdout=out,
            stderr=out,
            start_new_session=True,
        )


def kill_indexer(
    base_root: Path,
    videos: list[Path],
    work: Path,
    kills: int = 7,
    seed: int = 5,
    leftover_s: float = 15.0,
    only: set[str] | None = None,
) -> dict[str, Any]:
    """`kairos index` of ``videos`` into copies of ``base_root`` (a snapshot of some of them) SIGKILLed at
    several points; CURRENT is always the old or new complete snapshot, the next run completes, every video
    once. ``only`` keeps the kill points of those names."""
    rng = random.Random(seed)
    new_ids = {v.stem for v in videos}
    with open_snapshot(base_root) as snap:
        old_ids, base_version = set(snap.video_ids), snap.version
    check(old_ids < new_ids, "the base snapshot must hold some, not all, of the videos")
    published = len(published_versions(base_root))
    timings: list[float] = []

    def full_s() -> float:
        """Seconds of an uninterrupted run (on a copy of the base)."""
        timing_root = work / "timing"
        shutil.copytree(base_root, timing_root)
        started = time.monotonic()
        finished = run_index([str(v) for v in videos], timing_root, work / "timing.log").wait() == 0
        check(finished, "an uninterrupted run failed")
        timings.append(time.monotonic() - started)
        return timings[-1]

    runs: list[dict[str, Any]] = []
    points = kill_points(len(new_ids - old_ids), rng, full_s, kills)
    for point in [p for p in points if only is None or p.name in only]:
        root = work / f"kill-{len(runs)}"
        shutil.copytree(base_root, root)
        process = run_index([str(v) for v in videos], root, work / f"kill-{len(runs)}.log")
        state: dict[str, Any] = {}
        while process.poll() is None:
            state = index_state(root, process.pid, base_version)
            if point.reached(state):
                break
            time.sleep(0.0005)
        if point.jitter_s and process.poll() is None:
            time.sleep(rng.uniform(0, point.jitter_s))
            state = index_state(root, process.pid, base_version)
        landed = process.poll() is None
        if landed:
            process.send_signal(signal.SIGKILL)
        process.wait()
        where = phase(state, published) if landed else "missed (the run had finished)"
        sid = process.pid
        with contextlib.suppress(FaultFailed):
            wait_until(lambda: not session_pids(sid), leftover_s, "decoders to exit")  # noqa: B023
        leftovers = session_pids(sid)
        kill_session(process.pid)
        after_kill = verify_snapshot(root, [old_ids, new_ids])
        resume = run_index([str(v) for v in videos], root, work / f"resume-{len(runs)}.log")
        check(resume.wait() == 0, f"the run after the kill at {point.name} failed")
        report = json.loads((work / f"resume-{len(runs)}.log").read_text().strip().splitlines()[-1])
        final = verify_snapshot(root, [new_ids])
        runs.append(
            {
                "point": point.name,
                "killed_during": where,
                "after_kill": "old" if after_kill["version"] == base_version else "new",
                "leftover_processes": len(leftovers),
                "next_run": {k: report["counts"][k] for k in ("indexed", "resumed", "reused", "failed")},
                "final_videos": final["videos"],
            }
        )
        check(not leftovers, f"kill at {point.name}: {len(leftovers)} processes of the killed run remain")
    landed_runs = [r for r in runs if not r["killed_during"].startswith("missed")]
    check(len(landed_runs) >= min(5, len(runs)), f"only {len(landed_runs)} kills landed before the run ended")
    return {
        "videos": len(videos),
        "old": len(old_ids),
        "full_run_s": timings[0] if timings else None,
        "kills": runs,
    }


def readonly_root(root: Path, videos: list[Path], work: Path, redis_url: str) -> dict[str, Any]:
    """`kairos index` into a read-only snapshot root: a clear error, the old snapshot still served."""
    version = read_current(root)
    with read_only(root), serving(root, redis_url, work / "serve.log") as url:
        result = subprocess.run(
            [KAIROS, "index", *map(str, videos), "--out", str(root), "--model", MODEL, "--json"],
            env=base_env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        served = httpx.get(f"{url}/readyz").json()["snapshot"]
        search = httpx.post(f"{url}/v1/search", json={"query": QUERIES[0]}, timeout=30)
    message = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ""
    check(result.returncode == 1, f"kairos index exited {result.returncode}: {result.stderr[-1000:]}")
    check("Traceback" not in result.stderr and "not writable" in message, f"unclear error: {message!r}")
    check(served == version and search.status_code == 200, "the old snapshot is no longer served")
    check(read_current(root) == version, "CURRENT moved")
    return {"exit_code": result.returncode, "message": message, "served": served == version}


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """``path`` read-only: a read-only bind mount as root (root ignores file modes), else chmod."""
    if os.geteuid() == 0:
        subprocess.run(["mount", "--bind", str(path), str(path)], check=True)
        try:
            subprocess.run(["mount", "-o", "remount,bind,ro", str(path)], check=True)
            yield
        finally:
            subprocess.run(["umount", str(path)], check=True)
        return
    modes = {p: p.stat().st_mode for p in [path, *path.rglob("*")] if not p.is_symlink()}
    for p, mode in modes.items():
        p.chmod(mode & ~0o222)
    try:
        yield
    finally:
        for p, mode in modes.items():
            p.chmod(mode)


@contextlib.contextmanager
def small_disk(path: Path, size_bytes: int) -> Iterator[Path]:
    """A tmpfs of ``size_bytes`` mounted at ``path`` (needs root and `mount`)."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_bytes}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def can_mount() -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    with tempfile.TemporaryDirectory() as tmp:
        try:
            with small_disk(Path(tmp) / "m", 1 << 20):
                return True
        except (subprocess.CalledProcessError, OSError):
            return False


def fill(folder: Path, leave: int = 0) -> Path:
    """Write a filler file until the file system is full (less ``leave`` bytes); the filler's path."""
    filler = folder / "filler"
    stat = os.statvfs(folder)
    free = stat.f_bavail * stat.f_frsize - leave
    with open(filler, "wb") as out, contextlib.suppress(OSError):
        while free > 0:
            n = min(free, 1 << 20)
            out.write(b"\0" * n)
            free -= n
        out.flush()
    return filler


def publish_on_full_disk(root: Path) -> str:
    """Carry every video of ``root`` into a new snapshot, fill the disk, publish: the error message; CURRENT,
    the published snapshots and tmp/ as they were."""
    from indexer.snapshot import SnapshotError, SnapshotWriter

    version = read_current(root)
    with open_snapshot(root) as snap, SnapshotWriter.like(root, snap) as writer:
        ids = set(snap.video_ids)
        writer.carry(snap)
        filler = fill(root)
        try:
            writer.publish()
            raise FaultFailed("a publish on a full disk succeeded")
        except SnapshotError as exc:
            error = str(exc)
        finally:
            filler.unlink()
    check("no space left on device" in error, f"unclear error: {error}")
    check(read_current(root) == version, "CURRENT moved")
    check(not list(tmp_dir(root).glob(f"*{PARTIAL_SUFFIX}")), "a partial snapshot was left behind")
    verify_snapshot(root, [ids])
    return error


def disk_size(root: Path) -> int:
    """A tmpfs size holding ``root`` twice over, plus 4 MB, in whole pages."""
    used = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    return (used * 2 + (4 << 20)) // 4096 * 4096


def full_publish(root: Path, work: Path) -> dict[str, Any]:
    """A publish on a full disk (a small tmpfs holding a copy of ``root``): a clear error, nothing changed."""
    with small_disk(work / "disk", disk_size(root)) as disk:
        small = Path(shutil.copytree(root, disk / "index", ignore=shutil.ignore_patterns("work")))
        return {"publish_error": publish_on_full_disk(small)}


def disk_full(root: Path, videos: list[Path], work: Path, redis_url: str) -> dict[str, Any]:
    """A full disk during a publish, then during a whole `kairos index`, while `kairos serve` serves the root:
    clear errors, the old snapshot still served, and the next run once space is freed completes."""
    with small_disk(work / "disk", disk_size(root)) as disk:
        small = Path(shutil.copytree(root, disk / "index", ignore=shutil.ignore_patterns("work")))
        version = read_current(small)
        with open_snapshot(small) as snap:
            old_ids = set(snap.video_ids)
        with serving(small, redis_url, work / "serve.log") as url:
            publish_error = publish_on_full_disk(small)
            filler = fill(disk, leave=64 << 10)
            result = subprocess.run(
                [KAIROS, "index", *map(str, videos), "--out", str(small), "--model", MODEL, "--json"],
                env=base_env(),
                capture_output=True,
                text=True,
                timeout=300,
            )
            served = httpx.get(f"{url}/readyz").json()["snapshot"]
            search = httpx.post(f"{url}/v1/search", json={"query": QUERIES[0]}, timeout=30)
            filler.unlink()
        message = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ""
        check(result.returncode == 1, f"kairos index exited {result.returncode}: {result.stderr[-1500:]}")
        check("Traceback" not in result.stderr and "no space left" in message, f"unclear: {message!r}")
        check(served == version and search.status_code == 200, "the old snapshot is no longer served")
        check(read_current(small) == version, "CURRENT moved")
        again = run_index(list(map(str, videos)), small, work / "again.log")
        check(again.wait() == 0, "the run after space was freed failed")
        verify_snapshot(small, [{v.stem for v in videos} | old_ids])
    return {"publish_error": publish_error, "index_error": message, "old_served": True, "next_run": "ok"}


# ---------------------------------------------------------------- worker


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([KAIROS, "worker"], env=env, stdout=out, stderr=out, start_new_session=True)


def worker_killed(root: Path, videos: list[Path], work: Path, whole_worker: bool = True) -> dict[str, Any]:
    """The work-horse SIGKILLed mid-job (retried, then finished), and a job whose horse dies twice (failed);
    with ``whole_worker``, the whole `kairos worker` SIGKILLed (rq finds the abandoned job when its heartbeat
    lapses and retries it)."""
    import redis as redis_lib

    from service import jobs
    from service.settings import Settings

    allowed = work / "media"
    allowed.mkdir()
    for video in videos:
        for file in video.parent.glob(f"{video.stem}.*"):
            shutil.copy(file, allowed / file.name)
    files = sorted(str(p) for p in allowed.glob("*.mp4"))
    out: dict[str, Any] = {}
    with RedisServer(work) as redis:
        env = base_env() | {
            "KAIROS_REDIS_URL": redis.url,
            "KAIROS_SNAPSHOT_ROOT": str(root),
            "KAIROS_MODEL": MODEL,
            "KAIROS_ALLOWED_ROOTS": str(allowed),
        }
        settings = Settings(redis_url=redis.url, snapshot_root=root, model=MODEL, allowed_roots=[allowed])
        connection = redis_lib.Redis.from_url(redis.url)
        state = lambda job_id: jobs.status(settings, connection, job_id)  # noqa: E731
        worker = start_worker(env, work / "worker.log")
        try:
            with open_snapshot(root) as snap:
                reused = len(snap)
            job = jobs.submit(settings, connection, files)
            wait_until(lambda: (state(job.id).done or 0) > reused, 120, "a new video to be done", 0.02)
            horse = children(worker.pid)
            check(len(horse) == 1, f"expected one work-horse, found {horse}")
            os.kill(horse[0], signal.SIGKILL)
            killed_at = state(job.id)
            wait_until(lambda: state(job.id).state in ("finished", "failed"), 300, "the retried job", 0.2)
            final = state(job.id)
            check(final.state == "finished", f"the retried job ended {final.state}: {final.error}")
            assert final.report is not None
            counts = final.report["counts"]
            check(counts["resumed"] + counts["reused"] >= 1, f"nothing was resumed: {counts}")
            out["horse_killed"] = {
                "progress_at_kill": f"{killed_at.done}/{killed_at.total}",
                "final": final.state,
                "retry_counts": {k: counts[k] for k in ("indexed", "resumed", "reused")},
            }
            twice = jobs.submit(settings, connection, files)  # all reused now: kill it as soon as it starts
            killed: set[int] = set()
            for _ in range(jobs.RETRIES + 1):

                def new_horse() -> bool:
                    return state(twice.id).state == "started" and bool(set(children(worker.pid)) - killed)

                wait_until(new_horse, 120, "the job to start in a new work-horse", 0.01)
                (pid,) = set(children(worker.pid)) - killed
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            wait_until(lambda: state(twice.id).state == "failed", 30, "the job to be failed", 0.05)
            failed = state(twice.id)
            check(failed.state == "failed" and bool(failed.error), f"expected failed, got {failed}")
            out["horse_killed_every_try"] = {"final": failed.state, "error": failed.error}
            if whole_worker:
                out["worker_killed"] = _kill_whole_worker(settings, connection, files, env, work, worker)
        finally:
            kill_session(worker.pid)
            worker.wait()
    return out


def _kill_whole_worker(
    settings: Any, connection: Any, files: list[str], env: dict[str, str], work: Path, worker: Any
) -> dict[str, Any]:
    from service import jobs

    state = lambda job_id: jobs.status(settings, connection, job_id)  # noqa: E731
    with open_snapshot(settings.snapshot_root) as snap:
        ids = list(snap.video_ids)
    delete(settings.snapshot_root, ids[len(ids) // 2 :])  # so the job has videos to encode again
    job = jobs.submit(settings, connection, files)

    def encoding() -> bool:  # the carried-over half is done and new videos are still being encoded
        now = state(job.id)
        return now.state == "started" and len(ids) // 2 <= (now.done or 0) < (now.total or len(ids))

    wait_until(encoding, 120, "the job to encode new videos", 0.02)
    # the whole machine dies: the worker and its work-horse (rq starts the horse in a session of its own)
    for pid in children(worker.pid):
        kill_session(pid)
    kill_session(worker.pid)
    worker.wait()
    killed = time.monotonic()
    limit = jobs.JOB_MONITORING_S + 60 + 30
    wait_until(lambda: state(job.id).state != "started", limit, "rq to notice the dead worker", 1.0)
    noticed = time.monotonic() - killed
    after = state(job.id).state
    replacement = start_worker(env, work / "worker2.log")
    try:
        wait_until(lambda: state(job.id).state in ("finished", "failed"), 300, "the retried job", 0.5)
    finally:
        kill_session(replacement.pid)
        replacement.wait()
    final = state(job.id)
    check(after == "queued" and final.state == "finished", f"after the kill {after}, then {final.state}")
    return {"left_started_after_s": round(noticed, 1), "then": after, "final": final.state}


# ---------------------------------------------------------------- schemathesis


def schemathesis(work: Path, redis_url: str, root: Path, examples: int = 150) -> dict[str, Any]:
    """Schemathesis over openapi.yaml (all operations) against `kairos serve`: no 5xx, >= 1,000 cases."""
    repo = Path(__file__).resolve().parent.parent
    with serving(root, redis_url, work / "serve.log", max_in_flight="1000") as url:
        st = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis"
        result = subprocess.run(
            [st, "run", str(repo / "openapi.yaml"), "--url", url, "--checks", "not_a_server_error"]
            + ["--max-examples", str(examples), "--seed", "1", "--no-color"],
            capture_output=True,
            text=True,
            timeout=1500,
            env=base_env(),
        )
    text = result.stdout
    cases = re.search(r"Test cases:\s*\n?\s*(\d+) generated", text)
    operations = re.search(r"API Operations:\s*\n?\s*Selected:\s*(\d+)/(\d+)", text)
    generated = int(cases.group(1)) if cases else 0
    check(result.returncode == 0, f"schemathesis found failures:\n{text[-3000:]}")
    check(generated >= 1000, f"only {generated} cases generated:\n{text[-1500:]}")
    return {
        "cases": generated,
        "operations": f"{operations.group(1)}/{operations.group(2)}" if operations else None,
        "server_errors": 0,
        "summary": text.strip().splitlines()[-1],
    }


# ---------------------------------------------------------------- the run


def build_corpus(folder: Path, videos: int) -> tuple[Path, list[Path]]:
    """A synthetic corpus and a snapshot root holding its first half (indexed with the tiny model)."""
    from indexer.pipeline import IndexOptions, index
    from indexer.synth import SynthConfig, generate_corpus

    config = SynthConfig(videos=videos, seed=21, width=160, height=120, min_duration=10, max_duration=16)
    generate_corpus(folder / "corpus", config)
    files = sorted((folder / "corpus" / "videos").glob("*.mp4"))
    root = folder / "index"
    index(root, [str(f) for f in files[: len(files) // 2]], MODEL, IndexOptions(workers=1))
    return root, files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    names = ["redis_outage", "publish_under_load", "kill_indexer", "readonly_root", "disk_full"]
    names += ["worker_killed", "schemathesis"]
    parser.add_argument("--only", type=lambda s: s.split(","), default=names)
    parser.add_argument("--videos", type=int, default=8)
    parser.add_argument("--kills", type=int, default=7)
    parser.add_argument("--examples", type=int, default=150, help="schemathesis examples per operation")
    parser.add_argument("--out", type=Path, default=RESULTS / "faults.json")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="kairos-faults-") as tmp:
        folder = Path(tmp)
        root, files = build_corpus(folder, args.videos)
        with RedisServer(folder) as redis:
            scenarios: dict[str, Callable[[Path], dict[str, Any]]] = {
                "redis_outage": lambda w: redis_outage(copy(root, w), w),
                "publish_under_load": lambda w: publish_under_load(copy(root, w), w, redis.url),
                "kill_indexer": lambda w: kill_indexer(root, files, w, kills=args.kills),
                "readonly_root": lambda w: readonly_root(copy(root, w), files, w, redis.url),
                "disk_full": lambda w: (
                    disk_full(copy(root, w), files, w, redis.url)
                    if can_mount()
                    else {"skipped": "needs root and mount -t tmpfs"}
                ),
                "worker_killed": lambda w: worker_killed(copy(root, w), files, w),
                "schemathesis": lambda w: schemathesis(w, redis.url, copy(root, w), args.examples),
            }
            for name in args.only:
                work = folder / name
                work.mkdir()
                started = time.monotonic()
                try:
                    results[name] = {"passed": True} | scenarios[name](work)
                except Exception as exc:
                    traceback.print_exc()
                    results[name] = {"passed": False, "error": f"{type(exc).__name__}: {exc}"}
                results[name]["seconds"] = round(time.monotonic() - started, 1)
                print(f"{name}: {json.dumps(results[name])}", file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"benchmark": "faults", "scenarios": results}, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(results))
    print(markdown(results))
    sys.exit(0 if all(r["passed"] for r in results.values()) else 1)


def copy(root: Path, work: Path) -> Path:
    return Path(shutil.copytree(root, work / "index", ignore=shutil.ignore_patterns("work")))


def markdown(results: dict[str, Any]) -> str:
    lines = ["| scenario | passed | seconds | outcome |", "| --- | --- | --- | --- |"]
    for name, r in results.items():
        detail = {k: v for k, v in r.items() if k not in ("passed", "seconds")}
        lines.append(f"| {name} | {r['passed']} | {r['seconds']} | `{json.dumps(detail)[:600]}` |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
