"""Gradients through noise: adjoint (Heisenberg) VJP = parameter shift = finite differences."""

from __future__ import annotations

import math

import numpy as np

import qsim
import qsim.grad
import pytest

import qsim.noise as qn
from qsim_testutils import central_differences
from qsim import Circuit, Const, Input, Weight, op, pauli, z_each
from qsim import gates as G

EPS = 1e-6
FD_ATOL = 1e-7


def circuit_complex() -> Circuit:
    ops = [op(G.RY, 0, Input(0, math.pi)), op(G.RX, 1, Input(1)), op(G.CNOT, (0, 1)),
           op(G.U3, 2, Weight(0), Weight(1), Weight(2, -1.0, 0.2)), op(G.RZZ, (1, 2), Weight(3, 2.0)),
           op(G.CRY, (2, 0), Const(0.4)), op(G.RY, 1, Weight(0)), op(G.CZ, (0, 2)), op(G.RX, 2, Input(1, 0.5, 0.1)),
           op(G.RXX, (0, 1), Weight(4))]
    return Circuit(3, tuple(ops))


def circuit_real() -> Circuit:
    return Circuit(3, (op(G.RY, 0, Input(0)), op(G.RY, 1, Input(1)), op(G.CNOT, (0, 1)), op(G.RY, 2, Weight(0)),
                       op(G.CNOT, (1, 2)), op(G.RY, 0, Weight(1)), op(G.CZ, (2, 0)), op(G.RY, 1, Weight(2))))


#: model() is shared by a circuit with RX gates and one without (circuit_real): its RX rule
#: matching nothing there is intended.
pytestmark = pytest.mark.filterwarnings(r"ignore:.*gates=\['RX'\]:qsim.noise.UnmatchedNoiseWarning")


def model() -> qn.NoiseModel:
    return (qn.NoiseModel().add(qn.depolarizing(0.03), arity=1).add(qn.depolarizing(0.05, 2), arity=2)
            .add(qn.amplitude_damping(0.1), gates="RX").add(qn.thermal_relaxation(3.0, 2.0, 0.3), arity=2)
            .with_readout(qn.readout_error(0.02, 0.06)))


OBS = [pauli("Z", 0), pauli("XY", (1, 2)) + pauli("ZZ", (0, 2), 0.5), pauli("X", 2, -1.5)]


def finite_diff(f, w, x):
    """``(∂f/∂w, ∂f/∂x)`` by central differences (:func:`qsim_testutils.central_differences`)."""
    return central_differences(lambda w_: f(w_, x), w, EPS), central_differences(lambda x_: f(w, x_), x, EPS)


@pytest.mark.parametrize("make", [circuit_complex, circuit_real])
def test_adjoint_equals_param_shift_equals_finite_differences(make):
    c = make()
    rng = np.random.default_rng(4)
    w, x = rng.uniform(-2, 2, c.n_weights), rng.uniform(-1, 1, (2, c.n_inputs))
    cot = rng.standard_normal((2, len(OBS)))
    m = model()

    def f(w_, x_):
        return float((qsim.expval(c, OBS, w_, x_, noise=m) * cot).sum())

    adj = qsim.grad.vjp(c, OBS, cot, w, x, noise=m)
    ps = qsim.grad.vjp(c, OBS, cot, w, x, noise=m, method="param_shift")
    gw, gx = finite_diff(f, w, x)
    assert np.allclose(adj.values, qsim.expval(c, OBS, w, x, noise=m), atol=1e-12)
    assert np.allclose(adj.weights, gw, atol=FD_ATOL) and np.allclose(adj.inputs, gx, atol=FD_ATOL)
    assert np.allclose(ps.weights, adj.weights, atol=1e-10) and np.allclose(ps.inputs, adj.inputs, atol=1e-10)


def test_state_cotangents_pure_and_mixed():
    c = circuit_complex()
    rng = np.random.default_rng(6)
    w, x = rng.uniform(-2, 2, c.n_weights), rng.uniform(-1, 1, (2, c.n_inputs))
    cot = rng.standard_normal((2, len(OBS)))
    m = model()
    psi = rng.standard_normal((2, 8)) + 1j * rng.standard_normal((2, 8))
    psi /= np.linalg.norm(psi, axis=1, keepdims=True)
    rho0 = 0.7 * qn.pure_density(psi) + 0.3 * np.eye(8) / 8
    # f is linear in ρ0: f(ρ0) = Σ_b Tr(O_H,b ρ0,b)
    res = qsim.grad.vjp(c, OBS, cot, w, x, rho0, noise=m)
    f = (qsim.expval(c, OBS, w, x, rho0, noise=m) * cot).sum()
    assert np.allclose(np.einsum("bij,bji->", res.state, rho0).real, f, atol=1e-10)
    # pure state: directional derivative along a random tangent d equals Re⟨grad, d⟩
    g = qsim.grad.vjp(c, OBS, cot, w, x, psi, noise=m).state
    d = rng.standard_normal(psi.shape) + 1j * rng.standard_normal(psi.shape)
    d -= np.real(np.sum(psi.conj() * d, axis=1, keepdims=True)) * psi       # keep ‖ψ‖ = 1 to first order
    fp = lambda s: (qsim.expval(c, OBS, w, x, qn.pure_density(s), noise=m) * cot).sum()  # noqa: E731
    num = (fp(psi + EPS * d) - fp(psi - EPS * d)) / (2 * EPS)
    assert np.real(np.vdot(g, d)) == pytest.approx(num, abs=1e-6)


def test_checkpointing_and_batch_chunks_give_the_same_gradient():
    c = circuit_complex()
    rng = np.random.default_rng(8)
    w, x = rng.uniform(-2, 2, c.n_weights), rng.uniform(-1, 1, (3, c.n_inputs))
    cot = rng.standard_normal((3, len(OBS)))
    noisy = model().apply(c)
    full = qn.adjoint_vjp_density(noisy, OBS, cot, w, x)
    small = qn.adjoint_vjp_density(noisy, OBS, cot, w, x, memory_bytes=8 * 1024)    # √K checkpoints, 1 row
    assert np.allclose(full.weights, small.weights, atol=1e-12)
    assert np.allclose(full.inputs, small.inputs, atol=1e-12)
    assert np.allclose(full.values, small.values, atol=1e-12)


def test_unfused_plan_gives_the_same_gradient():
    c = circuit_real()
    rng = np.random.default_rng(9)
    w, x = rng.uniform(-2, 2, c.n_weights), rng.uniform(-1, 1, (2, c.n_inputs))
    cot = rng.standard_normal((2, 3))
    noisy = model().apply(c)
    a = qn.adjoint_vjp_density(noisy, z_each(3), cot, w, x, fusion=True)
    b = qn.adjoint_vjp_density(noisy, z_each(3), cot, w, x, fusion=False)
    assert np.allclose(a.weights, b.weights, atol=1e-12) and np.allclose(a.inputs, b.inputs, atol=1e-12)


def test_vjp_method_checks():
    c = circuit_real()
    w, x = np.zeros(c.n_weights), np.zeros((1, 2))
    with pytest.raises(Exception, match="straight_through"):
        qsim.grad.vjp(c, z_each(3), np.ones((1, 3)), w, x, noise=model(), shots=10)
    with pytest.raises(Exception, match="needs shots"):
        qsim.grad.vjp(c, z_each(3), np.ones((1, 3)), w, x, noise=model(), method="straight_through")
    with pytest.raises(Exception, match="must be one of"):
        qsim.grad.vjp(c, z_each(3), np.ones((1, 3)), w, x, method="magic")
