"""Workload definitions: structure (no peer needed) and determinism."""

from __future__ import annotations

import numpy as np
import pytest

from bench.workloads import (
    DEFAULT_LAYERS, WORKLOADS, angle_value, build_problem, g1_matrix, g1_target, w1_circuit, w2_circuit,
)
from qsim import Const, Input, Weight, final_state


def test_w1_structure_layers_of_ry_rz_then_cnot_ring():
    n, L = 5, DEFAULT_LAYERS
    c = w1_circuit(n, L)
    per_layer = 2 * n + n
    assert len(c.ops) == L * per_layer
    assert c.n_weights == 2 * n * L and c.n_inputs == 0
    for layer in range(L):
        ops = c.ops[layer * per_layer:(layer + 1) * per_layer]
        for q in range(n):
            ry, rz = ops[2 * q], ops[2 * q + 1]
            assert (ry.gate.name, ry.wires, ry.params) == ("RY", (q,), (Weight(2 * n * layer + 2 * q),))
            assert (rz.gate.name, rz.wires, rz.params) == ("RZ", (q,), (Weight(2 * n * layer + 2 * q + 1),))
        ring = [(o.gate.name, o.wires) for o in ops[2 * n:]]
        assert ring == [("CNOT", (q, (q + 1) % n)) for q in range(n)]


def test_w2_is_ry_encoding_then_w1():
    n = 4
    c = w2_circuit(n)
    enc = c.ops[:n]
    assert [(o.gate.name, o.wires, o.params) for o in enc] == [("RY", (q,), (Input(q),)) for q in range(n)]
    assert c.ops[n:] == w1_circuit(n).ops


def test_problems_are_deterministic_and_sized():
    a = build_problem("W2", 8, 256, seed=3)
    b = build_problem("W2", 8, 256, seed=3)
    c = build_problem("W2", 8, 256, seed=4)
    assert np.array_equal(a.weights, b.weights) and np.array_equal(a.inputs, b.inputs)
    assert not np.array_equal(a.weights, c.weights)
    assert a.inputs.shape == (256, 8) and a.batch == 256
    assert build_problem("W1", 6).batch == 1
    assert build_problem("W3", 6).circuit.ops == build_problem("W1", 6).circuit.ops
    assert a.key != c.key and "W2-n8-b256" in a.key


def test_g1_gate_is_dense_on_the_middle_qubit():
    n = 6
    p = build_problem("G1", n)
    (o,) = p.circuit.ops
    assert o.wires == (g1_target(n),) == (3,)
    assert np.allclose(final_state(p.circuit, p.weights)[0],
                       _apply(g1_matrix(real=False), g1_target(n), n))
    u = g1_matrix(real=True)
    assert np.isrealobj(u) and np.allclose(u @ u.T, np.eye(2))


def _apply(u, q, n):
    psi = np.zeros(2**n, dtype=complex)
    psi[0] = 1
    return np.kron(np.kron(np.eye(2**q), u), np.eye(2 ** (n - q - 1))) @ psi


def test_registry_and_work_model():
    assert list(WORKLOADS) == ["W1", "W2", "W3", "G1", "HEAD", "W4"]
    assert WORKLOADS["W2"].default_qubits == (8,) and WORKLOADS["W2"].default_batch == 256
    assert WORKLOADS["W1"].default_qubits == tuple(range(20, 27))
    w = WORKLOADS["W1"]
    assert w.work(21, 1, 4) / w.work(20, 1, 4) == pytest.approx(2 * 21 / 20)
    with pytest.raises(KeyError, match="unknown workload 'W9'"):
        build_problem("W9", 4)
    with pytest.raises(ValueError, match="n_qubits = 0"):
        build_problem("W1", 0)


def test_angle_value_is_the_reference_angle():
    """``angle_value`` agrees with each reference's own ``angle`` (one sample's inputs) as a float."""
    rng = np.random.default_rng(3)
    w, x = rng.normal(size=4), rng.normal(size=(1, 3))
    for ref in (Weight(2, 0.5, 0.1), Weight(0), Input(1, 2.0, -0.3), Input(2), Const(0.7)):
        got = angle_value(ref, w, x[0])
        assert type(got) is float
        assert got == float(np.asarray(ref.angle(w, x)).reshape(-1)[0])
    assert angle_value(Const(0.7), w) == 0.7 and angle_value(Weight(1, 2.0), w) == 2.0 * w[1]
    with pytest.raises(ValueError, match="needs a row of inputs"):
        angle_value(Input(0), w)
    with pytest.raises(TypeError, match="not a qsim parameter reference"):
        angle_value(0.3, w)
