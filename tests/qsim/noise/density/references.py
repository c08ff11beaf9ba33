"""Independent references for the density-matrix tests: dense ``4**n × 4**n`` superoperators
built from the core's reference apply, random isometry Kraus sets, a circuit and a model that
use every kind of gate and channel."""

from __future__ import annotations

import math

import numpy as np

import qsim.noise as qn
from qsim import Circuit, Const, Input, Weight, op
from qsim import gates as G
from qsim.ansatz import hardware_efficient_layer
from qsim.backends import reference as ref

ATOL = 1e-10


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


def w1_circuit(n: int, layers: int = 4) -> Circuit:
    """The benchmark's W1 circuit: ``layers`` × (RY, RZ on every qubit, CNOT ring)."""
    ops = []
    for layer in range(layers):
        ops += hardware_efficient_layer(n, first_weight=layer * 2 * n)
    return Circuit(n, tuple(ops))


def w1_noise_model() -> qn.NoiseModel:
    """The benchmark's W4 noise: depolarizing 0.001 after 1q gates, 0.01 on each CNOT wire."""
    return qn.NoiseModel.depolarizing(0.001, 0.01, two_qubit="each")
