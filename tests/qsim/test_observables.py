"""Observables: parity signs against a per-bit brute force, wire checks."""

from __future__ import annotations

import numpy as np
import pytest

from qsim import CircuitError, pauli
from qsim.observables import parity_signs


@pytest.mark.parametrize("n", [1, 3, 6, 10])
def test_parity_signs_brute_force(n):
    rng = np.random.default_rng(n)
    for mask in {0, (1 << n) - 1, *rng.integers(0, 1 << n, size=5).tolist()}:
        want = np.array([(-1.0) ** bin(i & mask).count("1") for i in range(1 << n)])
        got = parity_signs(n, mask)
        np.testing.assert_array_equal(got, want)
        assert got.dtype == np.float64 and not got.flags.writeable
        assert parity_signs(n, mask) is got                                  # cached


def test_parity_signs_are_the_z_string_diagonal():
    """``(-1)^{|i ∧ s|}`` is the diagonal of the Z-string on the sign mask's wires."""
    n = 4
    obs = pauli("ZIZZ", (0, 1, 2, 3))
    _, sign = obs.terms[0].masks(n)
    np.testing.assert_array_equal(parity_signs(n, sign), np.diag(obs.matrix(n)).real)


def test_check_wires():
    o = pauli("ZX", (0, 3)) + pauli("Y", 1)
    o.check_wires(4)
    with pytest.raises(CircuitError, match=r"ZX\(0, 3\): wire out of range for 3 qubits"):
        o.check_wires(3)
