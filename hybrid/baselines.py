"""Classical classification heads on frozen embeddings, with parameter counts (paper.md section 2).

Every head implements :class:`ClassicalBaseline`: ``fit(X, y, X_val, y_val)``, ``predict(X)``,
``score(X, y)`` and ``n_parameters``. :func:`make_baseline` builds one by name.

==================  =======================================  ===================================
name                model                                    parameters (d inputs, 2 classes)
==================  =======================================  ===================================
``logreg``          logistic regression, sigmoid(w.x + b)    d + 1 (769 for d = 768)
``svc``             RBF-kernel SVC (``C``, default 1)        number of support vectors
``svc-c100``        the same with C = 100 (any ``svc-c<C>``)
``mlp-0``           linear d -> 2                            2d + 2 (1,538)
``mlp-<h>``         d -> h -> ReLU -> 2                      d h + h + 2 h + 2
                                                             (h = 48, 96, 144, 192: 37,010,
                                                             74,018, 111,026, 148,034)
``mlp-matched``     the MLP whose count is closest to a      ``parameter_budget=...`` (e.g. a
                    given budget                             quantum head's count)
==================  =======================================  ===================================

The SVC "parameter count" follows the paper's reading (MerLin's configs): the number of stored
support vectors, not the ``n_sv * d`` floats they occupy.

The MLPs train with :func:`hybrid.training.fit` (Adam, cross-entropy, best-validation
checkpoint, early stopping); scikit-learn heads ignore the validation set.

Persistence without pickle: the scikit-learn heads give their fitted state as plain arrays plus
JSON metadata (``to_state`` / ``from_state``); :func:`save_baseline` writes them as one ``.npz``
(the metadata as a 0-d string array ``__meta__``) and :func:`load_baseline` reads it back with
``allow_pickle=False``, so a baseline file from someone else can hold numbers, never code.
"""

from __future__ import annotations

import abc
import dataclasses
import io
import json
import logging
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hybrid.config import check_float, check_int
from hybrid.files import read_npz
from hybrid.seeding import seed_everything
from hybrid.training import History, TrainConfig, fit, predict
from qsim.atomic import atomic_write

__all__ = [
    "BASELINE_FORMAT",
    "BASELINE_NAMES",
    "MLP_DEFAULT_CONFIG",
    "MLP_HIDDEN_SIZES",
    "ClassicalBaseline",
    "LogisticRegressionBaseline",
    "MLPBaseline",
    "MLPHead",
    "RBFDecision",
    "SVCBaseline",
    "load_baseline",
    "make_baseline",
    "matched_hidden_size",
    "mlp_parameter_count",
    "save_baseline",
]

logger = logging.getLogger(__name__)

#: Hidden sizes of the paper's MLP baselines (0 = a single linear layer).
MLP_HIDDEN_SIZES = (0, 48, 96, 144, 192)
#: Names accepted by :func:`make_baseline` (plus any ``mlp-<h>`` and ``svc-c<C>``).
BASELINE_NAMES = (
    "logreg", "svc", "svc-c100", *(f"mlp-{h}" for h in MLP_HIDDEN_SIZES), "mlp-matched"
)
#: Training defaults for the MLP heads. Not from the paper (which gives none); chosen so the
#: 435-sentence paper split trains in seconds on 2 cores with early stopping on validation.
MLP_DEFAULT_CONFIG = TrainConfig(
    optimizer="adam", lr=1e-3, weight_decay=0.0, batch_size=32, epochs=200, patience=30,
    progress=False,
)


#: Version of the file format written by :func:`save_baseline`.
BASELINE_FORMAT = 1
#: Key of the JSON metadata (a 0-d unicode array) in a baseline ``.npz``.
_META_KEY = "__meta__"


def _check_2d(X: Any, name: str = "X") -> np.ndarray:
    arr = np.asarray(X)
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(
            f"{name} must be a non-empty 2-D array (samples, features), got shape {arr.shape}"
        )
    return arr


