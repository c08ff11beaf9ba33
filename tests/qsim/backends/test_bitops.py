"""The shared Numba bit helpers (:mod:`qsim.backends.bitops`) against plain Python integer
arithmetic, exhaustively on small registers (qubit 0 = most significant bit)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from qsim.backends.bitops import group_offsets, insert_bit, insert_bits, parity
from qsim.observables import parity_signs

#: Register width of the exhaustive checks.
N_BITS = 7


def _insert_ref(k: int, positions) -> int:
    """Zero bits at ``positions`` of the result, the bits of ``k`` (in order) everywhere else."""
    out, src = 0, 0
    for p in range(N_BITS + len(positions)):
        if p in positions:
            continue
        out |= ((k >> src) & 1) << p
        src += 1
    return out


@pytest.mark.parametrize("p", range(N_BITS))
def test_insert_bit_is_a_zero_at_p(p):
    for k in range(1 << N_BITS):
        got = insert_bit(k, p)
        assert got == _insert_ref(k, {p})
        assert (got >> p) & 1 == 0
        assert (got & ((1 << p) - 1)) == (k & ((1 << p) - 1)) and got >> (p + 1) == k >> p


@pytest.mark.parametrize("n_ins", [0, 1, 2, 3, 5])
def test_insert_bits_enumerates_the_groups(n_ins):
    for positions in itertools.combinations(range(N_BITS), n_ins):
        ins = np.array(list(positions) + [0] * (6 - n_ins), dtype=np.int64)     # padded like the programs
        starts = [insert_bits(k, ins, n_ins) for k in range(1 << (N_BITS - n_ins))]
        assert starts == [_insert_ref(k, set(positions)) for k in range(1 << (N_BITS - n_ins))]
        # the group starts are exactly the indices < 2**N_BITS with zeros at every inserted position
        mask = sum(1 << p for p in positions)
        assert starts == [i for i in range(1 << N_BITS) if not i & mask]


@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_group_offsets_first_target_is_the_most_significant(width):
    rng = np.random.default_rng(width)
    for _ in range(10):
        bits = rng.choice(N_BITS, size=width, replace=False).astype(np.int64)
        out = np.full(1 << width, -1, dtype=np.int64)
        group_offsets(bits, width, out)
        ref = [sum(1 << int(bits[j]) for j in range(width) if (local >> (width - 1 - j)) & 1)
               for local in range(1 << width)]
        assert out.tolist() == ref
    # wires (0, 1) of a 3-qubit register are bits (2, 1): the kron order of a two-qubit matrix
    out = np.zeros(4, dtype=np.int64)
    group_offsets(np.array([2, 1], dtype=np.int64), 2, out)
    assert out.tolist() == [0b000, 0b010, 0b100, 0b110]


def test_parity_is_the_popcount_mod_2():
    rng = np.random.default_rng(0)
    xs = list(range(1 << 10)) + [int(v) for v in rng.integers(0, 2**62, 200)] + [2**63 - 1, 2**62 + 1]
    for x in xs:
        assert parity(np.int64(x)) == bin(x).count("1") % 2


@pytest.mark.parametrize("mask", [0, 0b1, 0b101, 0b11111, 0b10010])
def test_parity_gives_the_cached_parity_signs(mask):
    n = 5
    signs = np.array([1.0 - 2.0 * parity(np.int64(i & mask)) for i in range(1 << n)])
    np.testing.assert_array_equal(signs, parity_signs(n, mask))
