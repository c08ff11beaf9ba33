"""Validation helpers and JSON round trips for the configuration dataclasses of :mod:`hybrid`.

A config dataclass inherits :class:`JSONConfig` and gets ``to_dict`` / ``from_dict`` /
``to_json`` / ``from_json``; nested configs are listed in its ``_nested`` mapping.  Every check
raises :class:`ValueError` naming the owner, the field and the bad value.

:class:`TrainConfig`, the hyperparameters of :func:`hybrid.training.fit`, lives here too: the
training loop writes checkpoints (:mod:`hybrid.checkpoints`) and checkpoints read the config back,
so the config sits below both (``hybrid.training`` re-exports it).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

__all__ = ["DTYPES", "OPTIMIZERS", "SCHEDULERS", "SELECTIONS", "JSONConfig", "TrainConfig", "check_bool",
           "check_choice", "check_float", "check_int", "config_from_dict", "one_line", "read_json_object",
           "readable_train_dict"]

logger = logging.getLogger(__name__)

#: Config dtype names -> torch dtypes.
DTYPES = {"float32": torch.float32, "float64": torch.float64}


def check_int(owner: str, name: str, value: Any, low: int, high: int | None = None) -> int:
    """``value`` as an ``int`` in ``[low, high]`` (bools rejected)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{owner}.{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        rng = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{owner}.{name} must be {rng}, got {value!r}")
    return int(value)


def check_choice(owner: str, name: str, value: Any, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{owner}.{name} must be one of {tuple(choices)}, got {value!r}")
    return value


def check_float(owner: str, name: str, value: Any, *, positive: bool = False, low: float | None = None,
                high: float | None = None) -> float:
    """``value`` as a finite ``float`` (``> 0`` when ``positive``; ``>= low`` and ``<= high`` when given)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{owner}.{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or (positive and value <= 0):
        raise ValueError(f"{owner}.{name} must be a finite{' positive' if positive else ''} number, got {value!r}")
    if low is not None and value < low:
        raise ValueError(f"{owner}.{name} must be >= {low}, got {value!r}")
    if high is not None and value > high:
        raise ValueError(f"{owner}.{name} must be <= {high}, got {value!r}")
    return value


def check_bool(owner: str, name: str, value: Any) -> bool:
    """``value`` if it is ``True`` or ``False``."""
    if not isinstance(value, bool):
        raise ValueError(f"{owner}.{name} must be true or false, got {value!r}")
    return value


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (some library messages, torch's among them, span several)."""
    return " ".join(str(exc).split())


def read_json_object(path, label: str) -> dict[str, Any]:
    """Parse the JSON object in ``path``; errors start with ``label`` (the file as the user named it)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{label}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{label}: expected a JSON object, got {type(data).__name__}")
    return data


def config_from_dict(cls, data: Mapping[str, Any], nested: Mapping[str, type] | None = None):
    """``cls(**data)`` with unknown keys rejected by name and nested configs built recursively."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{cls.__name__}: expected a JSON object, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys {unknown}; valid keys are {sorted(names)}")
    kwargs = dict(data)
    for key, sub in (nested or {}).items():
        if kwargs.get(key) is not None and not isinstance(kwargs[key], sub):
            kwargs[key] = sub.from_dict(kwargs[key])
    return cls(**kwargs)


class JSONConfig:
    """``to_dict`` / ``from_dict`` / ``to_json`` / ``from_json`` for the config dataclasses."""

    _nested: dict[str, type] = {}

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = v.to_dict() if hasattr(v, "to_dict") else v
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]):
        return config_from_dict(cls, data, cls._nested)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{cls.__name__} JSON is not valid: {exc}") from None
        return cls.from_dict(data)


# --------------------------------------------------------------------------------------------
# Training hyperparameters

OPTIMIZERS = ("adam", "adamw")
SCHEDULERS = ("none", "exponential", "cosine")
SELECTIONS = ("loss", "accuracy")
#: Largest seed (NumPy's global seed is a 32-bit integer).
MAX_SEED = 2**32 - 1
#: TrainConfig fields that do not change the trained weights (a resumed run may differ in them).
DISPLAY_FIELDS = ("progress",)


@dataclass
class TrainConfig(JSONConfig):
    """Hyperparameters of :func:`hybrid.training.fit`; round-trips through JSON (:class:`JSONConfig`).

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
        o = "TrainConfig"
        check_choice(o, "optimizer", self.optimizer, OPTIMIZERS)
        check_choice(o, "select", self.select, SELECTIONS)
        check_choice(o, "scheduler", self.scheduler, SCHEDULERS)
        self.lr = check_float(o, "lr", self.lr, positive=True)
        self.weight_decay = check_float(o, "weight_decay", self.weight_decay, low=0)
        self.batch_size = check_int(o, "batch_size", self.batch_size, 1)
        self.epochs = check_int(o, "epochs", self.epochs, 1)
        self.gamma = check_float(o, "gamma", self.gamma, positive=True, high=1)
        self.min_lr = check_float(o, "min_lr", self.min_lr, low=0, high=self.lr)
        if self.patience is not None:
            self.patience = check_int(o, "patience", self.patience, 1)
        self.seed = check_int(o, "seed", self.seed, 0, MAX_SEED)
        self._check_device()
        check_bool(o, "deterministic", self.deterministic)
        check_bool(o, "progress", self.progress)

    def _check_device(self) -> None:
        if not isinstance(self.device, str) or not self.device:
            raise ValueError(f"TrainConfig.device must be a device string like 'cpu', got {self.device!r}")
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

    def weights_key(self) -> dict[str, Any]:
        """The fields that decide the trained weights (all but display settings such as ``progress``)."""
        return {k: v for k, v in self.to_dict().items() if k not in DISPLAY_FIELDS}


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