# --------------------------------------------------------------------------------------------
# MLP


def mlp_parameter_count(input_dim: int, hidden: int, n_classes: int = 2) -> int:
    """Trainable parameters of :class:`MLPHead`.

    ``hidden = 0``: ``d C + C``; otherwise ``d h + h + h C + C`` (weights and biases of both
    layers). For d = 768, C = 2: h = 0 -> 1,538; 48 -> 37,010; 192 -> 148,034.
    """
    if input_dim < 1 or hidden < 0 or n_classes < 2:
        raise ValueError(
            "need input_dim >= 1, hidden >= 0, n_classes >= 2; "
            f"got {input_dim}, {hidden}, {n_classes}"
        )
    if hidden == 0:
        return input_dim * n_classes + n_classes
    return input_dim * hidden + hidden + hidden * n_classes + n_classes


def matched_hidden_size(parameter_budget: int, input_dim: int, n_classes: int = 2) -> int:
    """The hidden size h >= 0 whose :func:`mlp_parameter_count` is closest to ``parameter_budget``.

    For h >= 1 the count ``h (d + 1 + C) + C`` grows linearly, so the best h >= 1 is
    ``round((budget - C) / (d + 1 + C))`` (clamped to >= 1); it is then compared with h = 0
    (``d C + C``). Ties go to the smaller model. A budget below the linear layer's count gives
    h = 0 or 1, whichever is closer; the result never matches exactly in general.
    """
    if parameter_budget < 1:
        raise ValueError(f"parameter_budget must be >= 1, got {parameter_budget}")
    h = max(1, round((parameter_budget - n_classes) / (input_dim + 1 + n_classes)))
    candidates = {max(1, h - 1), h, h + 1, 0}
    return min(
        sorted(candidates),
        key=lambda k: (abs(mlp_parameter_count(input_dim, k, n_classes) - parameter_budget),
                       mlp_parameter_count(input_dim, k, n_classes)),
    )


class MLPHead(nn.Module):
    """``x -> W2 relu(W1 x + b1) + b2`` (or ``W x + b`` when ``hidden = 0``), logits ``(B, C)``.

    Args:
        input_dim: d.
        hidden: hidden width h (0 = one linear layer).
        n_classes: C (2 for SST-2).
    """

    def __init__(self, input_dim: int, hidden: int = 0, n_classes: int = 2) -> None:
        super().__init__()
        mlp_parameter_count(input_dim, hidden, n_classes)  # validates the sizes
        self.input_dim, self.hidden, self.n_classes = int(input_dim), int(hidden), int(n_classes)
        if hidden == 0:
            self.net: nn.Module = nn.Linear(input_dim, n_classes)
        else:
            self.net = nn.Sequential(
                nn.Linear(input_dim, hidden), nn.ReLU(), nn.Linear(hidden, n_classes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    @property
    def n_parameters(self) -> int:
        """Number of trainable parameters (equals :func:`mlp_parameter_count`)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def extra_repr(self) -> str:
        return f"input_dim={self.input_dim}, hidden={self.hidden}, n_classes={self.n_classes}"


# --------------------------------------------------------------------------------------------
# Common interface


class ClassicalBaseline(abc.ABC):
    """A classical head: fit on embeddings, predict labels, report its size.

    Subclasses set :attr:`name` and implement :meth:`fit`, :meth:`predict`, :attr:`n_parameters`
    and :meth:`config`.
    """

    name: str = "baseline"

    @abc.abstractmethod
    def fit(
        self, X: Any, y: Any, X_val: Any | None = None, y_val: Any | None = None
    ) -> ClassicalBaseline:
        """Train on ``(X, y)``; ``(X_val, y_val)`` is used for model selection where the head
        supports it. Returns ``self``."""

    @abc.abstractmethod
    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels, ``int64`` array ``(N,)``."""

    @property
    @abc.abstractmethod
    def n_parameters(self) -> int:
        """Trainable parameter count (see the module table); may need :meth:`fit` first."""

    @abc.abstractmethod
    def config(self) -> dict[str, Any]:
        """JSON-serialisable description (name, hyperparameters), for run records."""

    def score(self, X: Any, y: Any) -> float:
        """Accuracy of :meth:`predict` on ``(X, y)``."""
        y = np.asarray(y)
        pred = self.predict(X)
        if pred.shape != y.shape:
            raise ValueError(f"y has shape {y.shape}, predictions {pred.shape}")
        return float(np.mean(pred == y))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config()})"


