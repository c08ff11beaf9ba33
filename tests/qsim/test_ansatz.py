"""The paper's long-range block (Fig. 2, Fig. 3), angle encoding and the hardware-efficient layer."""

from __future__ import annotations

import numpy as np
import pytest

from qsim import Circuit, CircuitError, Operation, Weight, final_state
from qsim.ansatz import (angle_encoding, hardware_efficient_layer, long_range_layer, long_range_pqc,
                         long_range_pqc_num_weights)
from qsim.gates import CNOT, RY, RZ


def test_fig3_count_and_order():
    """Fig. 3: Q=4, 3 layers, C=2, RY column after the first layer -> 28 angles in this order."""
    ops = long_range_pqc(4, 3, 2, ry_column_after=0)
    c = Circuit(4, tuple(ops))
    assert c.n_weights == 28 == long_range_pqc_num_weights(4, 3, 2, ry_column_after=0)
    expected = []
    k = 0

    def layer():
        nonlocal k
        for ctrl, tgt in [(0, 1), (1, 2), (2, 3), (3, 0), (0, 2), (1, 3), (2, 0), (3, 1)]:
            expected.append(("CNOT", (ctrl, tgt), None))
            expected.append(("RY", (tgt,), k))
            k += 1

    layer()
    for q in range(4):                      # θ8..θ11: the RY column
        expected.append(("RY", (q,), k))
        k += 1
    layer()
    layer()
    got = [(o.gate.name, o.wires, o.params[0].index if o.params else None) for o in ops]
    assert got == expected


def test_fig3_figure_order_is_the_same_unitary():
    """The figure draws offset 2 as CNOT 0→2, CNOT 1→3, RY θ4 q2, RY θ5 q3, CNOT 2→0, CNOT 3→1, RY θ6 q0,
    RY θ7 q1; the builder interleaves CNOT/RY per block. Both are the same operator."""
    w = np.random.default_rng(3).normal(size=8)
    ours = Circuit(4, tuple(long_range_layer(4, 2)))
    fig = [Operation(CNOT, (0, 1)), Operation(RY, (1,), (Weight(0),)), Operation(CNOT, (1, 2)),
           Operation(RY, (2,), (Weight(1),)), Operation(CNOT, (2, 3)), Operation(RY, (3,), (Weight(2),)),
           Operation(CNOT, (3, 0)), Operation(RY, (0,), (Weight(3),)),
           Operation(CNOT, (0, 2)), Operation(CNOT, (1, 3)), Operation(RY, (2,), (Weight(4),)),
           Operation(RY, (3,), (Weight(5),)), Operation(CNOT, (2, 0)), Operation(CNOT, (3, 1)),
           Operation(RY, (0,), (Weight(6),)), Operation(RY, (1,), (Weight(7),))]
    eye = np.eye(16)
    a = final_state(ours, w, state=eye, backend="numpy")
    b = final_state(Circuit(4, tuple(fig)), w, state=eye, backend="numpy")
    np.testing.assert_allclose(a, b, atol=1e-12)


def test_fig2_pairs():
    ops = long_range_layer(5, 2)
    pairs = [o.wires for o in ops if o.gate is CNOT]
    assert pairs == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 0), (0, 2), (1, 3), (2, 4), (3, 0), (4, 1)]


def test_other_builders():
    enc = angle_encoding(3, scale=np.pi, first_input=2)
    assert [(o.gate.name, o.wires, o.params[0].index, o.params[0].scale) for o in enc] == [
        ("RY", (0,), 2, np.pi), ("RY", (1,), 3, np.pi), ("RY", (2,), 4, np.pi)]
    he = hardware_efficient_layer(3, first_weight=6)
    assert [o.gate.name for o in he] == ["RY", "RZ"] * 3 + ["CNOT"] * 3
    assert [o.params[0].index for o in he if o.params] == list(range(6, 12))
    assert [o.wires for o in he if o.gate is CNOT] == [(0, 1), (1, 2), (2, 0)]
    assert [o.wires for o in hardware_efficient_layer(2) if o.gate is CNOT] == [(0, 1)]
    assert [o.gate for o in hardware_efficient_layer(2, rotations=(RZ,))][:2] == [RZ, RZ]


@pytest.mark.parametrize("call,match", [
    (lambda: long_range_layer(1, 1), "at least 2 qubits"),
    (lambda: long_range_layer(4, 4), "connectivity = 4"),
    (lambda: long_range_layer(4, 0), "connectivity = 0"),
    (lambda: long_range_pqc(4, 2, 1, ry_column_after=2), "ry_column_after"),
    (lambda: long_range_pqc(4, -1, 1), "layers"),
    (lambda: angle_encoding(2, gate=CNOT), "one-parameter"),
    (lambda: angle_encoding(2, wires=(0,)), "expected 2 wires"),
])
def test_builder_errors(call, match):
    with pytest.raises(CircuitError, match=match):
        call()
