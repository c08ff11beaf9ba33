"""The density plan: fusion, sparsity patterns, the structure-keyed cache, binder slots."""

from __future__ import annotations

import numpy as np

import qsim.noise as qn
from qsim import Circuit, Weight, op
from qsim import gates as G
from qsim.noise import density as D
from qsim.noise.density.bind import slot_thetas
from qsim.noise.density.plan import MAX_PASS_WIDTH

from .references import w1_circuit, w1_noise_model

def test_fusion_reduces_passes_and_patterns_are_sparse():
    noisy = w1_noise_model().apply(w1_circuit(5))
    fused, plain = D.plan(noisy, True), D.plan(noisy, False)
    assert fused.n_passes < plain.n_passes / 3
    assert fused.nnz < 0.5 * sum(4 ** (2 * len(q)) for q in fused.block_qubits)


def test_plan_is_reused_for_shifted_circuits():
    c = Circuit(2, (op(G.RY, 0, Weight(0)), op(G.CNOT, (0, 1))))
    c2 = Circuit(2, (op(G.RY, 0, Weight(0, 1.0, 0.5)), op(G.CNOT, (0, 1))))
    m = qn.NoiseModel.depolarizing(0.1, 0.1)
    assert D.plan(m.apply(c)) is D.plan(m.apply(c2))


def test_plan_cache_is_keyed_by_structure_not_by_angles():
    c = Circuit(2, (op(G.RY, 0, Weight(0)), op(G.RX, 1, Weight(1, 2.0)), op(G.CNOT, (0, 1))))
    shifted = Circuit(2, (op(G.RY, 0, Weight(0, 1.0, 0.5)), op(G.RX, 1, Weight(1, 2.0, -0.5)), op(G.CNOT, (0, 1))))
    rescaled = Circuit(2, (op(G.RY, 0, Weight(0)), op(G.RX, 1, Weight(1, 3.0)), op(G.CNOT, (0, 1))))
    m = qn.NoiseModel.depolarizing(0.1, 0.1)
    a, b, r = m.apply(c), m.apply(shifted), m.apply(rescaled)
    assert a.structure == b.structure and hash(a.structure) == hash(b.structure)
    assert a.structure is a.structure                       # computed once per object
    assert a.structure != r.structure                       # the scale is structure (it is not shifted)
    assert D.plan(a) is D.plan(b) and D.plan(a) is not D.plan(r)
    assert D.plan(a, True) is not D.plan(a, False)


def test_binder_slots_read_the_right_angles():
    """Slot angles against the circuit's own parameter references (an independent lookup)."""
    c = Circuit(2, (op(G.RY, 0, Weight(1, 2.0, 0.3)), op(G.U3, 1, Weight(0), Weight(2), Weight(0, -1.0)),
                    op(G.CNOT, (0, 1)), op(G.RZ, 0, Weight(2, 0.5))))
    noisy = qn.NoiseModel.depolarizing(0.01, 0.02).apply(c)
    pl = D.plan(noisy)
    w = np.array([0.7, -1.1, 2.5])
    theta, per = slot_thetas(pl, noisy, w, None)
    assert not per.any() and theta.shape == (1, len(pl.binder.slots))
    for s, ei in enumerate(pl.binder.slots):
        e = pl.elems[ei]
        p = noisy.instructions[e.index].params[e.pidx]
        assert theta[0, s] == p.scale * w[p.index] + p.offset
    assert pl.bits.shape[1] == pl.ins.shape[1] == MAX_PASS_WIDTH == 6
