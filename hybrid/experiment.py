"""Runs: train a quantum head or a classical baseline on SST-2 embeddings into a run folder.

A run is described by one :class:`RunConfig` (JSON round trip) and leaves a folder, written aside
and renamed into place as a whole (:mod:`hybrid.runfolder`: a lock against a second writer, an
existing run kept unless ``overwrite`` or ``resume``, the location checked before any work)::

    <run>/config.json    the RunConfig as run (head resolved to the embedding size) + derived facts
    <run>/metrics.json   validation/test accuracy, the logistic-regression reference, history, timings
    <run>/checkpoint.pt  torch heads (quantum, mlp-*): hybrid.checkpoints.save_checkpoint
    <run>/model.npz      scikit-learn heads (logreg, svc*): plain arrays + JSON metadata, read with
                         allow_pickle=False (no code can come from a run folder)
    <run>/body/          end-to-end fine-tuned runs: the sentence-transformers body

``metrics.json`` has ``"status": "finished"``, or ``"interrupted"`` for a run stopped by Ctrl-C or
SIGTERM after at least one full epoch (it holds the best epoch so far; ``<run>.partial/`` keeps the
state that ``train_run(..., resume=True)`` / ``qhybrid train --resume`` continues from).

Data (:class:`DataConfig`): SST-2 from a folder of TSV files, ``$QHYBRID_DATA`` or the hub;
embeddings from a precomputed ``.npz`` (``$QHYBRID_EMBEDDINGS``) or encoded with the cached
sentence encoder; the paper's split (435 / 77 / rest, seeded) or the standard one.  The
environment is read once, by :meth:`DataConfig.resolved`, and the run record names the files used.

Run assembly belongs to the run: :attr:`RunConfig.head_overrides` (dotted
:class:`~hybrid.head.HeadConfig` paths -> values, e.g. ``{"qpu.reuploads": 3}``) are applied by
:func:`train_run` once the data, and with it the embedding size the preset head depends on, is known.

Example::

    from hybrid.experiment import DataConfig, RunConfig, train_run, evaluate_run
    cfg = RunConfig(data=DataConfig(data="shared/data/sst2",
                                    embeddings="shared/data/embeddings/sst2-all-MiniLM-L6-v2.npz"))
    result = train_run(cfg, "runs/first")
    result.metrics["test"]["accuracy"], result.metrics["reference"]["logreg"]["test_accuracy"]
    evaluate_run("runs/first", split="validation")
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from qsim.atomic import atomic_write_json

from hybrid import interrupts
from hybrid.config import JSONConfig, TrainConfig, check_choice, check_int, read_json_object, readable_train_dict
from hybrid.finetune import FinetuneConfig
from hybrid.head import PRESETS, HeadConfig, QuantumHead, preset
from hybrid.runfolder import STATUS_FINISHED, STATUS_INTERRUPTED, RunFolder

__all__ = [
    "FOLD_FINALS",
    "MAX_MLP_HIDDEN",
    "QUANTUM_TRAIN_DEFAULT",
    "SPLIT_NAMES",
    "RunInterrupted",
    "DataConfig",
    "Dataset",
    "RunConfig",
    "cross_validate",
    "fold_committee",
    "fold_indices",
    "RunResult",
    "evaluate_run",
    "load_run_model",
    "prepare_data",
    "read_run_config",
    "train_run",
]

logger = logging.getLogger(__name__)

CONFIG_FILE, METRICS_FILE, CHECKPOINT_FILE, ARRAYS_FILE = "config.json", "metrics.json", "checkpoint.pt", "model.npz"
#: Where an end-to-end fine-tuned run keeps its body (a sentence-transformers folder).
BODY_FOLDER = "body"
#: Splits a run can be evaluated on.
SPLIT_NAMES = ("train", "validation", "test")
_SKLEARN = ("logreg", "svc")
#: What k-fold cross-validation leaves as the model (:attr:`RunConfig.fold_final`).
FOLD_FINALS = ("refit", "committee")


#: Training defaults of the quantum head.  Not from the paper (it gives none): on frozen mpnet
#: embeddings (paper split, seeds 0-1) the default head at Adam 0.01 selects epochs 14-29 by
#: validation loss, so 60 epochs with patience 15 leave room; 0.005 was slower and no better.
QUANTUM_TRAIN_DEFAULT = TrainConfig(optimizer="adam", lr=0.01, batch_size=32, epochs=60, patience=15, seed=0)
#: Largest hidden width of an ``mlp-<h>`` baseline.  Memory: a float32 weight, its gradient and
#: Adam's two moments take 16 bytes per parameter, ``16 (d + 3) h`` bytes for d-dimensional
#: embeddings: 0.8 GB at h = 65,536 and d = 768 (mlp-99999999 would need 1.2 TB).
MAX_MLP_HIDDEN = 65_536
#: Models that have a quantum head for :attr:`RunConfig.head_overrides` to change (``mlp-matched``
#: matches its parameter count).
HEAD_MODELS = ("quantum", "mlp-matched")


def _overridden(head: HeadConfig, overrides: dict[str, Any]) -> HeadConfig:
    """``head`` with ``overrides`` (dotted paths -> values, e.g. ``{"qpu.reuploads": 3}``) set.

    Raises:
        ValueError: a path that names no head setting, or a value the head refuses.
    """
    d = head.to_dict()
    for path, value in overrides.items():
        node = d
        *parents, last = path.split(".")
        for key in parents:
            if not isinstance(node.get(key), dict):
                raise ValueError(f"unknown head setting {path!r}")
            node = node[key]
        node[last] = value
    return HeadConfig.from_dict(d)


@dataclass
class DataConfig(JSONConfig):
    """Where the sentences and embeddings come from, and how they are split.

    Attributes:
        data: SST-2 folder (``train.tsv``, ``dev.tsv``, ``test.tsv``); ``None`` = ``$QHYBRID_DATA``,
            else the Hugging Face hub.
        embeddings: precomputed ``.npz`` or folder; ``None`` = ``$QHYBRID_EMBEDDINGS``, else encode
            with ``embedding_model`` (cached on disk).
        embedding_model: sentence-transformer (``None`` = the bundled all-MiniLM-L6-v2).
        split: ``"paper"`` (435 / 77 / 9,101, seeded) or ``"standard"``.
        seed: seed of the paper split.
        per_label: sentences drawn per label by the paper split (256).
        max_test: score only the first ``max_test`` test sentences (``None`` = all).
    """

    data: str | None = None
    embeddings: str | None = None
    embedding_model: str | None = None
    split: str = "paper"
    seed: int = 0
    per_label: int = 256
    max_test: int | None = None

    def __post_init__(self) -> None:
        from hybrid.data import SPLIT_PROTOCOLS

        check_choice("DataConfig", "split", self.split, SPLIT_PROTOCOLS)
        self.seed = check_int("DataConfig", "seed", self.seed, 0)
        self.per_label = check_int("DataConfig", "per_label", self.per_label, 1)
        if self.max_test is not None:
            self.max_test = check_int("DataConfig", "max_test", self.max_test, 1)
        for name in ("data", "embeddings", "embedding_model"):
            v = getattr(self, name)
            if v is not None and not isinstance(v, str):
                setattr(self, name, str(v))

    def resolved(self, *, precomputed: bool = True) -> DataConfig:
        """This config with the environment read (the one place that reads it): ``data`` is the
        folder given, else ``$QHYBRID_DATA``, else ``None`` (the hub); ``embeddings`` the file given,
        else ``$QHYBRID_EMBEDDINGS`` when ``precomputed``, else ``None`` (encode).  A fine-tuned body
        re-encodes the sentences: pass ``precomputed=False`` for it."""
        from hybrid.data import DATA_ENV_VAR
        from hybrid.embeddings import EMBEDDINGS_ENV_VAR

        found = {}
        for name, var, wanted in (("data", DATA_ENV_VAR, True), ("embeddings", EMBEDDINGS_ENV_VAR, precomputed)):
            if getattr(self, name) is None and wanted and os.environ.get(var):
                found[name] = os.environ[var]
                logger.info("%s from $%s=%s", name, var, found[name])
        return dataclasses.replace(self, **found) if found else self


@dataclass
class RunConfig(JSONConfig):
    """One training run.

    Attributes:
        model: ``"quantum"`` or a baseline name of :func:`hybrid.baselines.make_baseline`
            (``logreg``, ``svc``, ``svc-c100``, ``mlp-<h>``, ``mlp-matched``).
        preset: head preset used when ``head`` is ``None`` (:data:`hybrid.head.PRESETS`).
        head: explicit :class:`~hybrid.head.HeadConfig` (its ``input_dim`` must match the data).
        train: :class:`~hybrid.training.TrainConfig` for torch heads (``None`` = the quantum
            default, or the baseline's own).
        data: :class:`DataConfig`.
        reference: also fit logistic regression on the same split and report it beside the run.
        finetune: fine-tune the sentence-transformer body first (:class:`~hybrid.finetune.FinetuneConfig`):
            ``mode="setfit"`` trains the body contrastively on the training split and then any
            head on its embeddings; ``mode="full"`` trains body and quantum head end to end.
            ``None`` (default): frozen embeddings.
        folds: k-fold cross-validation (quantum head): the train and validation splits are pooled
            (512 sentences in the paper split), a head is trained on each ``k-1`` folds with early
            stopping on the held-out fold, and the final head is refit on the pooled sentences for
            the median selected epoch count (``None``: select on the validation split).
        fold_final: what ``folds`` leaves as the model: ``"refit"`` (one head refit on all pooled
            sentences for the median selected epoch count) or ``"committee"`` (the ``k`` fold heads
            themselves, each stopped early on its own held-out fold, as one ensemble head averaging
            their logits: :func:`fold_committee`; ``k`` times the parameters).  In a committee the
            label-free projection is fitted once on the pooled inputs and shared, and fold ``f``
            starts from seed ``seed + f`` so the members differ in their initialisation too.
        head_overrides: dotted :class:`~hybrid.head.HeadConfig` paths -> values (e.g.
            ``{"qpu.reuploads": 3, "encoder.layers": 1}``) applied to the head (``head``, or the
            preset for the embedding size) once the data is loaded; for the quantum head, and for
            ``mlp-matched`` (whose parameter budget is the head's).  The run record stores the head
            they give, with ``head_overrides`` null.
    """

    model: str = "quantum"
    preset: str = "default"
    head: HeadConfig | None = None
    train: Any = None
    data: DataConfig = field(default_factory=DataConfig)
    reference: bool = True
    finetune: FinetuneConfig | None = None
    folds: int | None = None
    fold_final: str = "refit"
    head_overrides: dict[str, Any] | None = None

    _nested = {"head": HeadConfig, "data": DataConfig, "train": TrainConfig, "finetune": FinetuneConfig}

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model:
            raise ValueError(f"RunConfig.model must be 'quantum' or a baseline name, got {self.model!r}")
        check_choice("RunConfig", "preset", self.preset, tuple(PRESETS))
        if isinstance(self.head, dict):
            self.head = HeadConfig.from_dict(self.head)
        if isinstance(self.data, dict):
            self.data = DataConfig.from_dict(self.data)
        if isinstance(self.train, dict):
            self.train = TrainConfig.from_dict(self.train)
        if self.head is not None and not isinstance(self.head, HeadConfig):
            raise ValueError(f"RunConfig.head must be a HeadConfig or null, got {type(self.head).__name__}")
        if self.train is not None and not isinstance(self.train, TrainConfig):
            raise ValueError(f"RunConfig.train must be a TrainConfig or null, got {type(self.train).__name__}")
        if not isinstance(self.data, DataConfig):
            raise ValueError(f"RunConfig.data must be a DataConfig, got {type(self.data).__name__}")
        if not isinstance(self.reference, bool):
            raise ValueError(f"RunConfig.reference must be true or false, got {self.reference!r}")
        if isinstance(self.finetune, dict):
            self.finetune = FinetuneConfig.from_dict(self.finetune)
        if self.finetune is not None:
            if not isinstance(self.finetune, FinetuneConfig):
                raise ValueError(f"RunConfig.finetune must be a FinetuneConfig or null, got "
                                 f"{type(self.finetune).__name__}")
            if self.finetune.mode == "full" and self.model != "quantum":
                raise ValueError(f"end-to-end fine-tuning (finetune.mode='full') trains the quantum head; the "
                                 f"baseline {self.model!r} can use finetune.mode='setfit'")
            if self.data.embeddings is not None:
                raise ValueError("fine-tuning re-encodes the sentences with the fine-tuned body; drop the "
                                 f"precomputed embeddings {self.data.embeddings!r} (they are frozen-body vectors)")
            if self.data.embedding_model is not None and self.finetune.model is None:
                self.finetune.model = self.data.embedding_model
        if self.folds is not None:
            self.folds = check_int("RunConfig", "folds", self.folds, 2)
            if self.model != "quantum" or self.finetune is not None:
                raise ValueError("RunConfig.folds (k-fold selection of the epoch count) applies to the quantum head "
                                 "on frozen embeddings: not to baselines, and not to a fine-tuned body (it has seen "
                                 "the training labels, so held-out folds pooled with them would be optimistic)")
        check_choice("RunConfig", "fold_final", self.fold_final, FOLD_FINALS)
        if self.fold_final != "refit" and self.folds is None:
            raise ValueError(f"RunConfig.fold_final={self.fold_final!r} keeps the fold heads of k-fold "
                             "cross-validation: set folds (e.g. 5)")
        if self.head_overrides is not None:
            if not isinstance(self.head_overrides, dict) or not all(isinstance(k, str) for k in self.head_overrides):
                raise ValueError(f"RunConfig.head_overrides must map dotted head settings to values, got "
                                 f"{self.head_overrides!r}")
            if self.head_overrides and self.model not in HEAD_MODELS:
                raise ValueError(f"quantum-head options {sorted(self.head_overrides)} do not apply to the baseline "
                                 f"{self.model!r}")
        if self.model != "quantum":
            from hybrid.baselines import make_baseline

            kw = {"parameter_budget": 1} if self.model == "mlp-matched" else {}
            baseline = make_baseline(self.model, **kw)  # raises ValueError for an unknown name
            hidden = getattr(baseline, "hidden", None)
            if self.model != "mlp-matched" and hidden is not None and hidden > MAX_MLP_HIDDEN:
                raise ValueError(
                    f"baseline {self.model!r}: hidden size {hidden} is above the maximum {MAX_MLP_HIDDEN} "
                    f"(memory: weights, gradients and Adam state take 16 (d + 3) h bytes, "
                    f"{16 * (768 + 3) * hidden / 1e9:.3g} GB for 768-dimensional embeddings)")

    @property
    def is_quantum(self) -> bool:
        return self.model == "quantum"

    def head_for(self, input_dim: int) -> HeadConfig:
        """The head config for embeddings of size ``input_dim``: the preset, or ``head`` checked, with
        :attr:`head_overrides` applied."""
        if self.head is None:
            head = preset(self.preset, input_dim)
        elif self.head.input_dim != input_dim:
            raise ValueError(
                f"RunConfig.head.input_dim = {self.head.input_dim} but the embeddings have {input_dim} "
                "dimensions; fix the head config or use other embeddings"
            )
        else:
            head = self.head
        return _overridden(head, self.head_overrides) if self.head_overrides else head

    def for_input_dim(self, input_dim: int) -> RunConfig:
        """This run with :attr:`head_overrides` applied: ``head`` = :meth:`head_for` ``(input_dim)``
        and no overrides left (what the run record stores); ``self`` when there are none."""
        if not self.head_overrides:
            return self
        return RunConfig.from_dict({**self.to_dict(), "head": self.head_for(input_dim).to_dict(),
                                    "head_overrides": None})

    def with_head_changes(self, changes: dict[str, Any], input_dim: int) -> RunConfig:
        """This config with its head (explicit, or the preset for ``input_dim``) updated by
        ``changes`` (more :attr:`head_overrides`, applied now: :meth:`for_input_dim`)."""
        if not changes:
            return self
        merged = {**(self.head_overrides or {}), **changes}
        return RunConfig.from_dict({**self.to_dict(), "head_overrides": merged}).for_input_dim(input_dim)

    def train_config(self):
        return self.train if self.train is not None else dataclasses.replace(QUANTUM_TRAIN_DEFAULT)


# --------------------------------------------------------------------------------------------
# Data


@dataclass
class Dataset:
    """Embeddings and labels of the three splits, plus provenance for the run record.

    ``texts`` (split -> sentences) is kept when the run needs the sentences themselves
    (fine-tuning); ``None`` otherwise.
    """

    X: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    info: dict[str, Any]
    texts: dict[str, list[str]] | None = None

    @property
    def dim(self) -> int:
        return int(self.X["train"].shape[1])


def prepare_data(cfg: DataConfig, finetune: FinetuneConfig | None = None) -> Dataset:
    """Load SST-2, embed every sentence, split (see :class:`DataConfig`; the environment is read by
    :meth:`DataConfig.resolved`).

    With ``finetune`` the sentences are split first and kept in :attr:`Dataset.texts`; for
    ``mode="setfit"`` the body is fine-tuned on the training split (cached,
    :func:`hybrid.finetune.setfit_body`) and the three splits are embedded with it; for
    ``mode="full"`` they are embedded with the base body (the run fine-tunes it).
    """
    from hybrid.data import load_sst2, make_splits, paper_splits
    from hybrid.embeddings import SentenceEncoder, embed_corpus, gather

    cfg = cfg.resolved(precomputed=finetune is None)
    corpus = load_sst2(cfg.data)
    if cfg.split == "paper":
        splits = paper_splits(corpus, seed=cfg.seed, per_label=cfg.per_label)
    else:
        splits = make_splits(corpus, cfg.split, cfg.seed)
    out_X, out_y, texts = {}, {}, {}
    info: dict[str, Any] = {"source": corpus.source, "embeddings": cfg.embeddings}
    if finetune is None:
        X = embed_corpus(corpus, precomputed=cfg.embeddings, model=cfg.embedding_model, use_env=False)
        for name, split in zip(SPLIT_NAMES, splits):
            out_X[name], out_y[name] = gather(X, split)
    else:
        for name, split in zip(SPLIT_NAMES, splits):
            texts[name], out_y[name] = list(split.texts), split.labels
        if cfg.max_test is not None:
            texts["test"] = texts["test"][: cfg.max_test]
        body = finetune.model
        contrastive = finetune.mode == "setfit" or finetune.setfit_first
        if contrastive:
            from hybrid.finetune import setfit_body

            result = setfit_body(texts["train"], out_y["train"], finetune.setfit_stage())
            body = str(result.folder)
            info["finetune"] = {"body": body, "cached": result.cached, **{
                k: result.record[k] for k in ("pairs", "steps", "seconds", "final_loss") if k in result.record}}
        # a run's own body folder can be retrained in place: no embedding cache for it
        encoder = SentenceEncoder(body, device=finetune.device, progress=finetune.progress,
                                  cache_dir=None if contrastive else False)
        for name in SPLIT_NAMES:
            out_X[name] = encoder.encode(texts[name])
        info["embeddings"] = f"encoded with {encoder.model_id}"
    if cfg.max_test is not None:
        out_X["test"], out_y["test"] = out_X["test"][: cfg.max_test], out_y["test"][: cfg.max_test]
    info.update({"dim": int(out_X["train"].shape[1]), "splits": {k: int(len(v)) for k, v in out_y.items()},
                 "protocol": splits.protocol, "seed": splits.seed})
    return Dataset(out_X, out_y, info, texts or None)


# --------------------------------------------------------------------------------------------
# Training


@dataclass
class RunResult:
    """What :func:`train_run` produced: the folder, the fitted model and the metrics written."""

    path: Path
    model: Any
    metrics: dict[str, Any]


def _accuracy_of(model, X, y, is_torch: bool) -> dict[str, Any]:
    if is_torch:
        from hybrid.training import evaluate

        return evaluate(model, X, y)
    return {"accuracy": model.score(X, y), "n": int(len(y))}


def _reference_logreg(ds: Dataset) -> dict[str, Any]:
    from hybrid.baselines import LogisticRegressionBaseline

    t0 = time.perf_counter()
    ref = LogisticRegressionBaseline().fit(ds.X["train"], ds.y["train"])
    return {"name": "logreg", "parameters": ref.n_parameters,
            "validation_accuracy": ref.score(ds.X["validation"], ds.y["validation"]),
            "test_accuracy": ref.score(ds.X["test"], ds.y["test"]), "seconds": time.perf_counter() - t0}


class RunInterrupted(KeyboardInterrupt):
    """Training was stopped by Ctrl-C or SIGTERM (a ``KeyboardInterrupt``).

    Attributes:
        result: the :class:`RunResult` written with ``"status": "interrupted"`` when at least one
            epoch had finished (its best-so-far model), else ``None`` (no run folder written).
        epochs: finished epochs.
        resumable: ``<out>.partial`` holds a state that ``resume=True`` continues from.
    """

    def __init__(self, message: str, result: RunResult | None, epochs: int, resumable: bool) -> None:
        super().__init__(message)
        self.result, self.epochs, self.resumable = result, epochs, resumable


def train_run(cfg: RunConfig, out_dir: str | Path, *, dataset: Dataset | None = None, overwrite: bool = False,
              resume: bool = False) -> RunResult:
    """Train ``cfg`` and write the run folder ``out_dir`` (aside, then renamed into place whole).

    Args:
        cfg: the run.
        out_dir: the run folder; its location is checked first (:func:`hybrid.runfolder.check_out_dir`).
        dataset: already prepared data (skips :func:`prepare_data`; must come from ``cfg.data``).
        overwrite: replace an existing run folder (at the end, as a whole) and discard an unfinished
            ``<out>.partial``.
        resume: continue the unfinished run in ``<out>.partial`` (the quantum head resumes after its
            last finished epoch, with the weights an uninterrupted run would reach; other models
            start again); a finished run folder is read back instead of retrained.

    Returns:
        :class:`RunResult` with ``metrics`` as written to ``metrics.json``.

    Raises:
        hybrid.runfolder.RunFolderError: the location is unusable, the run exists (without
            ``overwrite``/``resume``), another process writes it, or writing it failed.
        RunInterrupted: Ctrl-C / SIGTERM; the best-so-far model was written (``status``
            ``"interrupted"``) when at least one epoch had finished.
    """
    with RunFolder(out_dir, overwrite=overwrite, resume=resume) as folder:
        if folder.finished_metrics is not None:
            logger.info("run %s finished before; read back", out_dir)
            return RunResult(Path(out_dir), load_run_model(out_dir), folder.finished_metrics)
        return _train_into(cfg, Path(out_dir), folder, dataset)


def _run_identity(cfg: RunConfig, record: dict[str, Any], ds: Dataset) -> dict[str, Any]:
    """What a resumed run must share with the interrupted one (besides its TrainConfig and data shape)."""
    data = {k: v for k, v in record["data"].items() if k not in ("max_test",)}
    return {"model": cfg.model, "head": record.get("head"), "data": data, "splits": ds.info.get("splits"),
            "dim": ds.dim}


def _train_into(cfg: RunConfig, out: Path, folder: RunFolder, dataset: Dataset | None) -> RunResult:
    from hybrid.baselines import make_baseline
    from hybrid.runfolder import RunFolderError
    from hybrid.seeding import seed_everything
    from hybrid.checkpoints import load_training_state
    from hybrid.training import fit

    data = cfg.data.resolved(precomputed=cfg.finetune is None)
    ds = dataset if dataset is not None else prepare_data(data, cfg.finetune)
    # the run as it runs: the files it reads (not "whatever the environment says") and its head resolved
    cfg = RunConfig.from_dict({**cfg.to_dict(), "data": data.to_dict()}).for_input_dim(ds.dim)
    record = cfg.to_dict()
    for key in ("data", "embeddings"):  # absolute, so that `evaluate` works from any folder
        value = record["data"][key]
        if value is not None and Path(value).expanduser().exists():
            record["data"][key] = str(Path(value).expanduser().resolve())
    record["data_info"] = ds.info
    record["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    history = None
    if cfg.is_quantum:
        head_cfg = cfg.head_for(ds.dim)
        train_cfg = cfg.train_config()
        record["head"], record["train"] = head_cfg.to_dict(), train_cfg.to_dict()
        record["head_info"] = head_cfg.describe()
        seed_everything(train_cfg.seed)
        model = QuantumHead(head_cfg)
        if cfg.finetune is not None and cfg.finetune.mode == "full":
            ds, record["finetune_history"] = _finetune_end_to_end(cfg, model, ds, folder.staging)
        elif cfg.folds is not None:
            committee = cfg.fold_final == "committee"
            cv, fold_heads = cross_validate(head_cfg, train_cfg, ds, cfg.folds, committee=committee)
            record["cross_validation"] = cv
            if committee:
                model = fold_committee(fold_heads)
                record["head"], record["head_info"] = model.config.to_dict(), model.config.describe()
            else:
                X = np.concatenate([ds.X["train"], ds.X["validation"]])
                y = np.concatenate([ds.y["train"], ds.y["validation"]])
                seed_everything(train_cfg.seed)
                model = QuantumHead(head_cfg).prepare(X)
                history = fit(model, X, y, None, None,
                              dataclasses.replace(train_cfg, epochs=cv["epochs"], patience=None))
        else:
            model.prepare(ds.X["train"])
            identity = _run_identity(cfg, record, ds)
            state = None
            if folder.resume and folder.resume_path.is_file():
                state = load_training_state(folder.resume_path)
                if state.extra.get("run") != identity:
                    raise RunFolderError(
                        f"--out {folder.shown}: the unfinished run in {folder.staging} was started with other "
                        "settings (model, head or data); rerun it with the same ones, or pass --overwrite")
                try:
                    history = fit(model, ds.X["train"], ds.y["train"], ds.X["validation"], ds.y["validation"],
                                  train_cfg, checkpoint=folder.resume_path, resume_from=state,
                                  checkpoint_extra={"run": identity})
                except ValueError as exc:
                    raise RunFolderError(f"--out {folder.shown}: cannot resume the run in {folder.staging}: {exc}; "
                                         "rerun it with the same settings, or pass --overwrite") from None
            else:
                if folder.resume:
                    logger.info("nothing to resume in %s: training from the start", folder.staging)
                history = fit(model, ds.X["train"], ds.y["train"], ds.X["validation"], ds.y["validation"],
                              train_cfg, checkpoint=folder.resume_path, checkpoint_extra={"run": identity})
        n_params, is_torch = model.n_parameters, True
    else:
        kw: dict[str, Any] = {}
        if cfg.model.startswith("mlp"):
            if cfg.train is not None:
                kw["train_config"] = cfg.train
            if cfg.model == "mlp-matched":
                kw["parameter_budget"] = cfg.head_for(ds.dim).parameter_counts()["total"]
        model = make_baseline(cfg.model, **kw).fit(ds.X["train"], ds.y["train"], ds.X["validation"], ds.y["validation"])
        history = getattr(model, "history", None)
        n_params, is_torch = model.n_parameters, False
        record["baseline"] = model.config()
    interrupted = history is not None and history.interrupted
    if interrupted and not history.epochs:
        raise RunInterrupted("interrupted before the first epoch finished: no run folder written",
                             None, 0, folder.resume_path.is_file())
    train_seconds = time.perf_counter() - t0
    # scoring and writing take seconds: a stop request now waits for the folder to be complete
    with interrupts.deferred():
        result = _score_and_write(cfg, out, folder, model, ds, record, history, n_params, is_torch, train_seconds,
                                  interrupted)
    if interrupts.pending():
        logger.warning("stop requested after training had finished: the run was completed and written")
    if interrupted:
        n = len(history.epochs)
        resumable = folder.resume_path.is_file()
        raise RunInterrupted(
            f"interrupted after {n} finished epoch{'s' if n != 1 else ''}: the best so far (epoch "
            f"{history.best_epoch}) is in {out} with status 'interrupted'"
            + ("; continue with --resume" if resumable else ""), result, n, resumable)
    logger.info("run %s: test accuracy %.4f", out, result.metrics["test"]["accuracy"])
    return result


def _score_and_write(cfg: RunConfig, out: Path, folder: RunFolder, model: Any, ds: Dataset, record: dict[str, Any],
                     history: Any, n_params: int, is_torch: bool, train_seconds: float,
                     interrupted: bool) -> RunResult:
    """Validation/test accuracy and the reference, then the run folder (committed as a whole)."""
    from hybrid.checkpoints import save_checkpoint

    metrics: dict[str, Any] = {
        "model": cfg.model, "status": STATUS_INTERRUPTED if interrupted else STATUS_FINISHED,
        "parameters": int(n_params), "train_seconds": train_seconds,
        "validation": (_accuracy_of(model, ds.X["validation"], ds.y["validation"], is_torch) if cfg.folds is None
                       else {"accuracy": record["cross_validation"]["val_accuracy_mean"],
                             "loss": record["cross_validation"]["val_loss_mean"],
                             "n": record["cross_validation"]["rows"], "cross_validated": True}),
        "test": _accuracy_of(model, ds.X["test"], ds.y["test"], is_torch),
        "history": None if history is None else history.to_dict(),
    }
    if cfg.reference:
        metrics["reference"] = {"logreg": _reference_logreg(ds)}

    def write(target: Path) -> None:  # metrics.json last: a folder with it is complete
        atomic_write_json(target / CONFIG_FILE, record)
        if is_torch:
            save_checkpoint(target / CHECKPOINT_FILE, model, cfg.train_config() if cfg.is_quantum else None,
                            extra={"run_config": record})
        elif cfg.model.startswith("mlp"):
            save_checkpoint(target / CHECKPOINT_FILE, model.model, model.train_config,
                            extra={"run_config": record, "hidden": model.hidden, "input_dim": model.input_dim})
        else:
            from hybrid.baselines import save_baseline

            save_baseline(target / ARRAYS_FILE, model)
        atomic_write_json(target / METRICS_FILE, json_safe(metrics))

    folder.commit(write, interrupted=interrupted)
    return RunResult(out, model, metrics)


def fold_indices(y: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Stratified fold of each row, ``(N,)`` in ``0..k-1``: each label's rows, in a seeded random
    order, are dealt to the folds in turn.

    Raises:
        ValueError: a label with fewer than ``k`` rows.
    """
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), dtype=np.int64)
    for label in np.unique(y):
        rows = np.flatnonzero(y == label)
        if len(rows) < k:
            raise ValueError(f"{k} folds need at least {k} rows of each label; label {label} has {len(rows)}")
        fold[rng.permutation(rows)] = np.arange(len(rows)) % k
    return fold


