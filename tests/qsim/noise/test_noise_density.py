"""Density-matrix engine: fused Numba passes vs the NumPy Kraus reference vs a dense
superoperator reference vs Qiskit Aer; real fast path; state utilities."""

from __future__ import annotations

import math

import numpy as np
import pytest

import qsim.noise as qn
from qsim import Circuit, Const, Input, Weight, op, pauli
from qsim import gates as G
from qsim.backends import reference as ref
from qsim.noise import density as D
from qsim.simulate import final_state

ATOL = 1e-10


# ---------------------------------------------------------------------- helpers
def full_matrix(k: np.ndarray, wires, n: int) -> np.ndarray:
    """``k`` on ``wires`` of ``n`` qubits as a dense ``2**n`` matrix (via the core's reference apply)."""
    N = 2**n
    basis = np.eye(N, dtype=complex).reshape((N,) + (2,) * n)
    return ref.apply_matrix(basis, k[None], tuple(wires)).reshape(N, N).T


def dense_superop_reference(noisy: qn.NoisyCircuit, weights, inputs, B: int, rho0=None) -> np.ndarray:
    """``vec ρ`` by multiplying full ``4**n × 4**n`` superoperators (independent of the engine)."""
    n = noisy.n_qubits
    N = 2**n
    out = []
    for b in range(B):
        if rho0 is None:
            v = np.zeros(N * N, dtype=complex)
            v[0] = 1.0
        else:
            v = rho0[b].reshape(-1).astype(complex)
        for ins in noisy.instructions:
            if isinstance(ins, qn.ChannelOp):
                ks = [full_matrix(k, ins.wires, n) for k in ins.channel.kraus]
            else:
                th = ref.op_thetas(ins, weights, None if inputs is None else inputs[b:b + 1], 1)
                ks = [full_matrix(ins.gate.matrices(th)[0], ins.wires, n)]
            v = sum(np.kron(k, k.conj()) for k in ks) @ v
        out.append(v)
    return np.array(out)


def random_isometry_kraus(nk: int, d: int, seed: int) -> qn.Channel:
    rng = np.random.default_rng(seed)
    v, _ = np.linalg.qr(rng.standard_normal((nk * d, d)) + 1j * rng.standard_normal((nk * d, d)))
    return qn.kraus_channel(v.reshape(nk, d, d), name="user")


def mixed_circuit(n: int = 3) -> Circuit:
    ops = [op(G.RY, 0, Input(0, math.pi)), op(G.RX, 1, Input(1)), op(G.H, 2), op(G.CNOT, (0, 1)),
           op(G.U3, 2, Weight(0), Weight(1), Const(0.3)), op(G.CRX, (2, 0), Weight(2)),
           op(G.RZZ, (1, 2), Weight(3, 2.0, 0.1)),
           op(G.ISWAP, (0, 2)), op(G.S, 1), op(G.Toffoli, (0, 1, 2)), op(G.RY, 1, Weight(0)), op(G.SWAP, (2, 1)),
           op(G.PhaseShift, 0, Weight(4)), op(G.CZ, (0, 2)), op(G.RXX, (2, 0), Input(2))]
    return Circuit(n, tuple(ops))


def mixed_model() -> qn.NoiseModel:
    return (qn.NoiseModel()
            .add(qn.depolarizing(0.05), arity=1)
            .add(qn.depolarizing(0.04, 2), arity=2)
            .add(qn.amplitude_damping(0.1), gates=("RX", "U3"))
            .add([qn.generalized_amplitude_damping(0.2, 0.7), qn.phase_damping(0.15)], gates="RZZ")
            .add(random_isometry_kraus(3, 4, 1), gates="iSWAP")
            .add(random_isometry_kraus(2, 8, 2), gates="Toffoli")
            .add(qn.thermal_relaxation(2.0, 1.5, 0.2), arity=3))


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    return rng.uniform(-3, 3, 5), rng.uniform(-1, 1, (2, 3))


