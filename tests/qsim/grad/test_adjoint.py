"""The adjoint VJP (:mod:`qsim.grad.adjoint`): adjoint = parameter-shift = central finite
differences (weights, inputs, states), every gate and fusion level, the real fast path, the
pass-major and batch-major drivers, and the argument errors of the gradient entry points."""

from __future__ import annotations

import numpy as np
import pytest
from qsim_testutils import central_differences as _fd
from qsim_testutils import haar_states, random_circuit

from qsim import Circuit, CircuitError, expval, pauli, z_each
from qsim.ansatz import angle_encoding, long_range_pqc
from qsim.gates import GATES
from qsim.grad import param_shift_vjp, vjp

SHIFTABLE = [g for name, g in GATES.items() if name not in ("CRX", "CRY", "CRZ")]
OBS = [pauli("Z", 0), pauli("XY", (1, 2)), pauli("ZZ", (0, 3), 0.5) + pauli("X", 2)]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_adjoint_vs_param_shift_vs_fd(seed, backend):
    rng = np.random.default_rng(seed)
    n, B = 4, 3
    c = random_circuit(rng, n, 30, SHIFTABLE)
    w, x, psi = rng.normal(size=c.n_weights), rng.normal(size=(B, c.n_inputs)), haar_states(rng, B, n)
    cot = rng.normal(size=(B, len(OBS)))
    a = vjp(c, OBS, cot, w, x, psi, backend=backend)
    p = param_shift_vjp(c, OBS, cot, w, x, psi)
    f = lambda w_, x_, s_: float((expval(c, OBS, w_, x_, s_, backend="numpy") * cot).sum())  # noqa: E731
    np.testing.assert_allclose(a.values, expval(c, OBS, w, x, psi), atol=1e-10)
    np.testing.assert_allclose(a.weights, p.weights, atol=1e-9)
    np.testing.assert_allclose(a.weights, _fd(lambda v: f(v, x, psi), w), atol=1e-6)
    np.testing.assert_allclose(a.inputs, p.inputs, atol=1e-9)
    np.testing.assert_allclose(a.inputs, _fd(lambda v: f(w, v, psi), x), atol=1e-6)
    # state cotangent: ∂f/∂Re ψ + i ∂f/∂Im ψ (validation tolerates the 1e-6 norm change)
    eps = 1e-7
    for (b, i) in [(0, 0), (1, 5), (2, 15)]:
        d = np.zeros_like(psi)
        d[b, i] = eps
        re = (f(w, x, psi + d) - f(w, x, psi - d)) / (2 * eps)
        im = (f(w, x, psi + 1j * d) - f(w, x, psi - 1j * d)) / (2 * eps)
        assert a.state[b, i] == pytest.approx(re + 1j * im, abs=1e-5)


@pytest.mark.parametrize("precision", ["double", "single"])
def test_adjoint_all_gates_and_fusion(precision):
    rng = np.random.default_rng(9)
    c = random_circuit(rng, 5, 60)                     # includes CRX/CRY/CRZ and U3
    w, x, psi = rng.normal(size=c.n_weights), rng.normal(size=(2, c.n_inputs)), haar_states(rng, 2, 5)
    cot = rng.normal(size=(2, 3))
    ref = vjp(c, OBS, cot, w, x, psi, backend="numpy")
    tol = 1e-9 if precision == "double" else 2e-3
    for fusion in (0, 1, 2):
        got = vjp(c, OBS, cot, w, x, psi, fusion=fusion, precision=precision)
        np.testing.assert_allclose(got.weights, ref.weights, atol=tol)
        np.testing.assert_allclose(got.inputs, ref.inputs, atol=tol)
        np.testing.assert_allclose(got.state, ref.state, atol=tol)


