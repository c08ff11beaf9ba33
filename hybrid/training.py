"""Generic supervised training of a classification head on fixed embeddings.

Works for any ``torch.nn.Module`` that maps float inputs ``(B, d)`` to logits ``(B, C)``
(C = 2 for SST-2): the classical MLPs of :mod:`hybrid.baselines` and the quantum heads alike.

Objective: the mean cross-entropy over a mini-batch ``b``,

.. math::

    L(\\theta) = -\\frac{1}{|b|} \\sum_{i \\in b}
                  \\log \\mathrm{softmax}(f_\\theta(x_i))_{y_i},

minimised with Adam or AdamW (decoupled weight decay), with an optional per-epoch learning-rate
schedule: exponential ``lr_e = lr * gamma**e`` or cosine
``lr_e = min_lr + (lr - min_lr) (1 + cos(pi e / E)) / 2``.

Model selection: after every epoch the model is scored on the validation set; the best epoch is
the one with the highest validation accuracy, ties broken by the lower validation loss. Its
weights are restored at the end, also after early stopping (``patience`` epochs without
improvement) or a Ctrl-C (then ``History.interrupted`` is true).

Resumable training: with ``checkpoint=PATH`` :func:`fit` writes, after every finished epoch and
atomically, the whole training state (model, optimizer, scheduler, history, best weights, early-
stopping counter and the random-number states, the mini-batch order's included).
``fit(..., resume_from=load_training_state(PATH))`` continues from it and ends with the weights
an uninterrupted run would have (bit for bit on the CPU).

Example::

    seed_everything(0)                         # before building the model: reproducible init
    model = MLPHead(768, 48)
    cfg = TrainConfig(lr=1e-3, epochs=100, patience=20)
    history = fit(model, X_train, y_train, X_val, y_val, cfg)
    evaluate(model, X_test, y_test)            # {'accuracy': ..., 'loss': ..., 'n': ...}
    save_checkpoint("run/head.pt", model, cfg, extra={"history": history.to_dict()})
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from hybrid import interrupts
from hybrid.seeding import deterministic as deterministic_mode
from qsim.atomic import atomic_write

__all__ = [
    "CHECKPOINT_FORMAT",
    "EVAL_BATCH_SIZE",
    "OPTIMIZERS",
    "SCHEDULERS",
    "Checkpoint",
    "EpochMetrics",
    "History",
    "TRAINING_STATE_FORMAT",
    "TrainConfig",
    "TrainingState",
    "evaluate",
    "fit",
    "load_checkpoint",
    "load_training_state",
    "predict",
    "predict_logits",
    "readable_train_dict",
    "save_checkpoint",
    "save_training_state",
]

logger = logging.getLogger(__name__)

OPTIMIZERS = ("adam", "adamw")
SCHEDULERS = ("none", "exponential", "cosine")
SELECTIONS = ("loss", "accuracy")
#: Rows per forward pass in :func:`evaluate` / :func:`predict_logits` (memory, not accuracy).
EVAL_BATCH_SIZE = 4096
CHECKPOINT_FORMAT = "qhybrid-checkpoint"
CHECKPOINT_VERSION = 1
#: Format tag and version of the resumable training state written by :func:`fit` (``checkpoint=``).
TRAINING_STATE_FORMAT = "qhybrid-training-state"
TRAINING_STATE_VERSION = 1
#: TrainConfig fields that do not change the trained weights (a resumed run may differ in them).
_DISPLAY_FIELDS = ("progress",)


# --------------------------------------------------------------------------------------------
# Configuration


def _check_number(name: str, value: Any, kind: type, *, low: float | None = None,
                  low_open: bool = False, high: float | None = None) -> Any:
    """Validate a numeric config field (bools are rejected; ints are accepted for floats)."""
    ok_types = (int,) if kind is int else (int, float)
    if isinstance(value, bool) or not isinstance(value, ok_types + (np.integer, np.floating)):
        raise ValueError(f"TrainConfig.{name} must be {kind.__name__}, got {value!r}")
    if kind is int and isinstance(value, (float, np.floating)):
        raise ValueError(f"TrainConfig.{name} must be an integer, got {value!r}")
    value = kind(value)
    if kind is float and not math.isfinite(value):
        raise ValueError(f"TrainConfig.{name} must be finite, got {value!r}")
    if low is not None and (value < low or (low_open and value == low)):
        op = ">" if low_open else ">="
        raise ValueError(f"TrainConfig.{name} must be {op} {low}, got {value!r}")
    if high is not None and value > high:
        raise ValueError(f"TrainConfig.{name} must be <= {high}, got {value!r}")
    return value


@dataclass
class TrainConfig:
    """Hyperparameters of :func:`fit`; round-trips through JSON (:meth:`to_dict`,
    :meth:`from_dict`).

    Attributes:
        optimizer: ``"adam"`` or ``"adamw"`` (decoupled weight decay).
        lr: initial learning rate (> 0).
        weight_decay: L2 penalty (Adam) or decoupled decay (AdamW), >= 0.
        batch_size: training mini-batch size (>= 1).
        epochs: maximum number of passes over the training set (>= 1).
        scheduler: ``"none"``, ``"exponential"`` (``lr * gamma**epoch``) or ``"cosine"``
            (from ``lr`` to ``min_lr`` over ``epochs``); stepped once per epoch.
        gamma: exponential decay factor per epoch, in (0, 1].
        min_lr: final learning rate of the cosine schedule (>= 0, <= lr).
        patience: stop after this many epochs without a better validation score;
            ``None`` = never stop early. Needs validation data.
        select: which epoch's weights are kept: ``"loss"`` (lowest validation loss, higher
            accuracy breaks ties; the default: on 77 validation sentences one sentence moves
            accuracy by 1.3 points, the loss much less) or ``"accuracy"`` (highest validation
            accuracy, lower loss breaks ties).
        seed: seeds the mini-batch order, and torch/NumPy for anything random in the model
            (dropout, shot sampling). Seed *before* building the model for a reproducible init.
        device: torch device string (``"cpu"``, ``"cuda"``, ``"cuda:1"``).
        deterministic: run with torch deterministic algorithms (see :mod:`hybrid.seeding`).
        progress: show a tqdm bar with loss and accuracy.
    """

    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 32
    epochs: int = 50
    scheduler: str = "none"
    gamma: float = 0.95
    min_lr: float = 0.0
    patience: int | None = None
    select: str = "loss"
    seed: int = 0
    device: str = "cpu"
    deterministic: bool = True
    progress: bool = True

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"TrainConfig.optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}"
            )
        if self.select not in SELECTIONS:
            raise ValueError(f"TrainConfig.select must be one of {SELECTIONS}, got {self.select!r}")
        if self.scheduler not in SCHEDULERS:
            raise ValueError(
                f"TrainConfig.scheduler must be one of {SCHEDULERS}, got {self.scheduler!r}"
            )
        self.lr = _check_number("lr", self.lr, float, low=0.0, low_open=True)
        self.weight_decay = _check_number("weight_decay", self.weight_decay, float, low=0.0)
        self.batch_size = _check_number("batch_size", self.batch_size, int, low=1)
        self.epochs = _check_number("epochs", self.epochs, int, low=1)
        self.gamma = _check_number("gamma", self.gamma, float, low=0.0, low_open=True, high=1.0)
        self.min_lr = _check_number("min_lr", self.min_lr, float, low=0.0, high=self.lr)
        if self.patience is not None:
            self.patience = _check_number("patience", self.patience, int, low=1)
        self.seed = _check_number("seed", self.seed, int, low=0, high=2**32 - 1)
        if not isinstance(self.device, str) or not self.device:
            raise ValueError(
                f"TrainConfig.device must be a device string like 'cpu', got {self.device!r}"
            )
        try:
            device = torch.device(self.device)
        except (RuntimeError, ValueError) as exc:
            raise ValueError(f"TrainConfig.device: bad device {self.device!r} ({exc})") from None
        if device.type == "cuda":
            if not torch.cuda.is_available():
                raise ValueError(f"TrainConfig.device={self.device!r} but this machine has no CUDA device "
                                 "(or this torch build has no CUDA support); use 'cpu'")
            if device.index is not None and device.index >= torch.cuda.device_count():
                raise ValueError(f"TrainConfig.device={self.device!r} but this machine has "
                                 f"{torch.cuda.device_count()} CUDA device(s)")
        for name in ("deterministic", "progress"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(
                    f"TrainConfig.{name} must be true or false, got {getattr(self, name)!r}"
                )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict of every field."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Build from a dict (e.g. parsed JSON); missing keys take their defaults.

        Raises:
            ValueError: an unknown key (the valid ones are listed) or a bad value.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"TrainConfig.from_dict expects a mapping, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig keys {unknown}; valid keys are {sorted(known)}")
        return cls(**dict(data))

    def weights_key(self) -> dict[str, Any]:
        """The fields that decide the trained weights (all but display settings such as ``progress``)."""
        return {k: v for k, v in self.to_dict().items() if k not in _DISPLAY_FIELDS}

    def to_json(self) -> str:
        """JSON text (sorted keys)."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        """Parse :meth:`to_json` output (errors as in :meth:`from_dict`)."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"TrainConfig JSON is not valid: {exc}") from None
        return cls.from_dict(data)


