"""evolve: fused Numba passes vs the NumPy Kraus reference vs a dense superoperator reference
vs Qiskit Aer; real fast path; pure and mixed initial states."""

from __future__ import annotations

import numpy as np
import pytest

import qsim.noise as qn
from qsim import Circuit, Input, Weight, op
from qsim import gates as G
from qsim.backends import reference as ref
from qsim.noise import density as D
from qsim.simulate import final_state

from .references import ATOL, dense_superop_reference, mixed_circuit, mixed_model

@pytest.mark.parametrize("fusion", [True, False])
def test_noisy_circuit_matches_dense_superoperator_and_kraus_reference(data, fusion):
    w, x = data
    noisy = mixed_model().apply(mixed_circuit())
    want = dense_superop_reference(noisy, w, x, 2)
    got = qn.evolve(noisy, w, x, fusion=fusion)
    assert got.dtype == np.complex128
    assert np.allclose(got, want, atol=ATOL)
    assert np.allclose(qn.evolve(noisy, w, x, backend="numpy"), want, atol=ATOL)


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