def cross_validate(head_cfg: HeadConfig, train_cfg: TrainConfig, ds: Dataset, k: int, *,
                   committee: bool = False) -> tuple[dict[str, Any], list[QuantumHead]]:
    """k-fold cross-validation of the quantum head over the pooled train + validation rows.

    For each fold: a fresh head, prepared and trained on the other folds with the held-out fold as
    validation data (selection and early stopping as in ``train_cfg``).  Without ``committee`` every
    fold starts from ``train_cfg.seed`` and fits its projection on its own training folds; with it
    (the heads become :func:`fold_committee` members) fold ``f`` starts from ``seed + f`` and every
    head fits the projection on all pooled inputs (label-free, so the held-out labels stay unseen).

    Returns:
        ``({"folds", "val_loss", "val_accuracy", …}, heads)``: per-fold held-out loss and accuracy,
        their ``mean``/``std``, the selected ``best_epochs`` per fold and ``epochs`` = their median
        (rounded, used for the refit); ``heads`` the k trained heads in fold order.
    """
    from hybrid.seeding import seed_everything
    from hybrid.training import evaluate, fit

    X = np.concatenate([ds.X["train"], ds.X["validation"]])
    y = np.concatenate([ds.y["train"], ds.y["validation"]])
    fold = fold_indices(y, k, train_cfg.seed)
    losses, accs, epochs, heads = [], [], [], []
    for f in range(k):
        tr, va = fold != f, fold == f
        seed_everything(train_cfg.seed + f if committee else train_cfg.seed)
        model = QuantumHead(head_cfg).prepare(X if committee else X[tr])
        hist = fit(model, X[tr], y[tr], X[va], y[va], train_cfg)
        if hist.interrupted:  # an unfinished fold would bias the epoch count: stop the whole run
            raise KeyboardInterrupt
        res = evaluate(model, X[va], y[va])
        losses.append(float(res["loss"]))
        accs.append(float(res["accuracy"]))
        epochs.append(int(hist.best_epoch))
        heads.append(model)
        logger.info("fold %d/%d: validation loss %.4f, accuracy %.4f, best epoch %d", f + 1, k, losses[-1],
                    accs[-1], epochs[-1])
    cv = {"folds": k, "rows": int(len(y)), "val_loss": losses, "val_accuracy": accs, "best_epochs": epochs,
          "val_loss_mean": float(np.mean(losses)), "val_loss_std": float(np.std(losses)),
          "val_accuracy_mean": float(np.mean(accs)), "val_accuracy_std": float(np.std(accs)),
          "epochs": max(1, int(round(float(np.median(epochs)))))}
    return cv, heads