def test_real_path_gradients_and_large_register():
    rng = np.random.default_rng(4)
    n, B = 6, 5
    c = Circuit(n, tuple(angle_encoding(n, scale=np.pi) + long_range_pqc(n, 2, 3)))
    w, x, psi = rng.normal(size=c.n_weights), rng.normal(size=(B, n)), haar_states(rng, B, n, real=True)
    cot = rng.normal(size=(B, n))
    got = vjp(c, z_each(n), cot, w, x, psi)            # float64 fast path
    ref = vjp(c, z_each(n), cot, w, x, psi, backend="numpy")
    assert got.state.dtype == np.float64
    np.testing.assert_allclose(got.weights, ref.weights, atol=1e-10)
    np.testing.assert_allclose(got.inputs, ref.inputs, atol=1e-10)
    np.testing.assert_allclose(got.state, ref.state.real, atol=1e-10)
    big = random_circuit(rng, 15, 25, SHIFTABLE, inputs=False)   # pass-major backward
    wb = rng.normal(size=big.n_weights)
    obs = z_each(15)
    cb = rng.normal(size=(1, 15))
    np.testing.assert_allclose(vjp(big, obs, cb, wb).weights, vjp(big, obs, cb, wb, backend="numpy").weights,
                               atol=1e-9)


def test_gradient_errors():
    rng = np.random.default_rng(0)
    c = random_circuit(rng, 2, 5, [GATES["CRX"]], inputs=False, consts=False)
    with pytest.raises(CircuitError, match="3 distinct eigenvalues"):
        param_shift_vjp(c, z_each(2), np.ones((1, 2)), np.zeros(c.n_weights))
    c2 = Circuit(2, tuple(long_range_pqc(2, 1, 1)))
    with pytest.raises(CircuitError, match=r"cotangents have shape \(1, 3\), expected \(1, 2\)"):
        vjp(c2, z_each(2), np.ones((1, 3)), np.zeros(2))
    with pytest.raises(CircuitError, match="non-finite"):
        vjp(c2, z_each(2), np.array([[np.nan, 0]]), np.zeros(2))


@pytest.mark.parametrize("precision", ["double", "single"])
def test_batch_major_adjoint(precision):
    """B >= BATCH_MAJOR_MIN_BATCH on a small register: forward and backward run batch-major."""
    from qsim.backends.numba_backend import BATCH_MAJOR_MIN_BATCH

    rng = np.random.default_rng(13)
    B = BATCH_MAJOR_MIN_BATCH + 3
    pool = [g for g in GATES.values() if g.num_wires == 1 or (g.num_controls and g.num_wires == 2)]
    c = random_circuit(rng, 5, 50, pool)
    w, x, psi = rng.normal(size=c.n_weights), rng.normal(size=(B, c.n_inputs)), haar_states(rng, B, 5)
    cot = rng.normal(size=(B, len(OBS)))
    tol = 1e-10 if precision == "double" else 2e-5
    for state in (None, psi):
        ref = vjp(c, OBS, cot, w, x, state, backend="numpy")
        got = vjp(c, OBS, cot, w, x, state, precision=precision)
        np.testing.assert_allclose(got.weights, ref.weights, atol=tol * 10)
        np.testing.assert_allclose(got.inputs, ref.inputs, atol=tol * 10)
        if state is not None:
            np.testing.assert_allclose(got.state, ref.state, atol=tol * 10)
    real = Circuit(6, tuple(angle_encoding(6, scale=np.pi) + long_range_pqc(6, 2, 3)))
    wr, xr, sr = rng.normal(size=real.n_weights), rng.normal(size=(B, 6)), haar_states(rng, B, 6, real=True)
    cr = rng.normal(size=(B, 6))
    got = vjp(real, z_each(6), cr, wr, xr, sr, precision=precision)
    ref = vjp(real, z_each(6), cr, wr, xr, sr, backend="numpy")
    np.testing.assert_allclose(got.weights, ref.weights, atol=tol * 10)
    np.testing.assert_allclose(got.state, ref.state.real, atol=tol * 10)