def readable_train_dict(data: Mapping[str, Any]) -> dict[str, Any]:
    """A stored :class:`TrainConfig` dict made loadable on this machine: a CUDA ``device`` (the run
    trained on a GPU) becomes ``"cpu"`` when no CUDA device is here, so that checkpoints and run
    folders from a GPU machine can still be read and evaluated."""
    out = dict(data)
    device = out.get("device")
    if isinstance(device, str) and device.startswith("cuda") and not torch.cuda.is_available():
        logger.info("trained on %s; read back for the CPU (no CUDA device here)", device)
        out["device"] = "cpu"
    return out


# --------------------------------------------------------------------------------------------
# History


@dataclass
class EpochMetrics:
    """Metrics of one epoch.

    ``train_loss`` / ``train_accuracy`` are averaged over the epoch's mini-batches as they were
    trained (the weights move during the epoch); ``val_*`` are measured after the epoch, and
    are NaN without validation data. ``lr`` is the learning rate used during the epoch.
    """

    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    lr: float
    seconds: float


@dataclass
class History:
    """What :func:`fit` did.

    Attributes:
        epochs: one :class:`EpochMetrics` per completed epoch.
        best_epoch: 1-based epoch whose weights the model holds after :func:`fit`
            (the last completed one without validation data; ``None`` if none completed).
        stopped_early: early stopping ended the run.
        interrupted: a ``KeyboardInterrupt`` ended the run (the best weights were restored).
        seconds: wall time of the whole fit.
    """

    epochs: list[EpochMetrics] = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False
    interrupted: bool = False
    seconds: float = 0.0

    @property
    def best(self) -> EpochMetrics | None:
        """Metrics of :attr:`best_epoch`."""
        if self.best_epoch is None:
            return None
        return self.epochs[self.best_epoch - 1]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict (NaN is written as ``null``)."""
        def clean(v: Any) -> Any:
            return None if isinstance(v, float) and math.isnan(v) else v

        return {
            "epochs": [
                {k: clean(v) for k, v in dataclasses.asdict(e).items()} for e in self.epochs
            ],
            "best_epoch": self.best_epoch,
            "stopped_early": self.stopped_early,
            "interrupted": self.interrupted,
            "seconds": self.seconds,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> History:
        """Inverse of :meth:`to_dict`."""
        epochs = [
            EpochMetrics(**{k: (math.nan if v is None else v) for k, v in e.items()})
            for e in data.get("epochs", [])
        ]
        return cls(
            epochs=epochs,
            best_epoch=data.get("best_epoch"),
            stopped_early=bool(data.get("stopped_early", False)),
            interrupted=bool(data.get("interrupted", False)),
            seconds=float(data.get("seconds", 0.0)),
        )


# --------------------------------------------------------------------------------------------
# Helpers


def _model_device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    """Device of the first parameter/buffer and dtype of the first floating one
    (defaults: CPU, float32)."""
    device, dtype = torch.device("cpu"), torch.float32
    tensors = list(model.parameters()) + list(model.buffers())
    if tensors:
        device = tensors[0].device
    for t in tensors:
        if t.is_floating_point():
            dtype = t.dtype
            break
    return device, dtype


def _as_inputs(X: Any, name: str, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    x = torch.as_tensor(X)
    if x.ndim != 2:
        raise ValueError(f"{name} must be 2-D (samples, features), got shape {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    if not x.is_floating_point():
        raise ValueError(f"{name} must hold floats, got dtype {x.dtype}")
    return x.to(device=device, dtype=dtype)


def _as_labels(y: Any, name: str, n: int, device: torch.device) -> torch.Tensor:
    t = torch.as_tensor(y)
    if t.ndim != 1 or t.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},) to match the inputs, got {tuple(t.shape)}")
    if t.is_complex() or (t.is_floating_point() and not torch.all(t == torch.round(t))):
        raise ValueError(f"{name} must hold integer class labels, got dtype {t.dtype}")
    t = t.to(torch.int64)
    if t.min() < 0:
        raise ValueError(f"{name} holds negative label {int(t.min())}")
    return t.to(device)


def _check_logits(logits: torch.Tensor, batch: int, y_max: int) -> None:
    if logits.ndim != 2 or logits.shape[0] != batch:
        raise ValueError(
            f"the model must return logits of shape ({batch}, n_classes), got {tuple(logits.shape)}"
        )
    if y_max >= logits.shape[1]:
        raise ValueError(f"label {y_max} out of range for a model with {logits.shape[1]} outputs")


def _resolve_device(name: str) -> torch.device:
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"TrainConfig.device={name!r} but CUDA is not available here; use 'cpu'")
    return device


@torch.no_grad()
def predict_logits(model: nn.Module, X: Any, *, batch_size: int = EVAL_BATCH_SIZE) -> torch.Tensor:
    """Logits ``(N, C)`` of ``model`` on ``X`` (eval mode, no gradients), on the CPU."""
    device, dtype = _model_device_dtype(model)
    x = _as_inputs(X, "X", dtype, torch.device("cpu"))
    was_training = model.training
    model.eval()
    try:
        out = [
            model(x[i : i + batch_size].to(device)).detach().cpu()
            for i in range(0, len(x), batch_size)
        ]
    finally:
        model.train(was_training)
    return torch.cat(out)


def predict(model: nn.Module, X: Any, *, batch_size: int = EVAL_BATCH_SIZE) -> np.ndarray:
    """Predicted classes ``argmax_c f(x)_c`` as an ``int64`` NumPy array."""
    return predict_logits(model, X, batch_size=batch_size).argmax(dim=1).numpy().astype(np.int64)


def evaluate(
    model: nn.Module, X: Any, y: Any, *, batch_size: int = EVAL_BATCH_SIZE
) -> dict[str, float | int]:
    """Accuracy and mean cross-entropy of ``model`` on ``(X, y)``.

    Returns:
        ``{"accuracy": float, "loss": float, "n": int}``.
    """
    logits = predict_logits(model, X, batch_size=batch_size)
    labels = _as_labels(y, "y", logits.shape[0], torch.device("cpu"))
    _check_logits(logits, logits.shape[0], int(labels.max()))
    loss = nn.functional.cross_entropy(logits.to(torch.float64), labels).item()
    acc = (logits.argmax(dim=1) == labels).double().mean().item()
    return {"accuracy": acc, "loss": loss, "n": int(labels.shape[0])}


def _make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters")
    cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    return cls(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def _make_scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig) -> Any:
    if cfg.scheduler == "exponential":
        return torch.optim.lr_scheduler.ExponentialLR(opt, gamma=cfg.gamma)
    if cfg.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs, eta_min=cfg.min_lr)
    return None


def _selection_key(select: str, acc: float, loss: float) -> tuple[float, float]:
    """Smaller is better: ``(loss, -accuracy)`` for ``"loss"``, ``(-accuracy, loss)`` for ``"accuracy"``."""
    return (loss, -acc) if select == "loss" else (-acc, loss)


# --------------------------------------------------------------------------------------------
# Training


def fit(
    model: nn.Module,
    X_train: Any,
    y_train: Any,
    X_val: Any | None = None,
    y_val: Any | None = None,
    config: TrainConfig | None = None,
    *,
    checkpoint: str | os.PathLike[str] | None = None,
    resume_from: TrainingState | None = None,
    checkpoint_extra: Mapping[str, Any] | None = None,
) -> History:
    """Train ``model`` in place with mini-batch cross-entropy; return the per-epoch history.

    Args:
        model: maps float inputs ``(B, d)`` to logits ``(B, C)``. Moved to ``config.device``;
            inputs are cast to the dtype of its first floating parameter (float32 / float64).
        X_train, y_train: arrays or tensors ``(N, d)`` and integer labels ``(N,)``.
        X_val, y_val: validation data for model selection and early stopping (optional;
            without it the final weights are kept and ``patience`` must be ``None``).
        config: hyperparameters (default ``TrainConfig()``).
        checkpoint: after every finished epoch, write the resumable training state here
            (atomically, :func:`save_training_state`).
        resume_from: a state read by :func:`load_training_state`: training continues after its
            epoch (its config and data shape must match; ``progress`` may differ).
        checkpoint_extra: JSON-serialisable metadata stored with every checkpoint.

    Returns:
        :class:`History`; the model holds the weights of ``history.best_epoch``. A
        ``KeyboardInterrupt`` (Ctrl-C; under :class:`hybrid.interrupts.StopSignals` SIGINT and
        SIGTERM, taken before the next mini-batch) ends training early with
        ``history.interrupted`` set; the best finished epoch's weights are restored.

    Raises:
        ValueError: bad shapes/labels, model output of the wrong shape, patience without
            validation data, a ``resume_from`` state of another configuration or data shape.
        FloatingPointError: the training loss became NaN or infinite.
    """
    cfg = config if config is not None else TrainConfig()
    has_val = X_val is not None or y_val is not None
    if has_val and (X_val is None or y_val is None):
        raise ValueError("pass both X_val and y_val, or neither")
    if cfg.patience is not None and not has_val:
        raise ValueError("TrainConfig.patience (early stopping) needs validation data X_val, y_val")
    device = _resolve_device(cfg.device)
    model.to(device)
    _, dtype = _model_device_dtype(model)
    x_tr = _as_inputs(X_train, "X_train", dtype, device)
    y_tr = _as_labels(y_train, "y_train", x_tr.shape[0], device)
    if has_val:
        x_va = _as_inputs(X_val, "X_val", dtype, device)
        y_va = _as_labels(y_val, "y_val", x_va.shape[0], device)
        if x_va.shape[1] != x_tr.shape[1]:
            raise ValueError(f"X_val has {x_va.shape[1]} features, X_train {x_tr.shape[1]}")
    n = x_tr.shape[0]
    y_max = int(y_tr.max())
    shape = {"train_rows": int(n), "features": int(x_tr.shape[1]),
             "validation_rows": int(x_va.shape[0]) if has_val else 0}
    extra = dict(checkpoint_extra or {})
    if checkpoint is not None:
        try:
            json.dumps(extra)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"fit: checkpoint_extra must be JSON-serialisable ({exc})") from None

    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    # mini-batch order: its own generator, so model randomness (dropout, shots) cannot shift it
    order_rng = torch.Generator().manual_seed(cfg.seed)
    optimizer = _make_optimizer(model, cfg)
    scheduler = _make_scheduler(optimizer, cfg)
    loss_fn = nn.CrossEntropyLoss()

    history = History()
    best_key: tuple[float, float] | None = None
    best_state: dict[str, torch.Tensor] | None = None
    stale = 0
    first_epoch, seconds_before = 1, 0.0
    if resume_from is not None:
        _check_resumable(resume_from, cfg, shape)
        try:
            model.load_state_dict(resume_from.model)
            optimizer.load_state_dict(resume_from.optimizer)
        except (RuntimeError, ValueError, KeyError) as exc:
            raise ValueError(f"the training state does not fit this model: {_one_line(exc)}") from None
        if scheduler is not None and resume_from.scheduler is not None:
            scheduler.load_state_dict(resume_from.scheduler)
        history = History.from_dict(resume_from.history)
        best_key = None if resume_from.best_key is None else tuple(resume_from.best_key)
        best_state = None if resume_from.best_state is None else {
            k: v.to(device) for k, v in resume_from.best_state.items()}
        stale = resume_from.stale
        order_rng.set_state(resume_from.order_rng)
        torch.set_rng_state(resume_from.torch_rng)
        np.random.set_state(resume_from.numpy_rng_state())
        first_epoch = resume_from.epoch + 1
        seconds_before = history.seconds
        if history.stopped_early:
            first_epoch = cfg.epochs + 1
        logger.info("resuming after epoch %d of %d", resume_from.epoch, cfg.epochs)
    best_val_acc = math.nan if history.best is None else history.best.val_accuracy
    t_start = time.perf_counter()
    bar = tqdm(total=cfg.epochs, initial=first_epoch - 1, desc="train", unit="epoch", disable=not cfg.progress,
               leave=False)
    try:
        with deterministic_mode(cfg.deterministic), interrupts.deferred():
            for epoch in range(first_epoch, cfg.epochs + 1):
                t0 = time.perf_counter()
                model.train()
                lr = float(optimizer.param_groups[0]["lr"])
                perm = torch.randperm(n, generator=order_rng).to(device)
                loss_sum, correct = 0.0, 0
                for start in range(0, n, cfg.batch_size):
                    interrupts.check()  # a SIGINT/SIGTERM under hybrid.interrupts.StopSignals stops here
                    idx = perm[start : start + cfg.batch_size]
                    xb, yb = x_tr[idx], y_tr[idx]
                    optimizer.zero_grad(set_to_none=True)
                    logits = model(xb)
                    if epoch == first_epoch and start == 0:
                        _check_logits(logits, len(idx), y_max)
                    loss = loss_fn(logits, yb)
                    if not torch.isfinite(loss):
                        raise FloatingPointError(
                            f"training loss is {loss.item()} at epoch {epoch}, batch starting at "
                            f"row {start}; lower the learning rate (lr={cfg.lr})"
                        )
                    loss.backward()
                    optimizer.step()
                    loss_sum += loss.item() * len(idx)
                    correct += int((logits.detach().argmax(dim=1) == yb).sum())
                if scheduler is not None:
                    scheduler.step()
                if has_val:
                    val = evaluate(model, x_va, y_va)
                    val_loss, val_acc = float(val["loss"]), float(val["accuracy"])
                else:
                    val_loss = val_acc = math.nan
                m = EpochMetrics(
                    epoch=epoch, train_loss=loss_sum / n, train_accuracy=correct / n,
                    val_loss=val_loss, val_accuracy=val_acc, lr=lr,
                    seconds=time.perf_counter() - t0,
                )
                history.epochs.append(m)
                if not has_val:
                    history.best_epoch = epoch
                elif best_key is None or _selection_key(cfg.select, val_acc, val_loss) < best_key:
                    best_key = _selection_key(cfg.select, val_acc, val_loss)
                    best_val_acc = val_acc
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                    history.best_epoch = epoch
                    stale = 0
                else:
                    stale += 1
                stop = cfg.patience is not None and stale >= cfg.patience
                history.stopped_early = stop
                bar.update(1)
                postfix = {"loss": f"{m.train_loss:.4f}", "acc": f"{m.train_accuracy:.3f}"}
                if has_val and best_key is not None:
                    postfix.update(val_acc=f"{val_acc:.3f}", best=f"{best_val_acc:.3f}")
                bar.set_postfix(postfix)
                logger.debug("epoch %d: %s", epoch, m)
                if checkpoint is not None:
                    history.seconds = seconds_before + time.perf_counter() - t_start
                    save_training_state(checkpoint, TrainingState(
                        epoch=epoch, model=_cpu_copy(model.state_dict()), optimizer=optimizer.state_dict(),
                        scheduler=None if scheduler is None else scheduler.state_dict(),
                        history=history.to_dict(), best_key=None if best_key is None else list(best_key),
                        best_state=None if best_state is None else _cpu_copy(best_state), stale=stale,
                        order_rng=order_rng.get_state(), torch_rng=torch.get_rng_state(),
                        numpy_rng=_numpy_rng_state(), config=cfg.to_dict(), shape=shape, extra=extra))
                if stop:
                    logger.info(
                        "early stop after epoch %d (best epoch %d)", epoch, history.best_epoch
                    )
                    break
    except BaseException as exc:
        if not interrupts.is_interrupt(exc):
            raise
        history.interrupted = True
        logger.warning(
            "training interrupted after %d epochs; restoring the best weights (epoch %s)",
            len(history.epochs), history.best_epoch,
        )
    finally:
        bar.close()
        if best_state is not None:
            model.load_state_dict(best_state)
        history.seconds = seconds_before + time.perf_counter() - t_start
    return history


# --------------------------------------------------------------------------------------------
# Resumable training state


@dataclass
class TrainingState:
    """Everything :func:`fit` needs to continue after a finished epoch.

    Attributes:
        epoch: the last finished epoch (1-based).
        model, optimizer, scheduler: state dicts (``scheduler`` is ``None`` without one).
        history: :meth:`History.to_dict` up to ``epoch``.
        best_key, best_state: the selection key and the weights of the best epoch so far.
        stale: epochs since the best one (early-stopping counter).
        order_rng, torch_rng: states of the mini-batch order generator and of torch's global one.
        numpy_rng: NumPy's global random state as tensors (:meth:`numpy_rng_state` rebuilds it).
        config: the :class:`TrainConfig` dict of the run.
        shape: rows and features of the training and validation data.
        extra: caller metadata (JSON).
    """

    epoch: int
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any] | None
    history: dict[str, Any]
    best_key: list[float] | None
    best_state: dict[str, torch.Tensor] | None
    stale: int
    order_rng: torch.Tensor
    torch_rng: torch.Tensor
    numpy_rng: dict[str, Any]
    config: dict[str, Any]
    shape: dict[str, int]
    extra: dict[str, Any] = field(default_factory=dict)

    def numpy_rng_state(self) -> dict[str, Any]:
        """The state for ``numpy.random.set_state``."""
        r = self.numpy_rng
        return {"bit_generator": r["bit_generator"],
                "state": {"key": r["key"].numpy().astype(np.uint32), "pos": int(r["pos"])},
                "has_gauss": int(r["has_gauss"]), "gauss": float(r["gauss"])}


def _cpu_copy(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in state.items()}


def _numpy_rng_state() -> dict[str, Any]:
    st = np.random.get_state(legacy=False)
    return {"bit_generator": st["bit_generator"], "key": torch.from_numpy(st["state"]["key"].astype(np.int64)),
            "pos": int(st["state"]["pos"]), "has_gauss": int(st["has_gauss"]), "gauss": float(st["gauss"])}


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _check_resumable(state: TrainingState, cfg: TrainConfig, shape: Mapping[str, int]) -> None:
    """Raise ValueError, naming the first difference, when ``state`` is not a run of ``cfg`` on data of ``shape``."""
    saved = TrainConfig.from_dict(readable_train_dict(state.config)).weights_key()
    for key, value in cfg.weights_key().items():
        if saved.get(key) != value:
            raise ValueError(f"the training state was written with TrainConfig.{key}={saved.get(key)!r}, "
                             f"this run has {value!r}")
    for key, value in shape.items():
        if state.shape.get(key) != value:
            raise ValueError(f"the training state was written for data with {key}={state.shape.get(key)}, "
                             f"this data has {value}")
    if not 1 <= state.epoch <= cfg.epochs:
        raise ValueError(f"the training state is at epoch {state.epoch}, outside 1..{cfg.epochs}")


def save_training_state(path: str | os.PathLike[str], state: TrainingState) -> Path:
    """Write ``state`` atomically as a ``torch.save`` archive readable with ``weights_only=True``."""
    payload = {"format": TRAINING_STATE_FORMAT, "version": TRAINING_STATE_VERSION,
               **{f.name: getattr(state, f.name) for f in dataclasses.fields(state)},
               "extra": json.dumps(state.extra)}
    buf = io.BytesIO()
    torch.save(payload, buf)
    return atomic_write(path, buf.getvalue())


def load_training_state(path: str | os.PathLike[str]) -> TrainingState:
    """Read a state written by :func:`save_training_state` (``torch.load(weights_only=True)``: no code).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a training state of this version, or unreadable.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"training state not found: {p}")
    try:
        payload = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{p}: not a readable training state ({type(exc).__name__}: {_one_line(exc)})") from None
    if not isinstance(payload, dict) or payload.get("format") != TRAINING_STATE_FORMAT:
        raise ValueError(f"{p}: not a {TRAINING_STATE_FORMAT} file")
    if payload.get("version") != TRAINING_STATE_VERSION:
        raise ValueError(f"{p}: training state version {payload.get('version')!r}; this qhybrid reads version "
                         f"{TRAINING_STATE_VERSION}")
    try:
        fields = {f.name: payload[f.name] for f in dataclasses.fields(TrainingState)}
        fields["extra"] = json.loads(fields["extra"])
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{p}: incomplete training state ({type(exc).__name__}: {exc})") from None
    return TrainingState(**fields)


