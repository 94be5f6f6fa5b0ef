"""A small, bounded, thread-safe LRU of query vectors in process memory, in front of Redis and the encoder."""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np


class VectorMemo:
    """Keys (model fingerprint, normalised text) -> vector [D]; holds at most `size` entries (0 = off).

    Callers get copies, so no caller can change what another one reads.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, fingerprint: str, text: str) -> np.ndarray | None:
        with self._lock:
            vector = self._items.get((fingerprint, text))
            if vector is None:
                return None
            self._items.move_to_end((fingerprint, text))
        return vector.copy()

    def put(self, fingerprint: str, text: str, vector: np.ndarray) -> None:
        if self.size == 0:
            return
        stored = np.array(vector, dtype=np.float32)
        with self._lock:
            self._items[(fingerprint, text)] = stored
            self._items.move_to_end((fingerprint, text))
            while len(self._items) > self.size:
                self._items.popitem(last=False)
