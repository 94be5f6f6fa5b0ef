"""Query texts -> query vectors [B, dim] float32 through one of three backends: torch, ONNX fp32, ONNX int8.

All three compute `encode_query(text_encoder(texts))` (head `query`), or the text encoder's own sentence
vector (head `sentence`, [B, Dt], for line retrieval); the ONNX ones run the graph of `models.onnx_export`
in an ONNX Runtime session on one intra-op and one inter-op thread (one thread per library per process).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Protocol, get_args

import numpy as np
import torch

from models.encoders import TextEncoder
from models.model import KairosModel
from models.onnx_export import INPUTS, OUTPUT, Head, Precision, head_module, onnx_file

QueryBackendName = Literal["torch", "onnx-fp32", "onnx-int8"]
BACKENDS: tuple[QueryBackendName, ...] = get_args(QueryBackendName)


class QueryBackend(Protocol):
    """Encodes a batch of (already normalised) query texts; safe to call from several threads at once."""

    name: str
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray:
        """Query vectors [len(texts), dim] float32, L2-normalised."""
        ...


class TorchQueries:
    """The model's own path in torch: the text encoder, then the head (query or sentence)."""

    name = "torch"

    def __init__(self, model: KairosModel, head: Head = "query") -> None:
        self.model = model
        self.head = head_module(model, head)
        self.dim = model.config.dim if head == "query" else model.text_encoder.dim

    @torch.inference_mode()
    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.head(self.model.text_encoder(texts))
        return np.ascontiguousarray(vectors.float().cpu().numpy())


class OnnxQueries:
    """An ONNX Runtime session over an exported query graph; tokenised by the text encoder's tokenizer."""

    def __init__(self, path: Path, text_encoder: TextEncoder, dim: int, name: str) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.tokenizer = text_encoder.tokenizer
        self.max_length = text_encoder.max_length
        self.dim = dim
        self.name = name

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        batch = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="np"
        )
        feeds = {name: np.asarray(batch[name], dtype=np.int64) for name in INPUTS}
        (vectors,) = self.session.run([OUTPUT], feeds)
        return np.asarray(vectors, dtype=np.float32)


def load_query_backend(
    model: KairosModel, name: QueryBackendName, cache_dir: Path, head: Head = "query"
) -> QueryBackend:
    """The named backend for `model` and `head`; the ONNX ones export into `cache_dir` on first use."""
    if name == "torch":
        return TorchQueries(model, head)
    if name not in BACKENDS:
        raise ValueError(f"unknown query encoder {name!r}: expected one of {', '.join(BACKENDS)}")
    precision: Precision = "fp32" if name == "onnx-fp32" else "int8"
    path = onnx_file(model, precision, cache_dir, head)
    dim = model.config.dim if head == "query" else model.text_encoder.dim
    return OnnxQueries(path, model.text_encoder, dim, name)
