"""Checkpoint files of trained heads, and the resumable state of :func:`hybrid.training.fit`.

Two formats, both ``torch.save`` archives written atomically (:func:`qsim.atomic.atomic_write`)
and read with ``torch.load(weights_only=True)``, so that no code can come from a file:

* a **checkpoint** (:func:`save_checkpoint` / :func:`load_checkpoint`): a model's weights, the
  :class:`~hybrid.config.TrainConfig` it was trained with and JSON metadata;
* a **training state** (:class:`TrainingState`, :func:`save_training_state` /
  :func:`load_training_state`): everything :func:`hybrid.training.fit` needs to continue after a
  finished epoch (model, optimizer, scheduler, history, best weights, early-stopping counter and
  every random-number state, the mini-batch order's included), so that a resumed fit ends with the
  weights an uninterrupted one would have (bit for bit on the CPU).

Example::

    save_checkpoint("run/head.pt", model, cfg, extra={"history": history.to_dict()})
    ckpt = load_checkpoint("run/head.pt", MLPHead(768, 48))     # the weights are loaded into it
    state = load_training_state("run.partial/resume.pt")
    fit(model, X, y, X_val, y_val, cfg, resume_from=state)
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hybrid.config import TrainConfig, one_line, readable_train_dict
from qsim.atomic import atomic_write

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_VERSION",
    "TRAINING_STATE_FORMAT",
    "TRAINING_STATE_VERSION",
    "Checkpoint",
    "TrainingState",
    "check_resumable",
    "load_checkpoint",
    "load_training_state",
    "save_checkpoint",
    "save_training_state",
]

CHECKPOINT_FORMAT = "qhybrid-checkpoint"
CHECKPOINT_VERSION = 1
#: Format tag and version of the resumable training state written by :func:`hybrid.training.fit` (``checkpoint=``).
TRAINING_STATE_FORMAT = "qhybrid-training-state"
TRAINING_STATE_VERSION = 1


# --------------------------------------------------------------------------------------------
# Resumable training state


@dataclass
class TrainingState:
    """Everything :func:`hybrid.training.fit` needs to continue after a finished epoch.

    Attributes:
        epoch: the last finished epoch (1-based).
        model, optimizer, scheduler: state dicts (``scheduler`` is ``None`` without one).
        history: :meth:`hybrid.training.History.to_dict` up to ``epoch``.
        best_key, best_state: the selection key and the weights of the best epoch so far.
        stale: epochs since the best one (early-stopping counter).
        order_rng, torch_rng: states of the mini-batch order generator and of torch's global one.
        numpy_rng: NumPy's global random state as tensors (:meth:`numpy_rng_state` rebuilds it).
        config: the :class:`~hybrid.config.TrainConfig` dict of the run.
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

    @classmethod
    def capture(cls, *, epoch: int, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
                history: dict[str, Any], best_key: tuple[float, float] | None,
                best_state: Mapping[str, torch.Tensor] | None, stale: int, order_rng: torch.Generator,
                config: TrainConfig, shape: dict[str, int], extra: dict[str, Any]) -> TrainingState:
        """The state of a training loop after ``epoch``: tensors copied to the CPU, the global random
        states (torch's, NumPy's) read now."""
        st = np.random.get_state(legacy=False)
        numpy_rng = {"bit_generator": st["bit_generator"], "key": torch.from_numpy(st["state"]["key"].astype(np.int64)),
                     "pos": int(st["state"]["pos"]), "has_gauss": int(st["has_gauss"]), "gauss": float(st["gauss"])}
        return cls(epoch=epoch, model=_cpu_copy(model.state_dict()), optimizer=optimizer.state_dict(),
                   scheduler=None if scheduler is None else scheduler.state_dict(), history=history,
                   best_key=None if best_key is None else list(best_key),
                   best_state=None if best_state is None else _cpu_copy(best_state), stale=stale,
                   order_rng=order_rng.get_state(), torch_rng=torch.get_rng_state(), numpy_rng=numpy_rng,
                   config=config.to_dict(), shape=shape, extra=extra)

    def restore(self, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
                order_rng: torch.Generator) -> None:
        """Load the model, optimizer and scheduler states and every random-number state.

        Raises:
            ValueError: the states do not fit ``model`` / ``optimizer`` (in one line).
        """
        try:
            model.load_state_dict(self.model)
            optimizer.load_state_dict(self.optimizer)
        except (RuntimeError, ValueError, KeyError) as exc:
            raise ValueError(f"the training state does not fit this model: {one_line(exc)}") from None
        if scheduler is not None and self.scheduler is not None:
            scheduler.load_state_dict(self.scheduler)
        order_rng.set_state(self.order_rng)
        torch.set_rng_state(self.torch_rng)
        np.random.set_state(self.numpy_rng_state())

    def numpy_rng_state(self) -> dict[str, Any]:
        """The state for ``numpy.random.set_state``."""
        r = self.numpy_rng
        return {"bit_generator": r["bit_generator"],
                "state": {"key": r["key"].numpy().astype(np.uint32), "pos": int(r["pos"])},
                "has_gauss": int(r["has_gauss"]), "gauss": float(r["gauss"])}


def _cpu_copy(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in state.items()}


def check_resumable(state: TrainingState, cfg: TrainConfig, shape: Mapping[str, int]) -> None:
    """Raise ValueError, naming the first difference, when ``state`` is not a run of ``cfg`` on data of
    ``shape`` (display settings such as ``progress`` may differ)."""
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
    return atomic_write(path, _archive(payload))


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
        raise ValueError(f"{p}: not a readable training state ({type(exc).__name__}: {one_line(exc)})") from None
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
        config: the :class:`~hybrid.config.TrainConfig` it was trained with (``None`` if not saved).
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
    return atomic_write(path, _archive(payload))


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
        raise ValueError(f"{p}: not a readable checkpoint ({type(exc).__name__}: {one_line(exc)})") from exc
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
                f"{p}: weights of {ckpt.model_class} do not fit {type(model).__qualname__}: {one_line(exc)}"
            ) from None
    return ckpt


def _archive(payload: dict[str, Any]) -> bytes:
    """``payload`` as the bytes of a ``torch.save`` archive."""
    buf = io.BytesIO()
    torch.save(payload, buf)
    return buf.getvalue()