# --------------------------------------------------------------------------------------------
# Checkpoints


@dataclass
class Checkpoint:
    """Contents of a checkpoint file.

    Attributes:
        state_dict: the model's tensors.
        config: the :class:`TrainConfig` it was trained with (``None`` if not saved).
        extra: any JSON-serialisable metadata (model config, history, metrics, data split).
        model_class: ``module.QualName`` of the saved model, for error messages.
    """

    state_dict: dict[str, torch.Tensor]
    config: TrainConfig | None
    extra: dict[str, Any]
    model_class: str


def save_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    config: TrainConfig | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model``'s weights, its training config and ``extra`` metadata atomically.

    The file is a ``torch.save`` archive readable with ``torch.load(weights_only=True)``.
    ``extra`` must be JSON-serialisable (so the checkpoint stays safe to load).

    Raises:
        TypeError: ``extra`` is not JSON-serialisable.
    """
    extra_dict = dict(extra or {})
    try:
        json.dumps(extra_dict, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"save_checkpoint: extra must be JSON-serialisable ({exc})") from None
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "model_class": f"{type(model).__module__}.{type(model).__qualname__}",
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "config": None if config is None else config.to_dict(),
        "extra": extra_dict,
    }
    buf = io.BytesIO()
    torch.save(payload, buf)
    return atomic_write(path, buf.getvalue())


def load_checkpoint(
    path: str | os.PathLike[str], model: nn.Module | None = None, *, map_location: str = "cpu"
) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`; load it into ``model`` if given.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a qhybrid checkpoint, an unsupported version, or weights that do not fit
            ``model`` (missing/unexpected keys or shapes, named).
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"checkpoint not found: {p}")
    try:
        payload = torch.load(p, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise ValueError(f"{p}: not a readable checkpoint ({type(exc).__name__}: {_one_line(exc)})") from exc
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{p}: not a {CHECKPOINT_FORMAT} file")
    if payload.get("version") != CHECKPOINT_VERSION:
        raise ValueError(
            f"{p}: checkpoint version {payload.get('version')!r}; "
            f"this qhybrid reads version {CHECKPOINT_VERSION}"
        )
    cfg = payload.get("config")
    ckpt = Checkpoint(
        state_dict=payload["state_dict"],
        config=None if cfg is None else TrainConfig.from_dict(readable_train_dict(cfg)),
        extra=dict(payload.get("extra") or {}),
        model_class=str(payload.get("model_class", "")),
    )
    if model is not None:
        try:
            model.load_state_dict(ckpt.state_dict)
        except RuntimeError as exc:
            raise ValueError(
                f"{p}: weights of {ckpt.model_class} do not fit {type(model).__qualname__}: {_one_line(exc)}"
            ) from None
    return ckpt
