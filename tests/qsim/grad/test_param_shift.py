"""The one parameter-shift loop (:func:`qsim.grad.shift_vjp`) against finite differences, for any
evaluator and any subset of ``wrt``; the shot-based parameter-shift VJP is unbiased and seeded."""

from __future__ import annotations

import numpy as np
import pytest
from qsim_testutils import central_differences as _fd
from qsim_testutils import haar_states, random_circuit

from qsim import Circuit, InputError, expval, pauli, z_each
from qsim.ansatz import angle_encoding, long_range_pqc
from qsim.gates import GATES
from qsim.grad import param_shift_vjp, shift_vjp, vjp

SHIFTABLE = [g for name, g in GATES.items() if name not in ("CRX", "CRY", "CRZ")]
OBS = [pauli("Z", 0), pauli("XY", (1, 2)), pauli("ZZ", (0, 3), 0.5) + pauli("X", 2)]


@pytest.mark.parametrize("seed", range(2))
def test_shift_vjp_matches_finite_differences(seed):
    rng = np.random.default_rng(seed)
    n, B = 4, 2
    c = random_circuit(rng, n, 25, SHIFTABLE)
    w, x, psi = rng.normal(size=c.n_weights), rng.normal(size=(B, c.n_inputs)), haar_states(rng, B, n)
    cot = rng.normal(size=(B, len(OBS)))

    def evaluate(circ):
        return expval(circ, OBS, w, x, psi, backend="numpy")

    r = shift_vjp(c, evaluate, cot)
    f = lambda w_, x_: float((expval(c, OBS, w_, x_, psi, backend="numpy") * cot).sum())  # noqa: E731
    np.testing.assert_allclose(r.values, evaluate(c), atol=1e-12)
    np.testing.assert_allclose(r.weights, _fd(lambda v: f(v, x), w), atol=1e-6)
    np.testing.assert_allclose(r.inputs, _fd(lambda v: f(w, v), x), atol=1e-6)
    assert r.state is None
    p = param_shift_vjp(c, OBS, cot, w, x, psi)
    np.testing.assert_allclose(p.weights, r.weights, atol=1e-9)
    np.testing.assert_allclose(p.inputs, r.inputs, atol=1e-9)


def test_wrt_subsets_shift_only_what_is_asked():
    rng = np.random.default_rng(5)
    c = random_circuit(rng, 3, 15, SHIFTABLE, consts=False)
    w, x = rng.normal(size=c.n_weights), rng.normal(size=(2, c.n_inputs))
    cot = rng.normal(size=(2, 1))
    calls = []

    def evaluate(circ):
        calls.append(circ)
        return expval(circ, pauli("Z", 0), w, x)

    full = shift_vjp(c, evaluate, cot)
    n_all = len(calls)
    calls.clear()
    only_w = shift_vjp(c, evaluate, cot, wrt="weights")
    n_w = len(calls)
    assert only_w.inputs is None
    np.testing.assert_allclose(only_w.weights, full.weights, atol=1e-12)
    calls.clear()
    only_x = shift_vjp(c, evaluate, cot, wrt=("inputs",))
    assert only_x.weights is None
    np.testing.assert_allclose(only_x.inputs, full.inputs, atol=1e-12)
    assert n_w + len(calls) == n_all + 1 and n_w < n_all and len(calls) < n_all   # each shifts only its own angles
    for bad in ("state", (), ("weights", "x")):
        with pytest.raises(InputError, match="wrt"):
            shift_vjp(c, evaluate, cot, wrt=bad)


def test_param_shift_with_shots_is_unbiased():
    rng = np.random.default_rng(1)
    c = Circuit(2, tuple(angle_encoding(2) + long_range_pqc(2, 1, 1)))
    w, x = rng.normal(size=c.n_weights), rng.normal(size=(1, 2))
    cot = np.array([[1.0, 0.0]])
    exact = vjp(c, z_each(2), cot, w, x).weights
    shots = 4000
    est = np.array([param_shift_vjp(c, z_each(2), cot, w, x, shots=shots, seed=s).weights for s in range(20)])
    # each entry: r·(f+ - f-) with r = 1/2 per occurrence; std of the mean over 20 runs
    se = est.std(axis=0, ddof=1) / np.sqrt(len(est)) + 1e-3
    assert np.all(np.abs(est.mean(axis=0) - exact) <= 5 * se)
    np.testing.assert_array_equal(param_shift_vjp(c, z_each(2), cot, w, x, shots=100, seed=7).weights,
                                  param_shift_vjp(c, z_each(2), cot, w, x, shots=100, seed=7).weights)