class LogisticRegressionBaseline(ClassicalBaseline):
    """scikit-learn ``LogisticRegression``: ``p(y=1|x) = sigmoid(w.x + b)``, d + 1 parameters.

    Args:
        C: inverse L2 regularisation strength (scikit-learn's default 1.0).
        max_iter: solver iterations (5000 avoids convergence warnings on 768-d embeddings).
        input_dim: d, to know :attr:`n_parameters` before fitting.
        seed: ``random_state`` (matters only for stochastic solvers).
    """

    name = "logreg"

    def __init__(
        self, C: float = 1.0, max_iter: int = 5000, input_dim: int | None = None, seed: int = 0
    ) -> None:
        if not C > 0:
            raise ValueError(f"C must be > 0, got {C}")
        self.C, self.max_iter, self.input_dim, self.seed = float(C), int(max_iter), input_dim, seed
        self.model: Any = None

    def fit(self, X, y, X_val=None, y_val=None) -> LogisticRegressionBaseline:
        from sklearn.linear_model import LogisticRegression

        X = _check_2d(X)
        self.input_dim = X.shape[1]
        self.model = LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=self.seed)
        self.model.fit(X, np.asarray(y))
        return self

    def predict(self, X) -> np.ndarray:
        if self.model is None:
            raise RuntimeError("LogisticRegressionBaseline.predict called before fit")
        return self.model.predict(_check_2d(X)).astype(np.int64)

    def to_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The fitted model as arrays ``coef (1|C, d)``, ``intercept (1|C,)``, ``classes (C,)``
        and JSON metadata (:meth:`config` plus ``input_dim`` and ``seed``)."""
        if self.model is None:
            raise RuntimeError("LogisticRegressionBaseline.to_state called before fit")
        arrays = {"coef": np.asarray(self.model.coef_, dtype=np.float64),
                  "intercept": np.asarray(self.model.intercept_, dtype=np.float64),
                  "classes": np.asarray(self.model.classes_)}
        return arrays, {**self.config(), "input_dim": int(self.input_dim), "seed": self.seed}

    @classmethod
    def from_state(
        cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]
    ) -> LogisticRegressionBaseline:
        """Rebuild a fitted model from :meth:`to_state`; it predicts exactly as the saved one."""
        from sklearn.linear_model import LogisticRegression

        coef = _state_array(arrays, "coef", 2)
        intercept = _state_array(arrays, "intercept", 1)
        classes = _state_array(arrays, "classes", 1, kinds="biuU")
        rows = 1 if len(classes) == 2 else len(classes)
        if len(classes) < 2 or coef.shape[0] != rows or intercept.shape != (rows,):
            raise ValueError(
                f"logreg arrays disagree: coef {coef.shape}, intercept {intercept.shape}, "
                f"{len(classes)} classes"
            )
        base = cls(
            C=check_float("logreg", "C", meta.get("C"), positive=True),
            max_iter=check_int("logreg", "max_iter", meta.get("max_iter"), 1),
            input_dim=coef.shape[1],
            seed=check_int("logreg", "seed", meta.get("seed", 0), 0),
        )
        model = LogisticRegression(C=base.C, max_iter=base.max_iter, random_state=base.seed)
        model.coef_, model.intercept_, model.classes_ = coef, intercept, classes
        model.n_features_in_ = coef.shape[1]
        base.model = model
        return base

    @property
    def n_parameters(self) -> int:
        if self.model is not None:
            return int(self.model.coef_.size + self.model.intercept_.size)
        if self.input_dim is None:
            raise RuntimeError("n_parameters of logreg needs input_dim or a fitted model")
        return int(self.input_dim) + 1

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "C": self.C, "max_iter": self.max_iter}


class SVCBaseline(ClassicalBaseline):
    """scikit-learn ``SVC`` with the RBF kernel ``k(x, x') = exp(-gamma ||x - x'||^2)``.

    Decision function ``f(x) = sum_i alpha_i y_i k(x_i, x) + b`` over the support vectors;
    :attr:`n_parameters` is their number (the paper's convention), known after :meth:`fit`.

    Args:
        C: soft-margin penalty (the paper's two SVCs: C = 1 and C = 100).
        gamma: kernel width, ``"scale"`` = 1 / (d Var(X)) (scikit-learn's default) or a float.
    """

    name = "svc"

    def __init__(self, C: float = 1.0, gamma: str | float = "scale") -> None:
        if not C > 0:
            raise ValueError(f"C must be > 0, got {C}")
        self.C, self.gamma = float(C), gamma
        self.model: Any = None

    def fit(self, X, y, X_val=None, y_val=None) -> SVCBaseline:
        from sklearn.svm import SVC

        self.model = SVC(C=self.C, kernel="rbf", gamma=self.gamma)
        self.model.fit(_check_2d(X), np.asarray(y))
        return self

    def predict(self, X) -> np.ndarray:
        if self.model is None:
            raise RuntimeError("SVCBaseline.predict called before fit")
        return self.model.predict(_check_2d(X)).astype(np.int64)

    def to_state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The fitted (two-class) model as arrays ``support_vectors (n_sv, d)``,
        ``dual_coef (1, n_sv)``, ``intercept (1,)``, ``classes (2,)``, ``n_support (2,)`` and JSON
        metadata (:meth:`config` plus the kernel width actually used, ``gamma_value``)."""
        if self.model is None:
            raise RuntimeError("SVCBaseline.to_state called before fit")
        m = self.model
        if len(m.classes_) != 2:
            raise ValueError(
                f"SVCBaseline.to_state supports two classes, the model has {len(m.classes_)}"
            )
        arrays = {
            "support_vectors": np.asarray(m.support_vectors_, dtype=np.float64),
            "dual_coef": np.asarray(m.dual_coef_, dtype=np.float64),
            "intercept": np.asarray(m.intercept_, dtype=np.float64),
            "classes": np.asarray(m.classes_),
            "n_support": np.asarray(m.n_support_, dtype=np.int64),
        }
        return arrays, {**self.config(), "gamma_value": float(m._gamma)}

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> SVCBaseline:
        """Rebuild a fitted model from :meth:`to_state`; it predicts with :class:`RBFDecision`
        (the same decision function in NumPy), not a reconstructed scikit-learn object."""
        gamma = meta.get("gamma")
        if gamma != "scale" and gamma != "auto":
            gamma = check_float("svc", "gamma", gamma, positive=True)
        if meta.get("kernel", "rbf") != "rbf":
            raise ValueError(f"svc kernel {meta.get('kernel')!r} is not supported (only 'rbf')")
        base = cls(C=check_float("svc", "C", meta.get("C"), positive=True), gamma=gamma)
        base.model = RBFDecision(
            _state_array(arrays, "support_vectors", 2), _state_array(arrays, "dual_coef", 2),
            _state_array(arrays, "intercept", 1), _state_array(arrays, "classes", 1, kinds="biuU"),
            _state_array(arrays, "n_support", 1, kinds="iu"),
            check_float("svc", "gamma_value", meta.get("gamma_value"), positive=True))
        return base

    @property
    def n_parameters(self) -> int:
        if self.model is None:
            raise RuntimeError(
                "the SVC's parameter count (its support vectors) is known only after fit"
            )
        return int(self.model.n_support_.sum())

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "C": self.C, "gamma": self.gamma, "kernel": "rbf"}


class MLPBaseline(ClassicalBaseline):
    """:class:`MLPHead` trained with :func:`hybrid.training.fit`.

    Args:
        hidden: hidden width h (0 = linear). Give either this or ``parameter_budget``.
        parameter_budget: choose h by :func:`matched_hidden_size` (at fit time, once d is known,
            or at once if ``input_dim`` is given).
        input_dim: d (optional; fixed by the data at :meth:`fit`).
        train_config: :class:`~hybrid.training.TrainConfig` (default :data:`MLP_DEFAULT_CONFIG`);
            its seed also seeds the weight initialisation. Without validation data the
            early-stopping patience is switched off.
        n_classes: C.

    After :meth:`fit`, :attr:`model` is the trained module and :attr:`history` its
    :class:`~hybrid.training.History`.
    """

    def __init__(
        self,
        hidden: int | None = None,
        *,
        parameter_budget: int | None = None,
        input_dim: int | None = None,
        train_config: TrainConfig | None = None,
        n_classes: int = 2,
    ) -> None:
        if (hidden is None) == (parameter_budget is None):
            raise ValueError("give exactly one of hidden and parameter_budget")
        if hidden is not None and hidden < 0:
            raise ValueError(f"hidden must be >= 0, got {hidden}")
        self.parameter_budget = parameter_budget
        self.n_classes = n_classes
        base = train_config if train_config is not None else MLP_DEFAULT_CONFIG
        self.train_config = dataclasses.replace(base)  # a copy: the default is shared
        self.input_dim = input_dim
        self.hidden = hidden
        if parameter_budget is not None and input_dim is not None:
            self.hidden = matched_hidden_size(parameter_budget, input_dim, n_classes)
        self.model: MLPHead | None = None
        self.history: History | None = None

    @property
    def name(self) -> str:  # type: ignore[override]
        return "mlp-matched" if self.parameter_budget is not None else f"mlp-{self.hidden}"

    def fit(self, X, y, X_val=None, y_val=None) -> MLPBaseline:
        X = _check_2d(X)
        d = X.shape[1]
        if self.input_dim is not None and self.input_dim != d:
            raise ValueError(
                f"MLPBaseline was built for input_dim={self.input_dim}, X has {d} features"
            )
        self.input_dim = d
        if self.parameter_budget is not None:
            self.hidden = matched_hidden_size(self.parameter_budget, d, self.n_classes)
            logger.info(
                "mlp-matched: budget %d -> hidden %d (%d parameters)",
                self.parameter_budget,
                self.hidden,
                mlp_parameter_count(d, self.hidden, self.n_classes),
            )
        cfg = self.train_config
        if X_val is None and cfg.patience is not None:
            cfg = dataclasses.replace(cfg, patience=None)
        seed_everything(cfg.seed)
        self.model = MLPHead(d, int(self.hidden), self.n_classes)
        X_val32 = None if X_val is None else np.asarray(X_val, dtype=np.float32)
        self.history = fit(self.model, X.astype(np.float32, copy=False), y, X_val32, y_val, cfg)
        return self

    def predict(self, X) -> np.ndarray:
        if self.model is None:
            raise RuntimeError("MLPBaseline.predict called before fit")
        return predict(self.model, _check_2d(X).astype(np.float32, copy=False))

    @property
    def n_parameters(self) -> int:
        if self.input_dim is None or self.hidden is None:
            raise RuntimeError(f"n_parameters of {self.name} needs input_dim or a fitted model")
        return mlp_parameter_count(self.input_dim, self.hidden, self.n_classes)

    def config(self) -> dict[str, Any]:
        return {
            "name": self.name, "hidden": self.hidden, "parameter_budget": self.parameter_budget,
            "n_classes": self.n_classes, "train_config": self.train_config.to_dict(),
        }


class RBFDecision:
    """A fitted two-class RBF support-vector classifier as plain arrays.

    ``f(x) = Σ_i a_i exp(-γ ||s_i - x||²) + b`` over the support vectors ``s_i`` (``a_i`` =
    ``dual_coef[0, i]``, ``b`` = ``intercept[0]``); the label is ``classes[1]`` where ``f > 0``,
    else ``classes[0]`` (scikit-learn's convention). ``||s - x||²`` is expanded as
    ``s·s + x·x - 2 s·x``, as libsvm does. Attribute names follow scikit-learn's ``SVC``.
    """

    def __init__(self, support_vectors: np.ndarray, dual_coef: np.ndarray, intercept: np.ndarray,
                 classes: np.ndarray, n_support: np.ndarray, gamma: float) -> None:
        n_sv, _ = support_vectors.shape
        if (dual_coef.shape != (1, n_sv) or intercept.shape != (1,) or len(classes) != 2
                or n_support.shape != (2,) or int(n_support.sum()) != n_sv):
            raise ValueError(
                f"svc arrays disagree: support_vectors {support_vectors.shape}, dual_coef "
                f"{dual_coef.shape}, intercept {intercept.shape}, classes {classes.shape}, "
                f"n_support {n_support.tolist()}"
            )
        self.support_vectors_ = np.asarray(support_vectors, dtype=np.float64)
        self.dual_coef_ = np.asarray(dual_coef, dtype=np.float64)
        self.intercept_ = np.asarray(intercept, dtype=np.float64)
        self.classes_ = classes
        self.n_support_ = n_support
        self._gamma = float(gamma)  # the name scikit-learn's SVC uses, so to_state reads either

    def decision_function(self, X: Any) -> np.ndarray:
        """``f(x)`` per row of ``X (N, d)``."""
        X = np.asarray(X, dtype=np.float64)
        sv = self.support_vectors_
        if X.ndim != 2 or X.shape[1] != sv.shape[1]:
            raise ValueError(f"X has shape {X.shape}, the SVC was fitted on {sv.shape[1]} features")
        d2 = (X * X).sum(axis=1)[:, None] + (sv * sv).sum(axis=1)[None, :] - 2.0 * X @ sv.T
        return np.exp(-self._gamma * d2) @ self.dual_coef_[0] + self.intercept_[0]

    def predict(self, X: Any) -> np.ndarray:
        """``classes[1]`` where :meth:`decision_function` is positive, else ``classes[0]``."""
        return self.classes_[(self.decision_function(X) > 0).astype(np.int64)]


def _state_array(
    arrays: dict[str, np.ndarray], key: str, ndim: int, kinds: str = "f"
) -> np.ndarray:
    """``arrays[key]``, checked for presence, rank, dtype kind and finite values."""
    if key not in arrays:
        raise ValueError(f"missing array {key!r} (has {sorted(arrays)})")
    a = arrays[key]
    finite = a.dtype.kind != "f" or bool(np.all(np.isfinite(a)))
    if a.ndim != ndim or a.dtype.kind not in kinds or not finite:
        what = "finite floats" if kinds == "f" else "labels"
        raise ValueError(
            f"array {key!r} has shape {a.shape} and dtype {a.dtype}; expected {ndim}-D {what}"
        )
    return a


_SVC_C = re.compile(r"^svc-c(?P<C>[0-9]+(?:\.[0-9]*)?(?:e[+-]?[0-9]+)?)$")
_MLP_H = re.compile(r"^mlp-(?P<h>[0-9]+)$")


def make_baseline(name: str, **kwargs: Any) -> ClassicalBaseline:
    """Build a baseline by name (see the module table); ``kwargs`` go to its constructor.

    Examples: ``make_baseline("logreg")``, ``make_baseline("svc", C=100)``,
    ``make_baseline("svc-c100")``, ``make_baseline("mlp-48", train_config=cfg)``,
    ``make_baseline("mlp-matched", parameter_budget=886)``.

    Raises:
        ValueError: unknown name (the known ones are listed), or ``mlp-matched`` without
            ``parameter_budget``.
    """
    key = name.strip().lower()
    if key in ("logreg", "logistic", "logistic-regression"):
        return LogisticRegressionBaseline(**kwargs)
    if key == "svc":
        return SVCBaseline(**kwargs)
    if m := _SVC_C.match(key):
        if "C" in kwargs:
            raise ValueError(f"baseline {name!r} fixes C; do not pass C={kwargs['C']!r} too")
        return SVCBaseline(C=float(m["C"]), **kwargs)
    if key == "mlp-matched":
        if kwargs.get("parameter_budget") is None:
            raise ValueError(
                "mlp-matched needs parameter_budget=<count>, e.g. the quantum head's n_parameters"
            )
        return MLPBaseline(**kwargs)
    if m := _MLP_H.match(key):
        return MLPBaseline(hidden=int(m["h"]), **kwargs)
    raise ValueError(
        f"unknown baseline {name!r}; choose one of {list(BASELINE_NAMES)} (or mlp-<h>, svc-c<C>)"
    )


#: Classes :func:`save_baseline` and :func:`load_baseline` handle, by the name stored in a file.
_PERSISTABLE: dict[str, type] = {
    "LogisticRegressionBaseline": LogisticRegressionBaseline, "SVCBaseline": SVCBaseline,
}


def save_baseline(path: str | os.PathLike[str], model: ClassicalBaseline) -> Path:
    """Write a fitted scikit-learn baseline as an ``.npz`` of plain arrays, atomically, no pickle.

    The arrays are ``model.to_state()``'s; the metadata (with ``class`` and ``format``) is a JSON
    string in the 0-d array ``__meta__``. Read it back with :func:`load_baseline`.

    Raises:
        ValueError: ``model`` is not a kind that can be saved this way (MLPs have torch
            checkpoints).
    """
    kind = type(model).__name__
    if _PERSISTABLE.get(kind) is not type(model):
        raise ValueError(
            f"save_baseline: {kind} cannot be saved as arrays; supported: {sorted(_PERSISTABLE)}"
        )
    arrays, meta = model.to_state()
    record = json.dumps({**meta, "class": kind, "format": BASELINE_FORMAT}, sort_keys=True)
    buf = io.BytesIO()
    np.savez(buf, allow_pickle=False, **{_META_KEY: np.array(record)}, **arrays)
    return atomic_write(path, buf.getvalue())


def load_baseline(path: str | os.PathLike[str]) -> ClassicalBaseline:
    """Read a baseline written by :func:`save_baseline` (``allow_pickle=False``).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is not such a baseline (not an ``.npz``, pickled objects, missing or
            bad metadata, unknown class or format, inconsistent arrays); the message names the file.
    """
    arrays = read_npz(path)
    raw = arrays.pop(_META_KEY, None)
    if raw is None or raw.shape != () or raw.dtype.kind != "U":
        raise ValueError(
            f"{path}: no baseline metadata ({_META_KEY!r}); not a file written by save_baseline"
        )
    try:
        meta = json.loads(str(raw))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: baseline metadata is not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise ValueError(
            f"{path}: baseline metadata is a {type(meta).__name__}, expected a JSON object"
        )
    if meta.get("format") != BASELINE_FORMAT:
        raise ValueError(
            f"{path}: baseline format {meta.get('format')!r}, this version reads {BASELINE_FORMAT}"
        )
    kind = meta.get("class")
    cls = _PERSISTABLE.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(
            f"{path}: unknown baseline class {kind!r}; expected one of {sorted(_PERSISTABLE)}"
        )
    try:
        return cls.from_state(arrays, meta)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
