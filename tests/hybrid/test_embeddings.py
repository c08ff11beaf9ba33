"""Precomputed embeddings (loading, validation, alignment) and the cached encoder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hybrid import embeddings as E
from hybrid.data import load_sst2_folder, paper_splits
from hybrid.embeddings import (
    DEFAULT_MODEL,
    EmbeddingError,
    SentenceEncoder,
    embed_corpus,
    find_precomputed,
    gather,
    load_precomputed,
    resolve_model,
    texts_digest,
)


def _tiny_folder(tmp_path: Path) -> Path:
    rows = {"train": [("a", 1), ("b", 0)], "dev": [("c", 0)], "test": [("d", 1), ("e", 0)]}
    tmp_path.mkdir(parents=True, exist_ok=True)
    for split, items in rows.items():
        body = "".join(f"{t}\t{y}\n" for t, y in items)
        (tmp_path / f"{split}.tsv").write_text("sentence\tlabel\n" + body)
    return tmp_path


def _tiny_npz(path: Path, **override) -> Path:
    arrays = {
        "X_train": np.arange(6, dtype=np.float32).reshape(2, 3),
        "X_dev": np.full((1, 3), 10, np.float32),
        "X_test": np.full((2, 3), 20, np.float32),
        "y_train": np.array([1, 0]),
        "y_dev": np.array([0]),
        "y_test": np.array([1, 0]),
    }
    arrays.update(override)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    np.savez(path, **arrays)
    return path


# -------------------------------------------------------------------------------- precomputed


def test_embed_corpus_from_npz_aligns_with_indices(tmp_path):
    corpus = load_sst2_folder(_tiny_folder(tmp_path / "data"))
    npz = _tiny_npz(tmp_path / "e.npz")
    X = embed_corpus(corpus, precomputed=npz)
    assert X.shape == (5, 3) and X.dtype == np.float32
    assert X[2, 0] == 10 and X[3, 0] == 20
    split = corpus.standard_split("test")
    Xs, ys = gather(X, split)
    assert np.array_equal(Xs, X[3:5]) and ys.tolist() == [1, 0]


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ({"y_dev": None}, "missing arrays ['y_dev']"),
        ({"X_test": np.zeros(3, np.float32)}, "X_test must be 2-D"),
        ({"X_dev": np.zeros((1, 4), np.float32)}, "X_dev has width 4"),
        ({"y_train": np.array([1, 0, 1])}, "y_train has shape (3,)"),
        ({"y_test": np.array([1, 2])}, "y_test holds labels [2]"),
        ({"X_train": np.full((2, 3), np.nan, np.float32)}, "X_train holds NaN"),
    ],
)
def test_load_precomputed_errors(tmp_path, override, fragment):
    npz = _tiny_npz(tmp_path / "bad.npz", **override)
    with pytest.raises(EmbeddingError) as info:
        load_precomputed(npz)
    assert str(npz) in str(info.value) and fragment in str(info.value)


def test_precomputed_must_match_corpus(tmp_path):
    corpus = load_sst2_folder(_tiny_folder(tmp_path / "data"))
    wrong_rows = _tiny_npz(
        tmp_path / "rows.npz", X_test=np.zeros((3, 3), np.float32), y_test=np.array([1, 0, 0])
    )
    with pytest.raises(EmbeddingError, match="split 'test' has 3 rows but the corpus"):
        embed_corpus(corpus, precomputed=wrong_rows)
    wrong_labels = _tiny_npz(tmp_path / "labels.npz", y_test=np.array([0, 0]))
    with pytest.raises(EmbeddingError, match="first at pooled row 3"):
        embed_corpus(corpus, precomputed=wrong_labels)


def test_find_precomputed_env_folder_and_model(tmp_path, monkeypatch):
    assert find_precomputed() is None
    _tiny_npz(tmp_path / "sst2-all-MiniLM-L6-v2.npz")
    _tiny_npz(tmp_path / "sst2-all-mpnet-base-v2.npz")
    monkeypatch.setenv(E.EMBEDDINGS_ENV_VAR, str(tmp_path))
    assert find_precomputed().name == "sst2-all-MiniLM-L6-v2.npz"
    mp = find_precomputed(model="sentence-transformers/all-mpnet-base-v2")
    assert mp.name == "sst2-all-mpnet-base-v2.npz"
    with pytest.raises(FileNotFoundError, match="sst2-other.npz.*available"):
        find_precomputed(model="other")
    with pytest.raises(FileNotFoundError, match="not found"):
        find_precomputed(tmp_path / "missing.npz")
    corpus = load_sst2_folder(_tiny_folder(tmp_path / "data"))
    assert embed_corpus(corpus).shape == (5, 3)  # picked up from $QHYBRID_EMBEDDINGS


def test_shared_embeddings_align_with_paper_split(sst2_corpus, minilm_npz, mpnet_npz):
    for npz, dim in ((minilm_npz, 384), (mpnet_npz, 768)):
        pre = load_precomputed(npz)
        assert pre.dim == dim
        X = embed_corpus(sst2_corpus, precomputed=pre)
        assert X.shape == (9613, dim)
        np.testing.assert_allclose(np.linalg.norm(X[:100], axis=1), 1.0, atol=1e-5)
        split = paper_splits(sst2_corpus, seed=0)
        Xtr, ytr = gather(X, split.train)
        assert Xtr.shape == (435, dim) and np.array_equal(ytr, pre.pooled()[1][split.train.indices])
        # a pooled test index from the dev block maps to the dev row of the file
        i = int(next(j for j in split.test.indices if 6920 <= j < 6920 + 872))
        np.testing.assert_array_equal(X[i], pre.X["dev"][i - 6920])


# -------------------------------------------------------------------------------- encoder


class _FakeModel:
    """Stands in for SentenceTransformer: embeds a text as (len, #spaces), counts calls."""

    def __init__(self):
        self.calls = 0
        self.fail_after: int | None = None

    def encode(self, texts, batch_size, show_progress_bar, convert_to_numpy):
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise KeyboardInterrupt
        return np.array([[len(t), t.count(" ")] for t in texts], dtype=np.float32)


def test_resolve_model():
    default = resolve_model(None)
    assert default.model_id == DEFAULT_MODEL and Path(default.load_from).is_dir()
    assert resolve_model("all-MiniLM-L6-v2") == default
    assert resolve_model(default.load_from).model_id == DEFAULT_MODEL
    assert resolve_model("org/some-model") == E.ResolvedModel("org/some-model", "org/some-model")
    with pytest.raises(EmbeddingError, match="model folder not found"):
        resolve_model("./no/such/folder")


def test_encoder_cache_resumes_after_interrupt(tmp_path):
    texts = [f"sentence number {i} " * (i % 3 + 1) for i in range(10)]
    enc = SentenceEncoder("org/fake", cache_dir=tmp_path, chunk_size=4, progress=False)
    fake = enc._model = _FakeModel()
    fake.fail_after = 2  # interrupted while encoding the third chunk
    with pytest.raises(KeyboardInterrupt):
        enc.encode(texts)
    folder = enc.cache_folder
    assert folder is not None and len(list(folder.glob("*.npy"))) == 2
    assert not list(folder.glob(".*.tmp"))  # no half-written files
    fake.fail_after, fake.calls = None, 0
    X = enc.encode(texts)
    assert fake.calls == 1  # only the missing chunk
    assert X.shape == (10, 2) and X[3, 0] == len(texts[3])
    assert enc.encode(texts).shape == (10, 2) and fake.calls == 1  # all cached now
    # a damaged cache file is re-encoded, not trusted
    victim = sorted(folder.glob("*.npy"))[0]
    victim.write_bytes(b"garbage")
    np.testing.assert_array_equal(enc.encode(texts), X)
    assert fake.calls == 2


def test_encoder_cache_key_depends_on_model_and_text(tmp_path):
    a = SentenceEncoder("org/a", cache_dir=tmp_path, progress=False)
    b = SentenceEncoder("org/b", cache_dir=tmp_path, progress=False)
    assert a.cache_folder != b.cache_folder
    assert texts_digest(["ab", "c"]) != texts_digest(["a", "bc"])
    assert SentenceEncoder("org/a", cache_dir=False).cache_folder is None
    with pytest.raises(TypeError, match="single string"):
        a.encode("one sentence")


def test_encoder_reproduces_cached_minilm_rows(sst2_corpus, minilm_npz, tmp_path):
    """Encode exactly the TSV text with the default (offline) model and match the shared cache."""
    pytest.importorskip("sentence_transformers")
    pre = load_precomputed(minilm_npz)
    rows = [0, 1, 2, 6920, 6921, 9612]  # train, dev and test rows (pooled indices)
    texts = [sst2_corpus.texts[i] for i in rows]
    enc = SentenceEncoder(cache_dir=tmp_path, progress=False)
    X = enc.encode(texts)
    expected = pre.pooled()[0][rows]
    np.testing.assert_allclose(X, expected, atol=1e-5, rtol=0)
    # and a second call comes from the cache, identical
    again = SentenceEncoder(cache_dir=tmp_path, progress=False).encode(texts)
    np.testing.assert_array_equal(again, X)
