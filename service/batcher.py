"""Micro-batching: concurrent requests' queries encoded together in one forward pass, after a bounded wait."""

from __future__ import annotations

import queue
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future

import numpy as np

Encode = Callable[[list[str]], np.ndarray]
_Item = tuple[str, "Future[np.ndarray]"] | None  # None tells the worker to stop


class MicroBatcher:
    """Callers block in `encode(text)`; one worker thread takes the first waiting text, gathers whatever else
    arrives within `max_wait_s` of it (at most `max_batch` texts), encodes them in one call and hands every
    caller its own row. An exception of the encoder reaches every caller of that batch. The worker stops
    when the batcher is closed or garbage-collected."""

    def __init__(self, encode: Encode, max_wait_s: float, max_batch: int) -> None:
        if max_wait_s <= 0 or max_batch < 1:
            raise ValueError("a micro-batcher needs max_wait_s > 0 and max_batch >= 1")
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._lock = threading.Lock()  # nothing is queued after the stop item
        self._closed = False
        self._thread = threading.Thread(
            target=_serve, args=(self._queue, encode, max_wait_s, max_batch), name="batcher", daemon=True
        )
        self._thread.start()
        self._stop = weakref.finalize(self, self._queue.put, None)

    def encode(self, text: str) -> np.ndarray:
        """The vector [D] of one text, encoded in a batch with the texts of concurrent callers."""
        future: Future[np.ndarray] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the micro-batcher is closed")
            self._queue.put((text, future))
        return future.result()

    def close(self) -> None:
        """Stop the worker after the texts already queued (idempotent)."""
        with self._lock:
            self._closed = True
        self._stop()
        self._thread.join()


def _serve(items: queue.SimpleQueue[_Item], encode: Encode, max_wait_s: float, max_batch: int) -> None:
    """The worker loop: gather a batch, encode it, resolve its futures; until the stop item."""
    while (first := items.get()) is not None:
        batch = [first]
        deadline = time.monotonic() + max_wait_s
        while len(batch) < max_batch:
            try:
                item = items.get(timeout=max(deadline - time.monotonic(), 0.0))
            except queue.Empty:
                break
            if item is None:
                items.put(None)  # stop after this batch
                break
            batch.append(item)
        _run(batch, encode)


def _run(batch: list[tuple[str, Future[np.ndarray]]], encode: Encode) -> None:
    """Encode the batch's distinct texts in one call and give each caller its row."""
    texts = list(dict.fromkeys(text for text, _ in batch))
    try:
        vectors = encode(texts)
    except Exception as exc:  # every waiting caller gets the error, the worker lives on
        for _, future in batch:
            future.set_exception(exc)
        return
    rows = {text: row for row, text in enumerate(texts)}
    for text, future in batch:
        future.set_result(np.array(vectors[rows[text]], dtype=np.float32))
