"""Every gate × backend × precision × wire placement against the dense Kronecker reference, and
the gate data itself (unitarity, generator, derivative, shift rule)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg

from qsim import Circuit, Const, GateError, Operation, final_state, unitary
from qsim.gates import GATES, PAULI

from qsim_testutils import ATOL, dense_operator, haar_states

N_QUBITS = 4
PLACEMENTS = {
    1: [(0,), (3,), (2,)],                                   # first, last, middle
    2: [(0, 1), (3, 2), (1, 3), (2, 0)],                     # adjacent, reversed, wide, reversed wide
    3: [(0, 1, 2), (3, 1, 0), (2, 3, 1)],
}
CASES = [(name, ws) for name, g in GATES.items() for ws in PLACEMENTS[g.num_wires]]


@pytest.mark.parametrize("name,wires", CASES, ids=[f"{n}-{''.join(map(str, w))}" for n, w in CASES])
def test_gate_against_dense_reference(name, wires, engine):
    backend, precision = engine
    rng = np.random.default_rng(abs(hash((name, wires))) % 2**32)
    g = GATES[name]
    angles = rng.uniform(-math.pi, math.pi, size=g.num_params)
    op = Operation(g, wires, tuple(Const(float(a)) for a in angles))
    psi = haar_states(rng, 3, N_QUBITS)
    out = final_state(Circuit(N_QUBITS, (op,)), state=psi, backend=backend, precision=precision)
    ref = psi @ dense_operator(g.matrix(*angles), wires, N_QUBITS).T
    np.testing.assert_allclose(out, ref, atol=ATOL[precision] * 10)


@pytest.mark.parametrize("name", list(GATES))
def test_gate_is_unitary_and_consistent(name):
    g = GATES[name]
    th = np.random.default_rng(1).uniform(-3, 3, size=g.num_params)
    U = g.matrix(*th)
    assert U.shape == (2**g.num_wires,) * 2
    np.testing.assert_allclose(U.conj().T @ U, np.eye(U.shape[0]), atol=1e-12)
    np.testing.assert_allclose(g.matrices(th[None])[0], U, atol=1e-12)
    if g.num_params == 1:
        # U(θ) = exp(-iθG) with the stored generator
        np.testing.assert_allclose(U, scipy.linalg.expm(-1j * th[0] * g.generator), atol=1e-12)
    for k, dU in enumerate(g.derivatives(th[None])):       # analytic derivative vs central differences
        e = np.zeros_like(th)
        e[k] = 1e-6
        fd = (g.matrix(*(th + e)) - g.matrix(*(th - e))) / 2e-6
        np.testing.assert_allclose(dU[0], fd, atol=1e-8)
    assert g.is_real == bool(np.allclose(U.imag, 0) and np.allclose(g.matrix(*(th + 0.7)).imag, 0))


def test_known_matrices():
    s2 = 1 / math.sqrt(2)
    np.testing.assert_allclose(GATES["RY"].matrix(0.4),
                               [[math.cos(0.2), -math.sin(0.2)], [math.sin(0.2), math.cos(0.2)]])
    np.testing.assert_allclose(GATES["RX"].matrix(0.4), scipy.linalg.expm(-0.2j * PAULI["X"]))
    np.testing.assert_allclose(GATES["H"].matrix(), [[s2, s2], [s2, -s2]])
    np.testing.assert_allclose(GATES["CNOT"].matrix(), [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]])
    np.testing.assert_allclose(GATES["PhaseShift"].matrix(0.3), np.diag([1, np.exp(0.3j)]))
    th, ph, la = 0.3, 0.5, 0.7
    np.testing.assert_allclose(GATES["U3"].matrix(th, ph, la), [
        [math.cos(th / 2), -np.exp(1j * la) * math.sin(th / 2)],
        [np.exp(1j * ph) * math.sin(th / 2), np.exp(1j * (ph + la)) * math.cos(th / 2)]], atol=1e-12)
    np.testing.assert_allclose(GATES["RZZ"].matrix(0.6), np.diag(np.exp(-0.3j * np.array([1, -1, -1, 1]))))


def test_shift_rules():
    for name in ("RX", "RY", "RZ", "RXX", "RYY", "RZZ"):
        assert GATES[name].shift_rule == pytest.approx((0.5, math.pi / 2))
    assert GATES["PhaseShift"].shift_rule == pytest.approx((0.5, math.pi / 2))
    for name in ("CRX", "CRY", "CRZ"):
        with pytest.raises(GateError, match="3 distinct eigenvalues"):
            GATES[name].shift_rule
    with pytest.raises(GateError, match="parameters"):
        GATES["U3"].shift_rule


@pytest.mark.parametrize("wires", [(1,), (2, 0), (0, 3, 1)])
def test_user_unitary(wires, backend):
    rng = np.random.default_rng(5)
    d = 2 ** len(wires)
    q, _ = np.linalg.qr(rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d)))
    g = unitary(q, "haar")
    psi = haar_states(rng, 2, 4)
    out = final_state(Circuit(4, (Operation(g, wires),)), state=psi, backend=backend)
    np.testing.assert_allclose(out, psi @ dense_operator(q, wires, 4).T, atol=1e-10)


def test_user_unitary_errors():
    with pytest.raises(GateError, match="not unitary"):
        unitary([[1, 1], [0, 1]])
    with pytest.raises(GateError, match="shape"):
        unitary(np.eye(3))
    with pytest.raises(GateError, match="non-finite"):
        unitary([[np.nan, 0], [0, 1]])
    with pytest.raises(GateError, match="takes 1 parameters"):
        GATES["RX"].matrix()


def test_embed_controlled():
    """``fill·(1-P)⊗1 + P⊗U`` with ``P = |1..1⟩⟨1..1|``, against explicit Kronecker products."""
    from qsim.gates import embed_controlled

    rng = np.random.default_rng(3)
    u = rng.normal(size=(2, 2)) + 1j * rng.normal(size=(2, 2))
    for nc in (1, 2):
        p1 = np.zeros((2**nc, 2**nc))
        p1[-1, -1] = 1.0
        for fill in (1.0, 0.0):
            want = fill * np.kron(np.eye(2**nc) - p1, np.eye(2)) + np.kron(p1, u)
            np.testing.assert_allclose(embed_controlled(u, nc, fill), want)
        batch = np.stack([u, 2 * u]).astype(np.complex64)
        got = embed_controlled(batch, nc)
        assert got.dtype == np.complex64 and got.shape == (2, 2 ** (nc + 1), 2 ** (nc + 1))
        np.testing.assert_allclose(got[1], np.kron(np.eye(2**nc) - p1, np.eye(2)) + np.kron(p1, 2 * u), atol=1e-6)
    assert embed_controlled(u, 0) is u
    np.testing.assert_allclose(GATES["Toffoli"].matrix(), embed_controlled(PAULI["X"], 2))