def fold_committee(heads: list[QuantumHead]) -> QuantumHead:
    """One ensemble :class:`QuantumHead` whose members are ``heads`` (a cross-validation committee).

    ``logits(e) = (1/K) Σ_f head_f(e)``: the K = ``len(heads)`` fold heads of :func:`cross_validate`
    (``committee=True``), each trained on the other folds and stopped on its own, keep their
    weights and running statistics; they must share one configuration (``ensemble = 1``) and one
    fitted projection.
    """
    import torch

    if not heads:
        raise ValueError("a fold committee needs at least one fold head")
    first = heads[0]
    cfg = first.config
    if cfg.ensemble != 1 or any(h.config.to_dict() != cfg.to_dict() for h in heads):
        raise ValueError("a fold committee needs single heads (ensemble=1) of one configuration")
    if first.projection is not None and any(
            not torch.equal(h.projection.basis, first.projection.basis) for h in heads):
        raise ValueError("a fold committee needs one shared projection (fit it on the pooled inputs)")
    out = QuantumHead(dataclasses.replace(cfg, ensemble=len(heads)))
    if first.projection is not None:
        out.projection.load_state_dict(first.projection.state_dict())
    slots = [out, *out.members]
    for slot, head in zip(slots, heads):
        for name in ("encoders", "qpu", "linear"):
            part = getattr(head, name)
            if part is not None:
                getattr(slot, name).load_state_dict(part.state_dict())
    return out


