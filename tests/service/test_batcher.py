"""The micro-batcher under concurrency: every caller gets its own row, batches form, errors reach everyone."""

from __future__ import annotations

import gc
import hashlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch

from models.query_backends import load_query_backend
from models.registry import create_model
from service.batcher import MicroBatcher


class Recorder:
    """A deterministic text -> vector function that records the batches it was called with."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.batches: list[list[str]] = []
        self.delay_s = delay_s
        self.lock = threading.Lock()

    @staticmethod
    def vector(text: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
        return np.random.default_rng(seed).standard_normal(8).astype(np.float32)

    def __call__(self, texts: list[str]) -> np.ndarray:
        with self.lock:
            self.batches.append(list(texts))
        time.sleep(self.delay_s)
        return np.stack([self.vector(text) for text in texts])


def test_concurrent_callers_get_their_own_rows_in_shared_batches() -> None:
    recorder = Recorder(delay_s=0.005)
    batcher = MicroBatcher(recorder, max_wait_s=0.01, max_batch=8)
    texts = [f"query {i % 5}" for i in range(200)]  # repeats: equal texts in one batch are encoded once
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(batcher.encode, texts))
    batcher.close()
    for text, vector in zip(texts, results, strict=True):
        assert np.array_equal(vector, Recorder.vector(text))
    sizes = [len(batch) for batch in recorder.batches]
    assert max(sizes) <= 8 and max(sizes) > 1 and sum(sizes) < len(texts)
    assert all(len(set(batch)) == len(batch) for batch in recorder.batches)


def test_real_onnx_backend_batched_equals_one_by_one(tmp_path: Path) -> None:
    torch.manual_seed(0)
    backend = load_query_backend(create_model("kairos-tiny").eval(), "onnx-fp32", tmp_path)
    texts = [f"a {colour} circle spins {i} times" for i, colour in enumerate(["red", "blue", "green"] * 6)]
    alone = {text: backend.encode([text])[0] for text in texts}
    batcher = MicroBatcher(backend.encode, max_wait_s=0.005, max_batch=32)
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(batcher.encode, texts))
    batcher.close()
    for text, vector in zip(texts, results, strict=True):
        assert np.abs(vector - alone[text]).max() < 1e-4


def test_an_encoder_error_reaches_every_caller_of_the_batch_and_the_worker_lives_on() -> None:
    calls = {"n": 0}

    def flaky(texts: list[str]) -> np.ndarray:
        calls["n"] += 1
        if calls["n"] == 1:
            time.sleep(0.02)  # let the other callers join the first batch
            raise RuntimeError("encoder failed")
        return np.ones((len(texts), 4), dtype=np.float32)

    batcher = MicroBatcher(flaky, max_wait_s=0.05, max_batch=16)
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(batcher.encode, f"q{i}") for i in range(4)]
        errors = [f.exception(timeout=10) for f in futures]
    assert all(isinstance(e, RuntimeError) and "encoder failed" in str(e) for e in errors)
    assert batcher.encode("again").tolist() == [1.0] * 4
    batcher.close()


def test_close_and_garbage_collection_stop_the_worker() -> None:
    batcher = MicroBatcher(Recorder(), max_wait_s=0.001, max_batch=4)
    batcher.close()
    batcher.close()
    with pytest.raises(RuntimeError, match="closed"):
        batcher.encode("late")
    dropped = MicroBatcher(Recorder(), max_wait_s=0.001, max_batch=4)
    thread = dropped._thread
    del dropped
    gc.collect()
    thread.join(timeout=5)
    assert not thread.is_alive()
    with pytest.raises(ValueError):
        MicroBatcher(Recorder(), max_wait_s=0.0, max_batch=4)
