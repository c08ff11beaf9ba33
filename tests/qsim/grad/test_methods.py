"""qsim.grad.vjp, the gradient front door: every method against an independent reference
(central finite differences of qsim.expval), with and without noise."""

from __future__ import annotations

import numpy as np
import pytest

import qsim
import qsim.grad
import qsim.noise as qn
from qsim import Circuit, Input, Weight, op, pauli
from qsim import gates as G
from qsim_testutils import central_differences

C = Circuit(3, (op(G.RY, 0, Input(0)), op(G.RX, 1, Input(1, scale=0.5)), op(G.CNOT, (0, 1)),
                op(G.RY, 2, Weight(0)), op(G.CZ, (1, 2)), op(G.RZ, 0, Weight(1)), op(G.RY, 1, Weight(0, offset=0.3)),
                op(G.H, 2)))
OBS = [pauli("Z", 0), pauli("ZZ", (1, 2)), pauli("X", 2, 0.5) + pauli("Y", 1, -1.0)]
W = np.array([0.7, -0.4])
X = np.array([[0.3, 1.1], [-0.8, 0.5]])
COT = np.array([[1.0, -0.5, 0.3], [0.2, 0.9, -1.1]])
MODEL = qn.NoiseModel.depolarizing(0.02, 0.05).with_readout(qn.readout_error(0.03, 0.08))


def finite_differences(noise):
    f = lambda w, x: float((qsim.expval(C, OBS, w, x, noise=noise) * COT).sum())  # noqa: E731
    return central_differences(lambda w: f(w, X), W), central_differences(lambda x: f(W, x), X)


@pytest.mark.parametrize("noise", [None, MODEL], ids=["exact", "noisy"])
@pytest.mark.parametrize("method", ["adjoint", "param_shift"])
def test_gradients_match_finite_differences(noise, method):
    r = qsim.grad.vjp(C, OBS, COT, W, X, noise=noise, method=method)
    gw, gx = finite_differences(noise)
    np.testing.assert_allclose(r.weights, gw, atol=1e-7)
    np.testing.assert_allclose(r.inputs, gx, atol=1e-7)
    np.testing.assert_allclose(r.values, qsim.expval(C, OBS, W, X, noise=noise), atol=1e-12)


@pytest.mark.parametrize("noise", [None, MODEL], ids=["exact", "noisy"])
def test_straight_through_values_are_the_shot_estimate(noise):
    st = qsim.grad.vjp(C, OBS, COT, W, X, noise=noise, shots=500, seed=2, method="straight_through")
    exact = qsim.grad.vjp(C, OBS, COT, W, X, noise=noise)
    np.testing.assert_array_equal(st.values, qsim.expval(C, OBS, W, X, noise=noise, shots=500, seed=2))
    np.testing.assert_allclose(st.weights, exact.weights, atol=1e-12)


def test_param_shift_wrt_and_shots_are_unbiased():
    only_w = qsim.grad.vjp(C, OBS, COT, W, X, method="param_shift", wrt="weights")
    assert only_w.inputs is None
    exact = qsim.grad.vjp(C, OBS, COT, W, X, noise=MODEL).weights
    est = np.mean([qsim.grad.vjp(C, OBS, COT, W, X, noise=MODEL, shots=4000, seed=s, method="param_shift").weights
                   for s in range(8)], axis=0)
    np.testing.assert_allclose(est, exact, atol=0.05)


@pytest.mark.parametrize("kw, match", [
    (dict(method="magic"), "method 'magic'"),
    (dict(shots=10), "method='adjoint' is exact"),
    (dict(method="straight_through"), "needs shots"),
    (dict(engine="trajectories"), "engine / trajectories"),
    (dict(noise=MODEL, backend="numpy"), "density-matrix adjoint runs on 'numba'"),
    (dict(noise=MODEL, precision="single"), "double precision"),
])
def test_refused(kw, match):
    with pytest.raises(qsim.InputError, match=match):
        qsim.grad.vjp(C, OBS, COT, W, X, **kw)


def test_param_shift_needs_the_noise_free_circuit():
    with pytest.raises(qsim.InputError, match="noise-free Circuit"):
        qsim.grad.vjp(MODEL.apply(C), OBS, COT, W, X, method="param_shift")
