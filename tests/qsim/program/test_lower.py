"""Lowering and fusion: same results at every fusion level, fewer passes with more fusion."""

from __future__ import annotations

import numpy as np
import pytest

from qsim import Circuit, final_state
from qsim.ansatz import hardware_efficient_layer, long_range_pqc
from qsim.program import KIND_CTRL_X, KIND_DENSE1, KIND_DENSE2, KIND_DIAG1, lower

from qsim_testutils import random_circuit


def test_pass_counts_and_kinds():
    n = 6
    c = Circuit(n, tuple(hardware_efficient_layer(n) + hardware_efficient_layer(n, first_weight=2 * n)))
    p0, p1, p2 = (lower(c, f) for f in (0, 1, 2))
    assert p0.n_passes == len(c) == 36
    assert p1.n_passes == 24                 # RY·RZ fused per qubit
    assert p2.n_passes == 12                 # ... and absorbed into the CNOT ring
    assert set(p1.kind.tolist()) == {KIND_DENSE1, KIND_CTRL_X}
    assert set(p2.kind.tolist()) == {KIND_DENSE2}
    assert p0.n_factors == p1.n_factors == p2.n_factors == 36
    # a CNOT pass touches half of the state: 12 dense passes + 12 CNOTs x 1/2
    assert p1.state_sweeps == 18.0 and p2.state_sweeps == 12.0
    assert lower(Circuit(1, tuple(hardware_efficient_layer(1, rotations=()))), 1).n_passes == 0


def test_diagonal_detection():
    from qsim import op, Weight
    from qsim.gates import RZ, S, T

    p = lower(Circuit(2, (op(RZ, 0, Weight(0)), op(S, 0), op(T, 0))), 1)
    assert p.kind.tolist() == [KIND_DIAG1]


@pytest.mark.parametrize("seed", range(4))
def test_fusion_levels_agree(seed):
    rng = np.random.default_rng(seed)
    c = random_circuit(rng, 5, 50)
    w = rng.normal(size=c.n_weights)
    x = rng.normal(size=(2, c.n_inputs))
    ref = final_state(c, w, x, backend="numpy")
    for f in (0, 1, 2):
        np.testing.assert_allclose(final_state(c, w, x, fusion=f), ref, atol=1e-12)


def test_real_detection():
    assert lower(Circuit(4, tuple(long_range_pqc(4, 2, 2))), 2).real
    assert not lower(Circuit(4, tuple(hardware_efficient_layer(4))), 2).real
