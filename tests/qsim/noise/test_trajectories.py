"""Trajectories converge to the density-matrix answer, with honest standard errors."""

from __future__ import annotations

import numpy as np

import qsim
import qsim.grad
import pytest

import qsim.noise as qn
from qsim import Circuit, Input, Weight, op, pauli, z_each
from qsim import gates as G


def circuit() -> Circuit:
    return Circuit(4, (op(G.RY, 0, Input(0)), op(G.H, 1), op(G.CNOT, (0, 1)), op(G.RX, 2, Weight(0)),
                       op(G.CNOT, (1, 2)), op(G.RZ, 3, Weight(1)), op(G.CZ, (2, 3)), op(G.RY, 3, Weight(2)),
                       op(G.CNOT, (3, 0))))


MODEL = (qn.NoiseModel().add(qn.depolarizing(0.05), arity=1).add(qn.depolarizing(0.08, 2), arity=2)
         .add(qn.amplitude_damping(0.15), gates=("RX", "RY")).add(qn.thermal_relaxation(1.0, 0.8, 0.2), gates="CZ"))
W = np.array([0.9, 0.3, -1.2])
X = np.array([[0.4], [1.3]])
OBS = list(z_each(4)) + [pauli("XX", (0, 1)), pauli("YZ", (2, 3), 0.5)]


def test_converges_to_the_density_matrix():
    exact = qn.expval_density(circuit(), OBS, W, X, model=MODEL)
    small = qn.run_trajectories(circuit(), OBS, W, X, model=MODEL, trajectories=200, seed=1)
    big = qn.run_trajectories(circuit(), OBS, W, X, model=MODEL, trajectories=3200, seed=2)
    assert big.n_trajectories == 3200
    assert np.all(np.abs(big.mean - exact) <= 4.5 * big.stderr + 1e-12)
    # the standard error shrinks like 1/√T
    ratio = np.median(small.stderr / np.maximum(big.stderr, 1e-12))
    assert 3.0 < ratio < 5.5
    assert np.abs(big.mean - exact).max() < np.abs(small.mean - exact).max() + 0.02


def test_pauli_sites_are_exact_when_deterministic():
    c = Circuit(2, (op(G.RY, 0, Weight(0)), op(G.CNOT, (0, 1))))
    m = qn.NoiseModel().add(qn.bit_flip(1.0), gates="CNOT")
    res = qn.run_trajectories(c, z_each(2), np.array([0.8]), model=m, trajectories=8, seed=0)
    assert np.allclose(res.mean, qn.expval_density(c, z_each(2), np.array([0.8]), model=m), atol=1e-12)
    assert np.allclose(res.stderr, 0.0, atol=1e-12)


def test_target_stderr_readout_and_seeding():
    m = MODEL.with_readout(qn.readout_error(0.05, 0.1))
    res = qn.run_trajectories(circuit(), pauli("Z", 0), W, X, model=m, target_stderr=0.02, seed=4)
    assert res.stderr.max() <= 0.02
    exact = qsim.expval(circuit(), pauli("Z", 0), W, X, noise=m)
    assert np.all(np.abs(res.mean - exact) <= 4.5 * res.stderr)
    again = qn.run_trajectories(circuit(), pauli("Z", 0), W, X, model=m, target_stderr=0.02, seed=4)
    assert np.array_equal(res.mean, again.mean)
    via_api = qsim.expval(circuit(), pauli("Z", 0), W, X, noise=m, method="trajectories", trajectories=500, seed=3)
    assert via_api.shape == (2, 1)
    shots = qsim.expval(circuit(), OBS, W, X, noise=m, method="trajectories", trajectories=400, shots=4000, seed=3)
    assert np.all(np.abs(shots - qsim.expval(circuit(), OBS, W, X, noise=m)) < 0.15)


def test_runs_on_the_registered_backend(monkeypatch):
    """Trajectories reach the state-vector kernels only through the backend registry."""
    import qsim.backends as backends
    from qsim.noise.trajectories import TRAJECTORY_BACKEND

    real = backends.get_backend(TRAJECTORY_BACKEND)
    calls = []

    class Spy:
        name, device, description = real.name, real.device, real.description
        precisions, default_fusion = real.precisions, real.default_fusion

        def __getattr__(self, attr):
            calls.append(attr)
            return getattr(real, attr)

    ref = qn.run_trajectories(circuit(), OBS, W, X, model=MODEL, trajectories=16, seed=5, bases=({0: "X"},))
    monkeypatch.setitem(backends._loaded, TRAJECTORY_BACKEND, Spy())
    got = qn.run_trajectories(circuit(), OBS, W, X, model=MODEL, trajectories=16, seed=5, bases=({0: "X"},))
    assert {"forward", "expvals", "apply_matrix"} <= set(calls)
    assert np.array_equal(got.mean, ref.mean) and np.array_equal(got.probabilities[0], ref.probabilities[0])


def test_trajectory_errors():
    with pytest.raises(Exception, match="at least 2"):
        qn.run_trajectories(circuit(), OBS, W, X, model=MODEL, trajectories=1)
    with pytest.raises(Exception, match="pure states"):
        qn.run_trajectories(circuit(), OBS, W, X, np.stack([np.eye(16) / 16] * 2), model=MODEL)
