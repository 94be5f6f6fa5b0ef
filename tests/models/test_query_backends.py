"""Query backends on the real MiniLM: real ONNX export, real ONNX Runtime sessions, vectors close to torch."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import numpy as np
import pytest
import torch

from models.model import KairosModel
from models.onnx_export import export_key, onnx_file
from models.query_backends import BACKENDS, OnnxQueries, QueryBackend, load_query_backend
from models.registry import create_model
from service.settings import QueryEncoder

torch.set_num_threads(1)

TEXTS = [
    "a",
    "Phoebe puts one of her ponytails in her mouth.",
    "House walks into the room and tells Wilson that the patient lied about the trip",
    "the chef flips the pancake " * 20,  # longer than max_length: truncated the same way on every backend
]


@pytest.fixture(scope="module")
def model() -> KairosModel:
    torch.manual_seed(0)
    return create_model("kairos-tiny").eval()


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx")


@pytest.fixture(scope="module")
def backends(model: KairosModel, cache_dir: Path) -> dict[str, QueryBackend]:
    return {name: load_query_backend(model, name, cache_dir) for name in BACKENDS}


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray((a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)))


def test_backend_names_match_the_setting() -> None:
    assert BACKENDS == get_args(QueryEncoder) == ("torch", "onnx-fp32", "onnx-int8")


def test_fp32_matches_torch_on_padded_unpadded_and_truncated_batches(
    backends: dict[str, QueryBackend],
) -> None:
    torch_backend, fp32 = backends["torch"], backends["onnx-fp32"]
    for batch in (TEXTS, TEXTS[1:2], ["same length one", "same length two"], TEXTS[3:]):
        want, got = torch_backend.encode(batch), fp32.encode(batch)
        assert got.shape == want.shape == (len(batch), 32) and got.dtype == np.float32
        assert np.abs(got - want).max() < 1e-4
        assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    alone = np.concatenate([fp32.encode([text]) for text in TEXTS])  # batching (padding) changes nothing
    assert np.abs(alone - fp32.encode(TEXTS)).max() < 1e-4


def test_int8_stays_close_to_torch(backends: dict[str, QueryBackend]) -> None:
    similarity = cosine(backends["onnx-int8"].encode(TEXTS), backends["torch"].encode(TEXTS))
    assert similarity.min() > 0.95 and similarity.mean() > 0.97, similarity


def test_empty_batch_and_one_thread_sessions(backends: dict[str, QueryBackend]) -> None:
    for backend in backends.values():
        assert backend.encode([]).shape == (0, 32)
    for name in ("onnx-fp32", "onnx-int8"):
        backend = backends[name]
        assert isinstance(backend, OnnxQueries) and backend.name == name
        options = backend.session.get_session_options()
        assert options.intra_op_num_threads == 1 and options.inter_op_num_threads == 1
        assert backend.session.get_providers() == ["CPUExecutionProvider"]


def test_export_cached_by_key_and_never_stale(model: KairosModel, cache_dir: Path, tmp_path: Path) -> None:
    key = export_key(model)
    folder = cache_dir / key
    assert sorted(p.name for p in folder.iterdir()) == ["query-fp32.onnx", "query-int8.onnx"]  # no temp files
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert onnx_file(model, "int8", cache_dir) == folder / "query-int8.onnx"
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before  # reused, not re-exported

    torch.manual_seed(1)
    other = create_model("kairos-tiny").eval()  # another query head over the same text encoder
    other._text_encoder = model.text_encoder
    assert export_key(other) != key
    fresh = load_query_backend(other, "onnx-fp32", tmp_path)
    want = load_query_backend(other, "torch", tmp_path).encode(TEXTS)
    assert np.abs(fresh.encode(TEXTS) - want).max() < 1e-4


def test_unknown_backend_is_refused(model: KairosModel, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown query encoder"):
        load_query_backend(model, "onnx-fp16", tmp_path)  # type: ignore[arg-type]
