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
"""

from __future__ import annotations

import abc
import dataclasses
import logging
import re
from typing import Any

import numpy as np
import torch
from torch import nn

from hybrid.seeding import seed_everything
from hybrid.training import History, TrainConfig, fit, predict

__all__ = [
    "BASELINE_NAMES",
    "MLP_DEFAULT_CONFIG",
    "MLP_HIDDEN_SIZES",
    "ClassicalBaseline",
    "LogisticRegressionBaseline",
    "MLPBaseline",
    "MLPHead",
    "SVCBaseline",
    "make_baseline",
    "matched_hidden_size",
    "mlp_parameter_count",
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
