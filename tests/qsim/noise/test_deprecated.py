"""The former noisy entry points warn once and return exactly what the front door returns."""

from __future__ import annotations

import numpy as np
import pytest

import qsim
import qsim.grad
import qsim.noise as qn
from qsim import Circuit, Input, Weight, op, z_each
from qsim import gates as G

C = Circuit(2, (op(G.RY, 0, Input(0)), op(G.CNOT, (0, 1)), op(G.RX, 1, Weight(0))))
M = qn.NoiseModel.depolarizing(0.03, 0.06).with_readout(qn.readout_error(0.02, 0.05))
W, X = np.array([0.4]), np.array([[0.3], [-1.2]])
COT = np.array([[1.0, -0.5], [0.25, 2.0]])


@pytest.mark.parametrize("old, call, new", [
    ("expval_noisy", lambda f: f(C, z_each(2), W, X, model=M, shots=300, seed=4),
     lambda: qsim.expval(C, z_each(2), W, X, noise=M, shots=300, seed=4)),
    ("vjp_noisy", lambda f: f(C, z_each(2), COT, W, X, model=M).weights,
     lambda: qsim.grad.vjp(C, z_each(2), COT, W, X, noise=M).weights),
    ("param_shift_vjp_noisy", lambda f: f(C, z_each(2), COT, W, X, model=M).inputs,
     lambda: qsim.grad.vjp(C, z_each(2), COT, W, X, noise=M, method="param_shift").inputs),
    ("sample_noisy", lambda f: f(C, 50, W, X, model=M, seed=1),
     lambda: qsim.sample(C, 50, W, X, noise=M, seed=1)),
    ("counts_noisy", lambda f: f(C, 50, W, X, model=M, seed=1),
     lambda: qsim.counts(C, 50, W, X, noise=M, seed=1)),
])
def test_alias_warns_and_agrees(old, call, new):
    with pytest.warns(DeprecationWarning, match=f"qsim.noise.{old} is deprecated"):
        got = call(getattr(qn, old))
    want = new()
    if isinstance(want, list):
        assert got == want
    else:
        np.testing.assert_array_equal(got, want)


def test_alias_without_model_is_noise_free():
    with pytest.warns(DeprecationWarning):
        got = qn.expval_noisy(C, z_each(2), W, X)
    np.testing.assert_allclose(got, qsim.expval(C, z_each(2), W, X), atol=1e-12)
