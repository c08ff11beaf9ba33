"""Circuit data and every validation error."""

from __future__ import annotations

import numpy as np
import pytest

from qsim import (Circuit, CircuitError, Const, Input, Operation, Weight, expval, final_state, op, pauli,
                  z_each)
from qsim.gates import CNOT, RX, RY, Toffoli


def test_counts_depth_and_real():
    c = Circuit(3, (op(RY, 0, Weight(0)), op(CNOT, (0, 1)), op(RY, 2, Input(0)), op(Toffoli, (0, 1, 2))))
    assert c.count_by_arity() == {1: 2, 2: 1, 3: 1}
    assert c.count_by_name() == {"RY": 2, "CNOT": 1, "Toffoli": 1}
    assert c.depth() == 3
    assert c.is_real and c.n_weights == 1 and c.n_inputs == 1
    assert not Circuit(1, (op(RX, 0, 0.3),)).is_real
    assert len(c + c) == 8 and "CNOT" in c.draw()


@pytest.mark.parametrize("make,match", [
    (lambda: Circuit(0), "n_qubits"),
    (lambda: Circuit(2, (op(RY, 2, Weight(0)),)), "wire 2 out of range"),
    (lambda: op(CNOT, (1, 1)), "repeated wire"),
    (lambda: op(CNOT, (0,)), "acts on 2 wires"),
    (lambda: op(RY, -1, 0.1), "non-negative"),
    (lambda: Operation(RY, (0,), ()), "takes 1 parameters"),
    (lambda: Operation(RY, (0,), ("a",)), "not a Weight"),
    (lambda: Weight(-1), "non-negative"),
    (lambda: Input(0, scale=float("nan")), "not finite"),
    (lambda: Const(float("inf")), "not finite"),
    (lambda: Circuit(1, (op(RY, 0, Weight(3)),), n_weights=2), "slot 3 is used"),
    (lambda: Circuit(1, ("x",)), "not an Operation"),
    (lambda: Circuit(2) + Circuit(3), "cannot concatenate"),
])
def test_construction_errors(make, match):
    with pytest.raises(CircuitError, match=match):
        make()


def test_data_errors():
    c = Circuit(2, (op(RY, 0, Weight(0)), op(RY, 1, Input(1))))
    w, x = np.zeros(1), np.zeros((3, 2))
    with pytest.raises(CircuitError, match=r"weights have shape \(2,\), expected \(1,\)"):
        expval(c, z_each(2), np.zeros(2), x)
    with pytest.raises(CircuitError, match="uses 1 weights but none"):
        expval(c, z_each(2), None, x)
    with pytest.raises(CircuitError, match=r"inputs have shape \(3, 1\), expected \(B, 2\)"):
        expval(c, z_each(2), w, np.zeros((3, 1)))
    with pytest.raises(CircuitError, match="reads 2 inputs per sample but none"):
        expval(c, z_each(2), w)
    with pytest.raises(CircuitError, match=r"weights\(0,\) = nan is not finite"):
        expval(c, z_each(2), np.array([np.nan]), x)
    with pytest.raises(CircuitError, match=r"inputs\(1, 0\) = inf"):
        expval(c, z_each(2), w, np.array([[0, 0], [np.inf, 0], [0, 0]]))
    with pytest.raises(CircuitError, match="not normalised"):
        expval(c, z_each(2), w, x, state=np.ones((3, 4)))
    with pytest.raises(CircuitError, match=r"state has shape \(3, 8\)"):
        expval(c, z_each(2), w, x, state=np.ones((3, 8)) / np.sqrt(8))
    with pytest.raises(CircuitError, match="batch sizes disagree"):
        expval(c, z_each(2), w, x, state=np.tile([1.0, 0, 0, 0], (2, 1)))
    with pytest.raises(CircuitError, match="wire out of range"):
        expval(c, pauli("Z", 5), w, x)
    with pytest.raises(CircuitError, match="unknown factor"):
        pauli("Q", 0)
    with pytest.raises(CircuitError, match="backend 'gpu'"):
        final_state(c, w, x, backend="gpu")
    with pytest.raises(CircuitError, match="precision 'half'"):
        final_state(c, w, x, precision="half")
    with pytest.raises(CircuitError, match="fusion level 7"):
        final_state(c, w, x, fusion=7)
    with pytest.raises(CircuitError, match="real=True"):
        expval(Circuit(1, (op(RX, 0, 0.2),)), z_each(1), real=True)