def _finetune_end_to_end(cfg: RunConfig, head: QuantumHead, ds: Dataset, out: Path) -> tuple[Dataset, dict]:
    """Train body and ``head`` end to end, save the body as ``out/body``, re-embed the splits with it.

    ``out`` is the run's staging folder (renamed to the run folder at the end)."""
    from hybrid.finetune import finetune_end_to_end, save_body

    if ds.texts is None:
        raise ValueError("end-to-end fine-tuning needs the sentences: prepare the data with the run's finetune config")
    start = cfg.finetune  # from the SetFit body that prepare_data made, with setfit_first
    if cfg.finetune.setfit_first:
        start = dataclasses.replace(cfg.finetune, model=ds.info["finetune"]["body"])
    body, history = finetune_end_to_end(head, (ds.texts["train"], ds.y["train"]),
                                        (ds.texts["validation"], ds.y["validation"]), start,
                                        head_train=cfg.train_config())
    folder = out / BODY_FOLDER
    if folder.exists():
        shutil.rmtree(folder)
    save_body(body, folder, {"config": cfg.finetune.to_dict(), "history": history})
    own = dataclasses.replace(cfg.finetune, model=str(folder.resolve()), setfit_first=False)
    return prepare_data(cfg.data, own), history


def json_safe(obj: Any) -> Any:
    """Replace NaN/inf by ``None`` so the file is strict JSON."""
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


