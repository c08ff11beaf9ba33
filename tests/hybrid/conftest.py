"""Fixtures for the hybrid tests: the shared SST-2 data and precomputed embeddings.

The shared data folder is ``$QHYBRID_TEST_DATA`` if set, else ``<repo>/../shared/data``. Tests that
need it are skipped (not failed) when it is absent, so the suite runs on a bare checkout.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


def _shared_data_dir() -> Path:
    env = os.environ.get("QHYBRID_TEST_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path_factory):
    """No network, no user-level cache or data variables leaking into a test."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.delenv("QHYBRID_DATA", raising=False)
    monkeypatch.delenv("QHYBRID_EMBEDDINGS", raising=False)
    monkeypatch.setenv("QHYBRID_CACHE", str(tmp_path_factory.mktemp("qhybrid-cache")))


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    path = _shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"shared data folder not found: {path} (set QHYBRID_TEST_DATA)")
    return path


@pytest.fixture(scope="session")
def sst2_dir(shared_data_dir: Path) -> Path:
    path = shared_data_dir / "sst2"
    if not all((path / f).is_file() for f in ("train.tsv", "dev.tsv", "test.tsv")):
        pytest.skip(f"SST-2 TSV files not found in {path}")
    return path


@pytest.fixture(scope="session")
def embeddings_dir(shared_data_dir: Path) -> Path:
    path = shared_data_dir / "embeddings"
    if not path.is_dir():
        pytest.skip(f"precomputed embeddings folder not found: {path}")
    return path


def _npz(embeddings_dir: Path, name: str) -> Path:
    path = embeddings_dir / name
    if not path.is_file():
        pytest.skip(f"precomputed embeddings not found: {path}")
    return path


@pytest.fixture(scope="session")
def minilm_npz(embeddings_dir: Path) -> Path:
    return _npz(embeddings_dir, "sst2-all-MiniLM-L6-v2.npz")


@pytest.fixture(scope="session")
def mpnet_npz(embeddings_dir: Path) -> Path:
    return _npz(embeddings_dir, "sst2-all-mpnet-base-v2.npz")


@pytest.fixture(scope="session")
def sst2_corpus(sst2_dir: Path):
    from hybrid.data import load_sst2_folder

    return load_sst2_folder(sst2_dir)


@pytest.fixture
def separable_problem():
    """A small linearly separable 2-class problem: labels = sign of a random projection, with a
    margin; returns ``(X_train, y_train, X_val, y_val, X_test, y_test)`` as float32 / int64."""
    rng = np.random.default_rng(1234)
    d = 16
    w = rng.normal(size=d)
    w /= np.linalg.norm(w)

    def draw(n: int):
        X = rng.normal(size=(4 * n, d))
        s = X @ w
        keep = np.abs(s) > 0.5  # margin
        X, s = X[keep][:n], s[keep][:n]
        return X.astype(np.float32), (s > 0).astype(np.int64)

    return (*draw(200), *draw(100), *draw(200))


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """The tests train tiny models on a shared 2-core machine: one intra-op thread avoids
    OpenMP spin-waiting against other processes (10x faster here), and changes no result."""
    try:
        import torch
    except ImportError:  # pragma: no cover - data tests run without torch
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
