"""The shared result type and helpers: cotangent checks and the scatter of angle gradients."""

from __future__ import annotations

import numpy as np
import pytest

from qsim import CircuitError, Const, Input, Weight
from qsim.grad import VJP as GradVJP
from qsim.grad.adjoint import VJP as AdjointVJP, check_cotangents as adjoint_check
from qsim.results import VJP, check_cotangents, scatter


def test_old_homes_still_import():
    assert GradVJP is VJP is AdjointVJP and adjoint_check is check_cotangents


def test_scatter_brute_force():
    """``θ = scale · v + offset``: scatter adds ``scale · g`` to the slot ``v`` is read from, which
    is what a finite difference of ``f(θ(v)) = Σ_b g_b θ_b(v)`` gives."""
    rng = np.random.default_rng(0)
    B, P, K = 4, 3, 2
    w, x = rng.normal(size=P), rng.normal(size=(B, K))
    refs = [Weight(1, 0.7, 0.2), Input(0, 1.3, -0.1), Const(0.4), Weight(1, -2.0), Input(1)]
    gs = [rng.normal(size=B) for _ in refs]

    def f(w_, x_):
        return sum(float(np.sum(g * np.broadcast_to(r.angle(w_, x_), (B,)))) for r, g in zip(refs, gs))

    gw, gx = np.zeros(P), np.zeros((B, K))
    for r, g in zip(refs, gs):
        scatter(r, g, gw, gx)
    eps = 1e-6
    fd_w = [(f(w + eps * e, x) - f(w - eps * e, x)) / (2 * eps) for e in np.eye(P)]
    fd_x = np.zeros((B, K))
    for i in np.ndindex(B, K):
        e = np.zeros((B, K))
        e[i] = eps
        fd_x[i] = (f(w, x + e) - f(w, x - e)) / (2 * eps)
    np.testing.assert_allclose(gw, fd_w, atol=1e-8)
    np.testing.assert_allclose(gx, fd_x, atol=1e-8)
    gw2 = np.zeros(P)
    scatter(Input(0), gs[0], gw2, None)                                    # not requested: skipped
    scatter(Weight(0), gs[0], None, None)
    assert not gw2.any()


def test_check_cotangents():
    np.testing.assert_array_equal(check_cotangents([1.0, 2.0], 1, 2), [[1.0, 2.0]])
    with pytest.raises(CircuitError, match=r"cotangents have shape \(3,\), expected \(2, 3\)"):
        check_cotangents([1.0, 2.0, 3.0], 2, 3)
    with pytest.raises(CircuitError, match="non-finite"):
        check_cotangents([[np.inf]], 1, 1)