# --------------------------------------------------------------------------------------------
# Reading runs back


def read_run_config(run_dir: str | Path) -> tuple[RunConfig, dict[str, Any]]:
    """The :class:`RunConfig` of a run folder and the full record in ``config.json``.

    Raises:
        FileNotFoundError: no run folder or no ``config.json`` in it.
        ValueError: ``config.json`` is not valid JSON or not a run config.
    """
    folder = Path(run_dir)
    path = folder / CONFIG_FILE
    if not folder.is_dir():
        raise FileNotFoundError(f"run folder not found: {folder}")
    if not path.is_file():
        raise FileNotFoundError(f"{folder} is not a run folder: {CONFIG_FILE} is missing")
    record = read_json_object(path, str(path))
    fields = {f.name for f in dataclasses.fields(RunConfig)}
    known = {k: v for k, v in record.items() if k in fields}
    if isinstance(known.get("train"), dict):  # a run trained on a GPU can be read on a CPU machine
        known["train"] = readable_train_dict(known["train"])
    if isinstance(known.get("finetune"), dict):  # the same for a body fine-tuned on a GPU
        known["finetune"] = readable_train_dict(known["finetune"])
    return RunConfig.from_dict(known), record


def load_run_model(run_dir: str | Path):
    """The trained model of a run folder (a :class:`QuantumHead`, an ``MLPHead`` or a scikit-learn baseline)."""
    from hybrid.checkpoints import load_checkpoint

    folder = Path(run_dir)
    cfg, record = read_run_config(folder)
    if cfg.is_quantum:
        if not isinstance(record.get("head"), dict):
            raise ValueError(f"{folder / CONFIG_FILE}: a quantum run's config has no 'head' object (not written by "
                             "qhybrid train?)")
        model = QuantumHead(HeadConfig.from_dict(record["head"]))
        load_checkpoint(folder / CHECKPOINT_FILE, model)
        return model
    if cfg.model.startswith("mlp"):
        from hybrid.baselines import MLPHead

        ck = load_checkpoint(folder / CHECKPOINT_FILE)
        model = MLPHead(int(ck.extra["input_dim"]), int(ck.extra["hidden"]))
        load_checkpoint(folder / CHECKPOINT_FILE, model)
        return model
    from hybrid.baselines import load_baseline

    path = folder / ARRAYS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{folder}: {ARRAYS_FILE} is missing (runs of qhybrid < 0.2 kept a pickle, which "
                                "is no longer loaded: train the baseline again)")
    return load_baseline(path)