# ---------------------------------------------------------------------- engine vs references
@pytest.mark.parametrize("fusion", [True, False])
def test_noisy_circuit_matches_dense_superoperator_and_kraus_reference(data, fusion):
    w, x = data
    noisy = mixed_model().apply(mixed_circuit())
    want = dense_superop_reference(noisy, w, x, 2)
    got = qn.evolve(noisy, w, x, fusion=fusion)
    assert got.dtype == np.complex128
    assert np.allclose(got, want, atol=ATOL)
    assert np.allclose(qn.evolve(noisy, w, x, backend="numpy"), want, atol=ATOL)


def test_fusion_reduces_passes_and_patterns_are_sparse():
    from qsim.noise.bench_noise import w1_circuit, w1_noise_model

    noisy = w1_noise_model().apply(w1_circuit(5))
    fused, plain = D.plan(noisy, True), D.plan(noisy, False)
    assert fused.n_passes < plain.n_passes / 3
    assert fused.nnz < 0.5 * sum(4 ** (2 * len(q)) for q in fused.block_qubits)


def test_real_fast_path(data):
    w, x = data
    c = Circuit(3, (op(G.RY, 0, Input(0)), op(G.RY, 1, Input(1)), op(G.CNOT, (0, 1)), op(G.RY, 2, Weight(0)),
                    op(G.CZ, (1, 2)), op(G.H, 0), op(G.X, 2), op(G.CNOT, (2, 0))))
    m = (qn.NoiseModel.depolarizing(0.02, 0.05).add(qn.amplitude_damping(0.1), arity=1)
         .add(qn.phase_damping(0.2), arity=2))
    noisy = m.apply(c)
    x = x[:, :2]
    got = qn.evolve(noisy, w[:1], x)
    assert got.dtype == np.float64 and D.plan(noisy).real
    assert np.allclose(got, dense_superop_reference(noisy, w[:1], x, 2), atol=ATOL)
    assert qn.evolve(noisy, w[:1], x, real=False).dtype == np.complex128
    with pytest.raises(Exception, match="real=True"):
        qn.evolve(mixed_model().apply(mixed_circuit()), w, data[1], real=True)


@pytest.mark.parametrize("B", [1, 3])
def test_parallel_drivers_match_serial(monkeypatch, B):
    """Force the sample-major (batch) and sliced / pass-parallel (single matrix) drivers."""
    from qsim.noise.bench_noise import w1_circuit

    n = 5
    c = w1_circuit(n, layers=2).extend([op(G.RX, 4, Input(0))])
    m = qn.NoiseModel.depolarizing(0.01, 0.02).add(qn.amplitude_damping(0.05), gates="RZ")
    noisy = m.apply(c)
    rng = np.random.default_rng(3)
    w, x = rng.uniform(0, 6, c.n_weights), rng.uniform(0, 1, (B, 1))
    serial = qn.evolve(noisy, w, x)
    monkeypatch.setattr(D, "SERIAL_MAX_WORK", 0)
    parallel = qn.evolve(noisy, w, x)
    assert np.allclose(parallel, serial, atol=ATOL)
    assert np.allclose(serial, qn.evolve(noisy, w, x, backend="numpy"), atol=ATOL)


def test_noise_free_density_is_the_pure_state(data):
    w, x = data
    c = mixed_circuit()
    rho = qn.density_matrix(c, w, x)
    psi = final_state(c, w, x)
    assert np.allclose(rho, qn.pure_density(psi), atol=ATOL)
    assert np.allclose(qn.purity(rho), 1.0)
    assert np.allclose(qn.fidelity(rho, psi), 1.0)


def test_initial_states_pure_and_mixed(data):
    w, x = data
    noisy = mixed_model().apply(mixed_circuit())
    rng = np.random.default_rng(5)
    psi = rng.standard_normal((2, 8)) + 1j * rng.standard_normal((2, 8))
    psi /= np.linalg.norm(psi, axis=1, keepdims=True)
    rho0 = 0.5 * qn.pure_density(psi) + 0.5 * np.eye(8) / 8
    assert np.allclose(qn.evolve(noisy, w, x, psi), dense_superop_reference(noisy, w, x, 2, qn.pure_density(psi)),
                       atol=ATOL)
    assert np.allclose(qn.evolve(noisy, w, x, rho0), dense_superop_reference(noisy, w, x, 2, rho0), atol=ATOL)
    with pytest.raises(Exception, match="trace"):
        qn.evolve(noisy, w, x, 2 * rho0)
    with pytest.raises(Exception, match="Hermitian"):
        bad = rho0.copy()
        bad[:, 0, 1] += 0.1
        qn.evolve(noisy, w, x, bad)


