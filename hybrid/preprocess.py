"""Label-free preprocessing of embeddings, fitted on the training split: PCA and whitening.

:class:`Projection` is an ``nn.Module`` with *buffers* (saved in checkpoints, never trained):

.. math::  \\mathrm{pca}(x) = V_k^T (x - μ) / \\sqrt{\\mathrm{tr}\\,Λ_k}, \\qquad
           \\mathrm{whiten}(x) = Λ_k^{-1/2} V_k^T (x - μ) / \\sqrt{k},

where ``μ`` is the training mean and ``V_k`` the top ``k`` right singular vectors of the centred
training matrix ``X - μ = U S V^T`` (``Λ = S²/(N-1)``, the covariance eigenvalues).  The last
factor makes ``E||x||² = 1`` over the training rows in both modes, so that an amplitude encoder's
bias amplitude (of order 1) and the data start with comparable weight.  Each
component's sign is fixed so that its largest-magnitude entry is positive, so a refit on the same
data gives the same map.  Fitting uses the inputs only (no labels), on the training split only.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch import nn

from hybrid.config import check_choice, check_int

__all__ = ["PREPROCESSING", "Projection", "check_preprocessing"]

logger = logging.getLogger(__name__)

#: Preprocessing choices of :class:`hybrid.head.HeadConfig`.
PREPROCESSING = ("none", "pca", "whiten")


class Projection(nn.Module):
    """``(B, d) -> (B, k)``: PCA (``whiten=False``) or PCA whitening, fitted by :meth:`fit`.

    Args:
        input_dim: d.
        components: k, ``1 <= k <= d``.
        whiten: divide each component by its standard deviation.
        dtype: of the buffers and the output.
    """

    def __init__(self, input_dim: int, components: int, *, whiten: bool = False,
                 dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.input_dim = check_int("Projection", "input_dim", input_dim, 1)
        self.components = check_int("Projection", "components", components, 1, input_dim)
        self.whiten = bool(whiten)
        self.register_buffer("mean", torch.zeros(input_dim, dtype=dtype))
        self.register_buffer("basis", torch.zeros(input_dim, components, dtype=dtype))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    def fit(self, X: np.ndarray | torch.Tensor) -> Projection:
        """Fit ``μ`` and ``V_k`` (and ``Λ_k``) on training inputs ``X`` ``(N, d)``, in float64.

        Raises:
            ValueError: ``X`` has the wrong width, fewer than ``k + 1`` rows, non-finite values,
                or (whitening) a component with zero variance.
        """
        X = torch.as_tensor(np.asarray(X if not isinstance(X, torch.Tensor) else X.detach().cpu()),
                            dtype=torch.float64)
        if X.ndim != 2 or X.shape[1] != self.input_dim:
            raise ValueError(f"Projection.fit expects (N, {self.input_dim}) inputs, got {tuple(X.shape)}")
        if X.shape[0] <= self.components:
            raise ValueError(f"Projection.fit: {self.components} components need more than {self.components} "
                             f"training rows, got {X.shape[0]}")
        if not bool(torch.isfinite(X).all()):
            raise ValueError("Projection.fit: the training inputs contain NaN or infinite values")
        mean = X.mean(dim=0)
        _, S, Vh = torch.linalg.svd(X - mean, full_matrices=False)
        V = Vh[: self.components].T.clone()                           # (d, k)
        flip = torch.sign(V.gather(0, V.abs().argmax(dim=0, keepdim=True)))
        V *= flip
        var = S[: self.components] ** 2 / (X.shape[0] - 1)
        if self.whiten:
            if bool((var <= 1e-12 * var[0]).any()):
                k = int(torch.nonzero(var <= 1e-12 * var[0])[0])
                raise ValueError(f"Projection.fit: component {k} has zero variance; whitening {self.components} "
                                 "components of these inputs is ill-posed (use fewer components or pca)")
            V = V / (var.sqrt() * self.components**0.5)
        else:
            V = V / var.sum().sqrt()
        self.mean.copy_(mean.to(self.mean.dtype))
        self.basis.copy_(V.to(self.basis.dtype))
        self.fitted.fill_(True)
        kept = float(var.sum() / (S**2 / (X.shape[0] - 1)).sum())
        logger.info("projection fitted on %d rows: %d of %d dimensions keep %.1f%% of the variance",
                    X.shape[0], self.components, self.input_dim, 100 * kept)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not bool(self.fitted):
            raise RuntimeError("the head's projection is not fitted: call head.prepare(X_train) before using it")
        if x.ndim != 2 or x.shape[1] != self.input_dim:
            raise ValueError(f"Projection expects (B, {self.input_dim}) inputs, got {tuple(x.shape)}")
        return (x.to(self.basis.dtype) - self.mean) @ self.basis

    def extra_repr(self) -> str:
        return f"{self.input_dim} -> {self.components}, whiten={self.whiten}"


def check_preprocessing(owner: str, mode: str, components: int | None, input_dim: int) -> int:
    """The encoders' input size: ``input_dim`` for ``"none"``, else ``components`` (checked)."""
    check_choice(owner, "preprocess", mode, PREPROCESSING)
    if mode == "none":
        if components is not None:
            raise ValueError(f"{owner}.components={components} needs preprocess='pca' or 'whiten'")
        return input_dim
    if components is None:
        raise ValueError(f"{owner}.preprocess={mode!r} needs components (the number of kept dimensions)")
    return check_int(owner, "components", components, 1, input_dim)
