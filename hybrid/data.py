"""SST-2 sentences and labels: reading, pooling and the paper's split protocol.

The data set is the sentence-level binary SST-2 of Socher et al. (2013) as distributed by
``SetFit/sst2`` on the Hugging Face hub: 6,920 train, 872 dev (validation) and 1,821 test
sentences, labels 0 (negative) and 1 (positive).

Two ways to get it:

* a **local folder** of tab-separated files ``train.tsv``, ``dev.tsv``, ``test.tsv``, each with
  the header ``sentence<TAB>label``, quoting off (sentences contain ``"`` and ``\\``), one
  sentence per line (:func:`load_sst2_folder`);
* the **hub** (``SetFit/sst2``), through ``datasets`` when installed, else
  ``huggingface_hub`` file downloads (:func:`load_sst2_hub`).

:func:`load_sst2` picks the source: an explicit folder, else ``$QHYBRID_DATA``, else the hub.

All sentences are *pooled* in the order train, dev, test into one :class:`SST2Corpus`; every
:class:`Split` carries the indices of its rows in that pooled order, so precomputed embeddings of
the pooled corpus (see :mod:`hybrid.embeddings`) can be gathered with ``X[split.indices]``.

Split protocols (:func:`make_splits`):

* ``"standard"``: train / dev / test as distributed.
* ``"paper"`` (arXiv 2504.08732, paper.md section 1): from the pooled N = 9,613 sentences draw
  k = 256 per label without replacement (2k = 512), shuffle, take the first
  ``int(0.85 * 2k) = 435`` as train and the other 77 as validation; the test set is every
  remaining sentence (N - 2k = 9,101), in pooled order. Seeded with ``numpy.random.default_rng``.

Example::

    corpus = load_sst2("/path/to/sst2")          # or load_sst2() with $QHYBRID_DATA / the hub
    splits = paper_splits(corpus, seed=0)
    len(splits.train), len(splits.validation), len(splits.test)   # (435, 77, 9101)
"""

from __future__ import annotations

import codecs
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "DATA_ENV_VAR",
    "HUB_DATASET",
    "PAPER_PER_LABEL",
    "PAPER_TRAIN_FRACTION",
    "SPLIT_FILES",
    "SPLIT_PROTOCOLS",
    "DataFormatError",
    "DataUnavailableError",
    "DataSplits",
    "SST2Corpus",
    "Split",
    "load_sst2",
    "load_sst2_folder",
    "load_sst2_hub",
    "make_splits",
    "paper_splits",
    "read_tsv",
    "standard_splits",
]

logger = logging.getLogger(__name__)

#: Environment variable naming a local SST-2 folder (used when no folder is passed).
DATA_ENV_VAR = "QHYBRID_DATA"
#: Hugging Face hub data set used when no local folder is given.
HUB_DATASET = "SetFit/sst2"
#: Standard split name -> TSV file name inside a data folder (pooled in this order).
SPLIT_FILES: dict[str, str] = {"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"}
#: Split name -> file name in the ``SetFit/sst2`` hub repository (JSON lines: text, label, ...).
HUB_FILES: dict[str, str] = {"train": "train.jsonl", "dev": "dev.jsonl", "test": "test.jsonl"}
#: Split name -> split name in ``datasets.load_dataset("SetFit/sst2")``.
HUB_DATASETS_SPLITS: dict[str, str] = {"train": "train", "dev": "validation", "test": "test"}
#: Sentences drawn per label by the paper's protocol (2 x 256 = 512 labelled sentences).
PAPER_PER_LABEL = 256
#: Train fraction of the 512 sampled sentences: int(0.85 * 512) = 435 train, 77 validation.
PAPER_TRAIN_FRACTION = 0.85
#: The expected TSV header.
TSV_HEADER = ("sentence", "label")
LABELS = (0, 1)

_HOW_TO_PASS_LOCAL = (
    "pass a local folder holding train.tsv, dev.tsv and test.tsv (header 'sentence<TAB>label'), "
    f"e.g. `--data /path/to/sst2` or the environment variable {DATA_ENV_VAR}=/path/to/sst2"
)


class DataFormatError(ValueError):
    """A data file is malformed; the message names the file and the 1-based line.

    Attributes:
        path: the offending file.
        line: 1-based line number (``None`` when the problem concerns the whole file).
    """

    def __init__(self, path: str | os.PathLike[str], line: int | None, reason: str) -> None:
        self.path = Path(path)
        self.line = line
        self.reason = reason
        where = f"{self.path}" if line is None else f"{self.path}, line {line}"
        super().__init__(f"{where}: {reason}")


class DataUnavailableError(RuntimeError):
    """SST-2 could be found neither locally nor on the hub (the message says how to fix it)."""


