"""Cache-blocked plans (:mod:`qsim.program.plan`): structure, layout bookkeeping and caching.

Every step is replayed on a symbolic layout: block slots act on local bits only, controls above
the block are in ``global_mask``, swaps pair a local with a global bit, and the plan ends in the
identity layout.  The numbers these plans compute are tested against the reference in
``tests/qsim/backends/test_blocked.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from qsim import Circuit, InputError
from qsim.ansatz import hardware_efficient_layer
from qsim.program import lower
from qsim.program.plan import MAX_SWAP_PAIRS, STEP_BLOCK, STEP_SWAP, STEP_SWEEP, plan

from qsim_testutils import random_circuit


def _replay(prog, pl):
    """Walk the plan with a layout ``where[home] = bit``; return the scheduled passes in order."""
    n, k = prog.n_qubits, pl.local_qubits
    where = list(range(n))
    order = []
    for kind, lo, hi in zip(pl.step_kind, pl.step_lo, pl.step_hi):
        if kind == STEP_SWAP:
            assert 1 <= hi - lo <= MAX_SWAP_PAIRS
            used = set()
            for lb, gb in zip(pl.swap_local[lo:hi], pl.swap_global[lo:hi]):
                assert lb < k <= gb and lb not in used and gb not in used
                used.update((lb, gb))
                a, b = where.index(lb), where.index(gb)
                where[a], where[b] = gb, lb
            continue
        assert hi > lo and (kind == STEP_BLOCK or hi - lo == 1)
        for s in range(lo, hi):
            p = int(pl.slot_pass[s])
            w = int(prog.width[p])
            targets = [where[int(h)] for h in prog.bits[p, :w]]
            assert pl.bits[s, :w].tolist() == targets
            controls = [where[h] for h in range(n) if (int(prog.ctrl_mask[p]) >> h) & 1]
            inner = [c for c in controls if kind == STEP_SWEEP or c < k]
            outer = [c for c in controls if kind == STEP_BLOCK and c >= k]
            if kind == STEP_BLOCK:
                assert max(targets) < k
            assert int(pl.ctrl_mask[s]) == sum(1 << c for c in inner)
            assert int(pl.global_mask[s]) == sum(1 << c for c in outer)
            assert pl.ins[s, :pl.n_ins[s]].tolist() == sorted(targets + inner)
            order.append(p)
    assert where == list(range(n)), "the plan must end in the identity layout"
    return order


def _respects_dependencies(prog, order):
    """Every pass runs after each earlier pass it shares a wire with."""
    n = prog.n_qubits
    wires = [set(prog.bits[p, :prog.width[p]].tolist()) | {h for h in range(n) if (int(prog.ctrl_mask[p]) >> h) & 1}
             for p in range(prog.n_passes)]
    pos = {p: i for i, p in enumerate(order)}
    return all(pos[a] < pos[b] for b in range(prog.n_passes) for a in range(b) if wires[a] & wires[b])


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_plan_replays_to_the_program(seed, k):
    rng = np.random.default_rng(seed)
    prog = lower(random_circuit(rng, int(rng.integers(3, 10)), 50), int(rng.integers(0, 3)))
    pl = plan(prog, k)
    order = _replay(prog, pl)
    assert sorted(order) == list(range(prog.n_passes))
    assert _respects_dependencies(prog, order)


def test_everything_local_is_one_block_run():
    prog = lower(random_circuit(np.random.default_rng(1), 5, 30))
    pl = plan(prog, 9)
    assert pl.local_qubits == 5
    assert pl.step_kind.tolist() == [STEP_BLOCK] and pl.slot_pass.tolist() == list(range(prog.n_passes))
    assert not pl.global_mask.any()


def test_layered_circuit_needs_few_sweeps():
    """W1-like (4 layers, 24 qubits, blocks of 2**16): 192 passes in 18 sweeps, the ring's last
    CNOT (its target brought local for that one pass only) swept alone."""
    n = 24
    ops = []
    for layer in range(4):
        ops += hardware_efficient_layer(n, first_weight=2 * n * layer)
    prog = lower(Circuit(n, tuple(ops)))
    pl = plan(prog, 16)
    assert prog.n_passes == 192
    assert pl.count(STEP_SWEEP) == 1 and pl.slot_pass[pl.step_lo[pl.step_kind == STEP_SWEEP][0]] == 191
    assert pl.n_steps <= 18
    assert sorted(_replay(prog, pl)) == list(range(192))


def test_wide_pass_on_tiny_blocks_is_swept():
    """A two-target gate cannot be local in blocks of one bit: it runs as a lone sweep."""
    from qsim import op
    from qsim.gates import SWAP, H

    prog = lower(Circuit(3, (op(H, 2), op(SWAP, (0, 1)), op(H, 0))))
    pl = plan(prog, 1)
    assert pl.count(STEP_SWEEP) >= 1
    _replay(prog, pl)


def test_plan_is_cached_and_checks_its_argument():
    prog = lower(random_circuit(np.random.default_rng(2), 6, 20))
    assert plan(prog, 3) is plan(prog, 3)
    for bad in (0, -1, 2.0, True):
        with pytest.raises(InputError, match="local_qubits"):
            plan(prog, bad)
