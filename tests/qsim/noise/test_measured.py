"""Measured expectations of noisy circuits: shots with readout error, the exact readout map, and the
differentiable-sampling estimators."""

from __future__ import annotations

import numpy as np

import qsim
import qsim.grad
import pytest

import qsim.noise as qn
from qsim import Circuit, Input, Weight, op, pauli, z_each
from qsim import gates as G
from qsim.measure import measurement_groups


def circuit() -> Circuit:
    return Circuit(3, (op(G.RY, 0, Input(0)), op(G.RX, 1, Input(1)), op(G.CNOT, (0, 1)), op(G.RY, 2, Weight(0)),
                       op(G.CZ, (1, 2)), op(G.RZ, 0, Weight(1)), op(G.H, 2)))


MODEL = (qn.NoiseModel.depolarizing(0.02, 0.05).add(qn.amplitude_damping(0.1), gates="RX")
         .with_readout(qn.readout_error(0.03, 0.08)).with_readout(qn.readout_error(0.0, 0.2), wires=2))
W = np.array([0.7, -0.4])
X = np.array([[0.3, 1.1], [-0.8, 0.5]])
OBS = [pauli("Z", 0), pauli("ZZ", (1, 2)), pauli("XY", (0, 2), 0.5) + pauli("Z", 1, -1.0) + pauli("", (), 0.25)]


def test_readout_observables_equal_confused_probabilities():
    noisy = MODEL.apply(circuit())
    p_meas = qn.probabilities_density(noisy, W, X)                   # diag ρ through the confusion matrices
    signs = lambda wires: np.array([(-1) ** sum((i >> (2 - w)) & 1 for w in wires) for i in range(8)])  # noqa: E731
    want = np.stack([p_meas @ signs([0]), p_meas @ signs([1, 2])], axis=1)
    got = qsim.expval(noisy, [pauli("Z", 0), pauli("ZZ", (1, 2))], W, X)
    assert np.allclose(got, want, atol=1e-12)
    # symmetric readout just scales: <Z> → (1 - 2e) <Z>
    ideal = qn.expval_density(noisy, z_each(3), W, X)
    sym = qn.NoiseModel.depolarizing(0.02, 0.05).add(qn.amplitude_damping(0.1), gates="RX").with_readout(0.05)
    assert np.allclose(qsim.expval(circuit(), z_each(3), W, X, noise=sym), 0.9 * ideal, atol=1e-12)


def test_shot_estimates_are_seeded_and_unbiased():
    exact = qsim.expval(circuit(), OBS, W, X, noise=MODEL)
    a = qsim.expval(circuit(), OBS, W, X, noise=MODEL, shots=4000, seed=7)
    b = qsim.expval(circuit(), OBS, W, X, noise=MODEL, shots=4000, seed=7)
    c = qsim.expval(circuit(), OBS, W, X, noise=MODEL, shots=4000, seed=8)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    big = qsim.expval(circuit(), OBS, W, X, noise=MODEL, shots=400_000, seed=1)
    # per term variance ≤ coeff²/shots; 5σ bound on the largest observable (3 terms)
    assert np.all(np.abs(big - exact) < 5 * 1.6 / np.sqrt(400_000))
    assert np.all(np.abs(a - exact) < 5 * 1.6 / np.sqrt(4000))


def test_measurement_groups_share_settings():
    groups = measurement_groups([pauli("ZZ", (0, 1)), pauli("Z", 2), pauli("XZ", (0, 2)), pauli("X", 0)], 3)
    assert [sorted(g[0].items()) for g in groups] == [[(0, "Z"), (1, "Z"), (2, "Z")], [(0, "X"), (2, "Z")]]
    assert [len(g[1]) for g in groups] == [2, 2]


def test_sampled_bitstrings_flip_with_the_readout_probabilities():
    rng = np.random.default_rng(0)
    probs = np.zeros((1, 4))
    probs[0, 0] = 1.0                                        # always |00⟩
    idx = qn.sample_bitstrings(probs, 200_000, rng, readout=[(0.1, 0.0), (0.3, 0.0)])
    q0 = (idx >> 1) & 1
    q1 = idx & 1
    assert q0.mean() == pytest.approx(0.1, abs=0.005) and q1.mean() == pytest.approx(0.3, abs=0.005)
    counts = qsim.counts(circuit(), 500, W, X, noise=MODEL, seed=3)
    assert len(counts) == 2 and all(sum(cn.values()) == 500 for cn in counts)
    assert qsim.sample(circuit(), 10, W, X, noise=MODEL, seed=3).shape == (2, 10)


def test_straight_through_and_param_shift_with_shots():
    cot = np.array([[1.0, -0.5, 0.3], [0.2, 0.4, -1.0]])
    st = qsim.grad.vjp(circuit(), OBS, cot, W, X, noise=MODEL, shots=2000, seed=5, method="straight_through")
    fwd = qsim.expval(circuit(), OBS, W, X, noise=MODEL, shots=2000, seed=5)
    exact = qsim.grad.vjp(circuit(), OBS, cot, W, X, noise=MODEL)
    assert np.array_equal(st.values, fwd)                         # forward = the shot estimate
    assert np.allclose(st.weights, exact.weights) and np.allclose(st.inputs, exact.inputs)   # backward = exact
    ps = [qsim.grad.vjp(circuit(), OBS, cot, W, X, noise=MODEL, shots=20_000, seed=s, method="param_shift").weights
          for s in range(4)]
    ps = np.array(ps)
    assert np.all(np.abs(ps.mean(axis=0) - exact.weights) < 5 * ps.std(axis=0, ddof=1) / 2 + 1e-3)
    again = qsim.grad.vjp(circuit(), OBS, cot, W, X, noise=MODEL, shots=20_000, seed=0, method="param_shift")
    assert np.array_equal(again.weights, ps[0])


def test_shot_argument_checks():
    with pytest.raises(Exception, match="shots"):
        qsim.expval(circuit(), OBS, W, X, noise=MODEL, shots=0)
    with pytest.raises(Exception, match="method"):
        qsim.expval(circuit(), OBS, W, X, noise=MODEL, method="nope")


def test_shots_module_is_a_deprecated_alias_of_measure():
    import qsim.measure as M
    from qsim.noise import shots

    for name in shots.MOVED:
        with pytest.warns(DeprecationWarning, match=f"qsim.measure.{name}"):
            assert getattr(shots, name) is getattr(M, name)
    with pytest.raises(AttributeError):
        shots.nope
    assert qn.sample_bitstrings is M.sample_bitstrings and qn.readout_observables is M.readout_observables