@dataclass(frozen=True, eq=False)
class Split:
    """A subset of the pooled corpus.

    Attributes:
        name: ``"train"``, ``"validation"`` or ``"test"`` (or any label you gave it).
        texts: the sentences, exactly as stored in the source.
        labels: ``int64`` array of shape ``(n,)``, 0 negative / 1 positive.
        indices: ``int64`` array of shape ``(n,)``: row ``i`` is ``corpus.texts[indices[i]]``.
    """

    name: str
    texts: tuple[str, ...]
    labels: np.ndarray
    indices: np.ndarray

    def __post_init__(self) -> None:
        if not (len(self.texts) == len(self.labels) == len(self.indices)):
            raise ValueError(
                f"split {self.name!r}: {len(self.texts)} texts, {len(self.labels)} labels and "
                f"{len(self.indices)} indices; all three must have the same length"
            )

    def __len__(self) -> int:
        return len(self.texts)

    def label_counts(self) -> dict[int, int]:
        """Number of sentences per label, ``{0: n_neg, 1: n_pos}``."""
        return {label: int(np.sum(self.labels == label)) for label in LABELS}


@dataclass(frozen=True, eq=False)
class DataSplits:
    """Train / validation / test splits of one corpus under one protocol.

    Attributes:
        train, validation, test: the three :class:`Split` s (disjoint).
        protocol: ``"standard"`` or ``"paper"``.
        seed: the sampling seed (``None`` for the deterministic standard splits).
    """

    train: Split
    validation: Split
    test: Split
    protocol: str
    seed: int | None = None

    def __iter__(self):
        return iter((self.train, self.validation, self.test))

    def summary(self) -> dict[str, object]:
        """JSON-friendly sizes and label counts (for run folders and logs)."""
        return {
            "protocol": self.protocol,
            "seed": self.seed,
            **{s.name: {"n": len(s), "labels": s.label_counts()} for s in self},
        }


@dataclass(frozen=True, eq=False)
class SST2Corpus:
    """Every sentence of the standard splits, pooled in the order train, dev, test.

    Attributes:
        texts: all sentences (9,613 for the full data).
        labels: ``int64`` array ``(N,)``.
        split_slices: standard split name -> ``slice`` of its rows in the pooled order.
        source: where the data came from (folder path or hub id), for provenance records.
    """

    texts: tuple[str, ...]
    labels: np.ndarray
    split_slices: dict[str, slice] = field(default_factory=dict)
    source: str = ""

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: Sequence[int] | np.ndarray, name: str) -> Split:
        """The rows ``indices`` (into the pooled order) as a :class:`Split` called ``name``."""
        idx = np.asarray(indices, dtype=np.int64)
        if idx.ndim != 1:
            raise ValueError(f"indices must be one-dimensional, got shape {idx.shape}")
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise IndexError(
                f"indices must lie in [0, {len(self)}); got range [{idx.min()}, {idx.max()}]"
            )
        return Split(
            name=name,
            texts=tuple(self.texts[i] for i in idx),
            labels=self.labels[idx].copy(),
            indices=idx,
        )

    def standard_split(self, name: str) -> Split:
        """The distributed split ``name`` (``"train"``, ``"dev"`` or ``"test"``)."""
        if name not in self.split_slices:
            raise KeyError(f"unknown split {name!r}; this corpus has {sorted(self.split_slices)}")
        sl = self.split_slices[name]
        return self.subset(np.arange(sl.start, sl.stop, dtype=np.int64), name)


# --------------------------------------------------------------------------------------------
# Reading