def evaluate_run(run_dir: str | Path, split: str = "test", *, data: str | None = None,
                 embeddings: str | None = None, dataset: Dataset | None = None) -> dict[str, Any]:
    """Accuracy of a run folder's model on ``split`` of the run's data.

    Args:
        run_dir: a folder written by :func:`train_run`.
        split: ``"train"``, ``"validation"`` or ``"test"``.
        data, embeddings: override the run's data folder / embeddings file (same corpus).
        dataset: already prepared data (skips loading).

    Returns:
        ``{"split", "accuracy", "n"}`` (+ ``"loss"`` for torch heads).
    """
    check_choice("evaluate_run", "split", split, SPLIT_NAMES)
    cfg, record = read_run_config(run_dir)
    status = (_read_metrics(Path(run_dir)) or {}).get("status")
    if status == STATUS_INTERRUPTED:
        logger.warning("%s is an interrupted run: its model is the best epoch before the interruption", run_dir)
    model = load_run_model(run_dir)
    if dataset is None:
        dcfg = dataclasses.replace(cfg.data, **{k: v for k, v in (("data", data), ("embeddings", embeddings)) if v})
        ft = cfg.finetune
        if ft is not None and ft.mode == "full":  # the run's own fine-tuned body
            ft = dataclasses.replace(ft, model=str((Path(run_dir) / BODY_FOLDER).resolve()), setfit_first=False)
        dataset = prepare_data(dcfg, ft)
    trained_dim = _trained_width(record, model)
    if trained_dim is not None and dataset.dim != trained_dim:
        source = embeddings or dataset.info.get("embeddings") or "the embeddings"
        raise ValueError(f"{run_dir}: the model was trained on {trained_dim}-dimensional embeddings, but {source} "
                         f"has {dataset.dim} dimensions; evaluate with the embeddings it was trained on")
    is_torch = not hasattr(model, "score")
    res = _accuracy_of(model, dataset.X[split], dataset.y[split], is_torch)
    return {"split": split, **res}


def _read_metrics(folder: Path) -> dict[str, Any] | None:
    try:
        return read_json_object(folder / METRICS_FILE, str(folder / METRICS_FILE))
    except (OSError, ValueError):
        return None


def _trained_width(record: dict[str, Any], model: Any) -> int | None:
    """Embedding width a run's model takes: from the model itself, else from the run record."""
    for value in (getattr(model, "input_dim", None),
                  (record.get("head") or {}).get("input_dim") if isinstance(record.get("head"), dict) else None,
                  getattr(model, "n_features_in_", None),
                  (record.get("data_info") or {}).get("dim") if isinstance(record.get("data_info"), dict) else None):
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            return int(value)
    return None
