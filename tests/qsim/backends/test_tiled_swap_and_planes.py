"""Issue 12 kernels against index arithmetic and the NumPy reference: the tiled swap step of the
cache-blocked plan, and the tile-by-tile plane transposes of the batch-major driver."""

from __future__ import annotations

import numpy as np
import pytest

from qsim import final_state, z_each
from qsim.backends import batch_major as BM
from qsim.backends import numba_backend as NB
from qsim.backends import numba_kernels as K
from qsim.grad import vjp

from qsim_testutils import haar_states, swap_reference

#: Agreement with the reference (the issue's bar: 1e-12 in double, 1e-5 in single precision).
TOL = {"double": 1e-12, "single": 1e-5}



def _states(rng, dtype, n: int) -> np.ndarray:
    st = rng.normal(size=(2, 2**n)).astype(dtype)
    if np.dtype(dtype).kind == "c":
        st = st + 1j * rng.normal(size=st.shape).astype(dtype)
    return st


@pytest.mark.parametrize("n,lbits,gbits", [(7, [0], [4]), (7, [1, 0], [5, 6]), (9, [2, 1, 3], [8, 5, 6]),
                                           (10, [1, 2], [9, 3]), (12, [0, 1, 2, 3, 4], [11, 10, 9, 8, 7]),
                                           (12, [5, 4, 3, 2, 1], [7, 8, 9, 10, 11])])
@pytest.mark.parametrize("dtype", [np.complex128, np.complex64, np.float64])
def test_tiled_swap_is_the_bit_transposition(n, lbits, gbits, dtype):
    """Local bits contiguous (any order, lowest bit 0-3) below the global ones, as the kernel needs."""
    st = _states(np.random.default_rng(n), dtype, n)
    ref = swap_reference(st, lbits, gbits, n)
    K._swap_tiled(st, np.array(lbits, dtype=np.int64), np.array(gbits, dtype=np.int64))
    np.testing.assert_array_equal(st, ref)


def test_swap_bits_picks_the_tiled_kernel_for_large_contiguous_tiles(monkeypatch):
    calls = []
    tiled = K._swap_tiled
    monkeypatch.setattr(K, "_swap_tiled", lambda *a: (calls.append(1), tiled(*a)))
    rng = np.random.default_rng(2)
    n = 16
    for lbits, gbits, expect in [([0, 1, 2, 3, 4], [15, 14, 13, 12, 11], 1),      # 2m + l = 10: tiled
                                 ([0, 2], [9, 12], 0), ([1, 2], [5, 12], 0)]:     # not contiguous / small
        calls.clear()
        st = _states(rng, np.complex64, n)
        ref = swap_reference(st, lbits, gbits, n)
        K._swap_bits(st, np.array(lbits, dtype=np.int64), np.array(gbits, dtype=np.int64))
        np.testing.assert_array_equal(st, ref)
        assert len(calls) == expect


@pytest.mark.parametrize("precision", ["double", "single"])
def test_planned_w1_with_tiled_swaps_matches_the_reference(monkeypatch, precision):
    """W1's layers on 16 qubits in blocks of 2**11: the plan swaps 5 contiguous pairs (tiled
    where the lowest is bit 0); forward and the adjoint's reversed plan."""
    from qsim import Circuit
    from qsim.ansatz import hardware_efficient_layer

    calls = []
    tiled = K._swap_tiled
    monkeypatch.setattr(K, "_swap_tiled", lambda *a: (calls.append(1), tiled(*a)))
    monkeypatch.setattr(NB, "SAMPLE_MAJOR_MAX_QUBITS", 0)
    monkeypatch.setattr(NB, "FORCE_LOCAL_QUBITS", 11)
    rng = np.random.default_rng(16)
    c = Circuit(16, tuple(op for layer in range(2) for op in hardware_efficient_layer(16, first_weight=32 * layer)))
    w, psi = rng.normal(size=c.n_weights), haar_states(rng, 1, 16)
    ref = final_state(c, w, None, psi, backend="numpy")
    got = final_state(c, w, None, psi, precision=precision)
    np.testing.assert_allclose(got, ref, atol=TOL[precision])
    assert calls
    obs = z_each(16)
    cot = rng.normal(size=(1, 16))
    gref = vjp(c, obs, cot, w, None, psi, backend="numpy")
    g = vjp(c, obs, cot, w, None, psi, precision=precision)
    tol = 1e-10 if precision == "double" else 1e-4
    np.testing.assert_allclose(g.weights, gref.weights, atol=tol)
    np.testing.assert_allclose(g.state, gref.state, atol=tol)


@pytest.mark.parametrize("R,Kc", [(37, 21), (256, 64), (1, 5)])
@pytest.mark.parametrize("dtype,rdt", [(np.complex128, np.float64), (np.complex64, np.float32),
                                       (np.complex128, np.float32)])
def test_planes_round_trip(R, Kc, dtype, rdt):
    rng = np.random.default_rng(R)
    a = (rng.normal(size=(R, Kc)) + 1j * rng.normal(size=(R, Kc))).astype(dtype)
    re, im = NB._planes(a, rdt, False)
    np.testing.assert_array_equal(re, a.real.T.astype(rdt))
    np.testing.assert_array_equal(im, a.imag.T.astype(rdt))
    back = NB._unplanes(re, im, np.complex128 if rdt == np.float64 else np.complex64)
    np.testing.assert_allclose(back, a, rtol=1e-6)
    real, _ = NB._planes(a, rdt, True)                     # the real fast path keeps the real part
    np.testing.assert_array_equal(NB._unplanes(real, _, rdt), a.real.astype(rdt))
    BM.from_planes(re, im, out := np.empty((R, Kc), dtype=np.complex128))
    np.testing.assert_allclose(out, a, rtol=1e-6)