def read_tsv(path: str | os.PathLike[str]) -> tuple[list[str], np.ndarray]:
    """Read one ``sentence<TAB>label`` file.

    The file must be UTF-8, start with the header ``sentence<TAB>label``, and hold at least one
    row; every row has exactly two tab-separated fields, a non-empty sentence and a label ``0`` or
    ``1``. Quoting is off: quote characters are part of the sentence. Tolerated: a UTF-8 byte
    order mark, CRLF line ends, blank (or whitespace-only) lines anywhere, and a missing final
    newline. Line numbers in errors count every physical line.

    Args:
        path: the TSV file.

    Returns:
        ``(texts, labels)``: the sentences and an ``int64`` label array, in file order.

    Raises:
        FileNotFoundError: ``path`` does not exist (the message says how to pass a folder).
        DataFormatError: empty file, bad header, wrong column count, empty sentence, bad label or
            invalid UTF-8; the message names the file and the line.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"SST-2 file not found: {p} ({_HOW_TO_PASS_LOCAL})")
    raw = p.read_bytes()
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8):]
    if not raw.strip():
        raise DataFormatError(p, None, "file is empty (expected the header 'sentence<TAB>label')")
    texts: list[str] = []
    labels: list[int] = []
    header_seen = False
    for lineno, raw_line in enumerate(raw.split(b"\n"), start=1):
        try:
            line = raw_line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataFormatError(p, lineno, f"not valid UTF-8 ({exc.reason})") from None
        if line.endswith("\r"):
            line = line[:-1]
        if not line.strip():
            continue
        fields = line.split("\t")
        if not header_seen:
            header_seen = True
            if tuple(fields) != TSV_HEADER:
                raise DataFormatError(
                    p, lineno, f"bad header {line!r}; expected 'sentence<TAB>label'"
                )
            continue
        if len(fields) != 2:
            raise DataFormatError(
                p,
                lineno,
                f"expected 2 tab-separated columns (sentence, label), found {len(fields)}",
            )
        text, label = fields
        if not text.strip():
            raise DataFormatError(p, lineno, "empty sentence")
        if label not in ("0", "1"):
            raise DataFormatError(p, lineno, f"bad label {label!r}; expected 0 or 1")
        texts.append(text)
        labels.append(int(label))
    if not texts:
        raise DataFormatError(p, None, "no data rows after the header")
    return texts, np.asarray(labels, dtype=np.int64)


def _pool(parts: dict[str, tuple[list[str], np.ndarray]], source: str) -> SST2Corpus:
    texts: list[str] = []
    labels: list[np.ndarray] = []
    slices: dict[str, slice] = {}
    for name in SPLIT_FILES:
        t, y = parts[name]
        slices[name] = slice(len(texts), len(texts) + len(t))
        texts.extend(t)
        labels.append(y)
    corpus = SST2Corpus(
        texts=tuple(texts),
        labels=np.concatenate(labels).astype(np.int64),
        split_slices=slices,
        source=source,
    )
    logger.info(
        "SST-2 from %s: %s", source, {k: s.stop - s.start for k, s in slices.items()}
    )
    return corpus


def load_sst2_folder(folder: str | os.PathLike[str]) -> SST2Corpus:
    """Load ``train.tsv``, ``dev.tsv`` and ``test.tsv`` from ``folder`` (see :func:`read_tsv`).

    Raises:
        FileNotFoundError: the folder or one of the files is missing.
        DataFormatError: a file is malformed (file and line named).
    """
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(
            f"SST-2 data folder not found: {root} (expected a folder holding "
            f"{', '.join(SPLIT_FILES.values())})"
        )
    parts = {name: read_tsv(root / fname) for name, fname in SPLIT_FILES.items()}
    return _pool(parts, source=str(root.resolve()))


def _read_jsonl(path: Path) -> tuple[list[str], np.ndarray]:
    texts: list[str] = []
    labels: list[int] = []
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                text, label = row["text"], int(row["label"])
            except (ValueError, KeyError, TypeError) as exc:
                raise DataFormatError(
                    path, lineno, f"expected a JSON object with 'text' and 'label' ({exc})"
                ) from None
            if label not in LABELS:
                raise DataFormatError(path, lineno, f"bad label {label!r}; expected 0 or 1")
            texts.append(str(text))
            labels.append(label)
    if not texts:
        raise DataFormatError(path, None, "no rows")
    return texts, np.asarray(labels, dtype=np.int64)


def load_sst2_hub(repo_id: str = HUB_DATASET, *, cache_dir: str | None = None) -> SST2Corpus:
    """Download SST-2 from the Hugging Face hub (needs a network the first time).

    Uses ``datasets.load_dataset(repo_id)`` when ``datasets`` is installed, else downloads the
    JSON-lines files ``train.jsonl``, ``dev.jsonl`` and ``test.jsonl`` with
    ``huggingface_hub.hf_hub_download`` (both cache on disk, so later calls work offline).

    Raises:
        DataUnavailableError: neither route worked (offline, hub down, package missing); the
            message says how to pass a local folder instead.
    """
    errors: list[str] = []
    try:
        import datasets  # type: ignore[import-not-found]
    except ImportError:
        datasets = None
    if datasets is not None:
        try:
            ds = datasets.load_dataset(repo_id, cache_dir=cache_dir)
            parts = {
                name: (
                    [str(t) for t in ds[hub_name]["text"]],
                    np.asarray(ds[hub_name]["label"], dtype=np.int64),
                )
                for name, hub_name in HUB_DATASETS_SPLITS.items()
            }
            return _pool(parts, source=f"hf://datasets/{repo_id}")
        except Exception as exc:  # noqa: BLE001 - any failure falls through to the next route
            errors.append(f"datasets.load_dataset: {type(exc).__name__}: {exc}")
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        errors.append("huggingface_hub is not installed")
    else:
        try:
            parts = {
                name: _read_jsonl(
                    Path(
                        hf_hub_download(
                            repo_id=repo_id,
                            filename=fname,
                            repo_type="dataset",
                            cache_dir=cache_dir,
                        )
                    )
                )
                for name, fname in HUB_FILES.items()
            }
            return _pool(parts, source=f"hf://datasets/{repo_id}")
        except DataFormatError:
            raise
        except Exception as exc:  # noqa: BLE001
            errors.append(f"huggingface_hub.hf_hub_download: {type(exc).__name__}: {exc}")
    raise DataUnavailableError(
        f"could not download SST-2 ({repo_id}) from the Hugging Face hub "
        f"({'; '.join(errors)}). Offline? {_HOW_TO_PASS_LOCAL}."
    )


def load_sst2(
    data: str | os.PathLike[str] | None = None, *, allow_download: bool = True
) -> SST2Corpus:
    """Load SST-2 from the first available source.

    Order: the folder ``data`` if given; else the folder in ``$QHYBRID_DATA`` if set; else the
    hub (:func:`load_sst2_hub`) when ``allow_download``.

    Raises:
        FileNotFoundError, DataFormatError: a given folder is missing or malformed.
        DataUnavailableError: no folder given and the download failed or is not allowed.
    """
    if data is not None:
        return load_sst2_folder(data)
    env = os.environ.get(DATA_ENV_VAR)
    if env:
        logger.info("using SST-2 folder from $%s=%s", DATA_ENV_VAR, env)
        return load_sst2_folder(env)
    if not allow_download:
        raise DataUnavailableError(
            f"no SST-2 folder given and downloading is off; {_HOW_TO_PASS_LOCAL}."
        )
    logger.info("no local SST-2 folder given; downloading %s from the hub", HUB_DATASET)
    return load_sst2_hub()


# --------------------------------------------------------------------------------------------
# Splits


def standard_splits(corpus: SST2Corpus) -> DataSplits:
    """The distributed splits: train, dev (as ``validation``) and test."""
    dev = corpus.standard_split("dev")
    return DataSplits(
        train=corpus.standard_split("train"),
        validation=Split("validation", dev.texts, dev.labels, dev.indices),
        test=corpus.standard_split("test"),
        protocol="standard",
        seed=None,
    )


def paper_splits(
    corpus: SST2Corpus,
    seed: int = 0,
    *,
    per_label: int = PAPER_PER_LABEL,
    train_fraction: float = PAPER_TRAIN_FRACTION,
) -> DataSplits:
    """The paper's low-data protocol (paper.md section 1), seeded.

    With ``rng = numpy.random.default_rng(seed)``:

    1. for label 0 then label 1, draw ``per_label`` pooled indices of that label without
       replacement;
    2. concatenate (2k indices) and shuffle;
    3. train = the first ``int(train_fraction * 2k)``, validation = the rest
       (k = 256: 435 / 77);
    4. test = every pooled index not drawn, in pooled order (9,101 for the full corpus).

    Train and validation keep the shuffled order. The same seed gives the same splits.

    Raises:
        ValueError: a bad ``per_label`` / ``train_fraction``, or too few sentences of a label.
    """
    if per_label < 1:
        raise ValueError(f"per_label must be >= 1, got {per_label}")
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must lie in (0, 1), got {train_fraction}")
    rng = np.random.default_rng(seed)
    drawn: list[np.ndarray] = []
    for label in LABELS:
        pool = np.flatnonzero(corpus.labels == label)
        if len(pool) < per_label:
            raise ValueError(
                f"label {label} has {len(pool)} sentences, fewer than per_label={per_label}"
            )
        drawn.append(rng.choice(pool, size=per_label, replace=False))
    chosen = np.concatenate(drawn)
    rng.shuffle(chosen)
    n_train = int(train_fraction * len(chosen))
    if n_train == 0 or n_train == len(chosen):
        raise ValueError(
            f"train_fraction={train_fraction} leaves an empty train or validation split "
            f"of {len(chosen)} sentences"
        )
    mask = np.ones(len(corpus), dtype=bool)
    mask[chosen] = False
    return DataSplits(
        train=corpus.subset(chosen[:n_train], "train"),
        validation=corpus.subset(chosen[n_train:], "validation"),
        test=corpus.subset(np.flatnonzero(mask), "test"),
        protocol="paper",
        seed=seed,
    )


#: Protocol name -> split function (for ``--split`` style options).
SPLIT_PROTOCOLS = ("paper", "standard")


def make_splits(corpus: SST2Corpus, protocol: str = "paper", seed: int = 0) -> DataSplits:
    """Splits by protocol name: ``"paper"`` (seeded) or ``"standard"`` (``seed`` ignored)."""
    if protocol == "paper":
        return paper_splits(corpus, seed=seed)
    if protocol == "standard":
        return standard_splits(corpus)
    raise ValueError(f"unknown split protocol {protocol!r}; choose one of {SPLIT_PROTOCOLS}")