def test_expectations_probabilities_and_utilities(data):
    w, x = data
    noisy = mixed_model().apply(mixed_circuit())
    rho = qn.density_matrix(noisy, w, x)
    obs = [pauli("XZ", (0, 2)), pauli("Y", 1, 0.5) + pauli("ZZ", (1, 2), -2.0), pauli("XYZ", (2, 1, 0))]
    want = np.array([[np.trace(o.matrix(3) @ r).real for o in obs] for r in rho])
    assert np.allclose(qn.expval_density(noisy, obs, w, x), want, atol=ATOL)
    assert np.allclose(qn.expval_rho(rho, obs), want, atol=ATOL)
    p = qn.probabilities_density(noisy, w, x)
    assert np.allclose(p, np.real(np.diagonal(rho, axis1=1, axis2=2)), atol=ATOL)
    assert np.allclose(p.sum(axis=1), 1.0)
    assert np.allclose(np.trace(rho, axis1=1, axis2=2), 1.0)
    assert np.all(qn.purity(rho) < 1.0)
    # partial trace against an explicit sum
    red = qn.partial_trace(rho, [2, 0])
    t = rho.reshape(2, 2, 2, 2, 2, 2, 2)
    want_red = np.einsum("bacedcf->beafd", t).reshape(2, 4, 4)          # keep (2, 0), trace wire 1
    assert np.allclose(red, want_red, atol=ATOL)
    # fidelity: symmetric, 1 on itself, equals <psi|rho|psi> for pure sigma
    assert np.allclose(qn.fidelity(rho, rho), 1.0, atol=1e-8)
    assert np.allclose(qn.fidelity(rho[0], rho[1]), qn.fidelity(rho[1], rho[0]), atol=1e-8)
    assert np.allclose(qn.trace_distance(rho, rho), 0.0, atol=1e-10)


def test_plan_is_reused_for_shifted_circuits():
    c = Circuit(2, (op(G.RY, 0, Weight(0)), op(G.CNOT, (0, 1))))
    c2 = Circuit(2, (op(G.RY, 0, Weight(0, 1.0, 0.5)), op(G.CNOT, (0, 1))))
    m = qn.NoiseModel.depolarizing(0.1, 0.1)
    assert D.plan(m.apply(c)) is D.plan(m.apply(c2))


# ---------------------------------------------------------------------- Qiskit Aer
def test_against_qiskit_aer_density_matrix(data):
    pytest.importorskip("qiskit_aer")
    from qiskit import QuantumCircuit
    from qiskit.circuit.library import UnitaryGate
    from qiskit.quantum_info import DensityMatrix
    from qiskit_aer import AerSimulator
    from qiskit_aer.noise import kraus_error

    w, x = data
    noisy = mixed_model().apply(mixed_circuit())
    n = noisy.n_qubits
    ours = qn.density_matrix(noisy, w, x)
    sim = AerSimulator(method="density_matrix")
    for b in range(2):
        qc = QuantumCircuit(n)
        for ins in noisy.instructions:
            # qiskit is little-endian: the first (most significant) wire of our matrices is its last qarg
            qargs = list(reversed(ins.wires))
            if isinstance(ins, qn.ChannelOp):
                qc.append(kraus_error(list(ins.channel.kraus)), qargs)      # a QuantumError instruction
            else:
                u = ins.gate.matrices(ref.op_thetas(ins, w, x[b:b + 1], 1))[0]
                qc.append(UnitaryGate(u), qargs)
        qc.save_density_matrix()
        rho = np.asarray(sim.run(qc).result().data()["density_matrix"])
        theirs = DensityMatrix(rho).reverse_qargs().data                # to big-endian
        assert np.allclose(ours[b], theirs, atol=1e-8)
