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
an uninterrupted run would have (bit for bit on the CPU).  The file formats (this training state,
and the checkpoints of trained heads) are :mod:`hybrid.checkpoints`; the hyperparameters are
:class:`~hybrid.config.TrainConfig`.  Both are re-exported here.

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
import json
import logging
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from hybrid import interrupts
from hybrid.checkpoints import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    TRAINING_STATE_FORMAT,
    TRAINING_STATE_VERSION,
    Checkpoint,
    TrainingState,
    check_resumable,
    load_checkpoint,
    load_training_state,
    save_checkpoint,
    save_training_state,
)
from hybrid.config import OPTIMIZERS, SCHEDULERS, SELECTIONS, TrainConfig, readable_train_dict
from hybrid.seeding import deterministic as deterministic_mode

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "EVAL_BATCH_SIZE",
    "OPTIMIZERS",
    "SCHEDULERS",
    "SELECTIONS",
    "Checkpoint",
    "EpochMetrics",
    "History",
    "TRAINING_STATE_FORMAT",
    "TRAINING_STATE_VERSION",
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

#: Rows per forward pass in :func:`evaluate` / :func:`predict_logits` (memory, not accuracy).
EVAL_BATCH_SIZE = 4096


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
        check_resumable(resume_from, cfg, shape)
        resume_from.restore(model, optimizer, scheduler, order_rng)
        history = History.from_dict(resume_from.history)
        best_key = None if resume_from.best_key is None else tuple(resume_from.best_key)
        best_state = None if resume_from.best_state is None else {
            k: v.to(device) for k, v in resume_from.best_state.items()}
        stale = resume_from.stale
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
                    save_training_state(checkpoint, TrainingState.capture(
                        epoch=epoch, model=model, optimizer=optimizer, scheduler=scheduler,
                        history=history.to_dict(), best_key=best_key, best_state=best_state, stale=stale,
                        order_rng=order_rng, config=cfg, shape=shape, extra=extra))
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
