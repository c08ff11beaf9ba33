"""The cache-blocked driver of the Numba backend against the NumPy reference, blocks forced small.

``SAMPLE_MAJOR_MAX_QUBITS = 0`` sends every register to the planned driver and
``FORCE_LOCAL_QUBITS = k`` (k = 1..5) makes blocks of ``2**k`` amplitudes, so block runs,
global controls, swaps of every bit position and lone sweeps all run on 3-12 qubits, for every
gate kind, per-sample inputs, both precisions and the real fast path.  The swap kernel and the
block-size choice are tested on their own.
"""

from __future__ import annotations

import numpy as np
import pytest

from qsim import expval, final_state, pauli, z_each
from qsim.backends import numba_backend as NB
from qsim.backends import numba_kernels as K
from qsim.grad import vjp
from qsim.program import lower
from qsim.program.plan import STEP_SWAP, STEP_SWEEP, plan

from qsim_testutils import haar_states, random_circuit, swap_reference

#: Agreement with the reference (the issue's bar: 1e-12 in double, 1e-5 in single precision).
TOL = {"double": 1e-12, "single": 1e-5}


@pytest.fixture
def blocks(monkeypatch):
    """``blocks(k)``: run every register planned, in blocks of ``2**k`` amplitudes."""
    monkeypatch.setattr(NB, "SAMPLE_MAJOR_MAX_QUBITS", 0)

    def force(k: int) -> None:
        monkeypatch.setattr(NB, "FORCE_LOCAL_QUBITS", k)

    return force


CASES = [(3, 1), (3, 2), (5, 2), (6, 3), (8, 2), (9, 4), (10, 5), (12, 3), (12, 5)]


@pytest.mark.parametrize("precision", ["double", "single"])
@pytest.mark.parametrize("n,k", CASES)
def test_random_circuits_match_the_reference(blocks, n, k, precision):
    rng = np.random.default_rng(100 * n + k)
    c = random_circuit(rng, n, 6 * n)                  # every gate kind, weights, inputs, constants
    B = 2
    w, x, psi = rng.normal(size=c.n_weights), rng.normal(size=(B, c.n_inputs)), haar_states(rng, B, n)
    ref = final_state(c, w, x, psi, backend="numpy")
    blocks(k)
    pl = plan(lower(c), k)
    assert pl.count(STEP_SWAP) > 0                     # the layout really moves
    got = final_state(c, w, x, psi, precision=precision)
    np.testing.assert_allclose(got, ref, atol=TOL[precision])


@pytest.mark.parametrize("precision", ["double", "single"])
def test_real_fast_path_and_lone_sweeps(blocks, precision):
    """Real circuits on real states; blocks of one bit leave two-target passes to lone sweeps."""
    from qsim.gates import CNOT, CZ, RY, SWAP, H, X

    rng = np.random.default_rng(5)
    n = 7
    c = random_circuit(rng, n, 60, [RY, H, X, CNOT, CZ, SWAP])
    w, x = rng.normal(size=c.n_weights), rng.normal(size=(3, c.n_inputs))
    psi = haar_states(rng, 3, n, real=True)
    ref = final_state(c, w, x, psi, backend="numpy")
    for k in (1, 3):
        blocks(k)
        got = final_state(c, w, x, psi, precision=precision, real=True)
        assert got.dtype.kind == "f"
        np.testing.assert_allclose(got, ref.real, atol=TOL[precision])
    assert plan(lower(c), 1).count(STEP_SWEEP) > 0


@pytest.mark.parametrize("precision", ["double", "single"])
@pytest.mark.parametrize("k", [1, 2, 4])
def test_adjoint_on_the_reversed_plan(blocks, k, precision):
    """Block runs undone pass by pass (correlations), swaps, and at k = 1 lone sweeps undone
    factor by factor; fusion 2 forward, fusion 1 backward."""
    rng = np.random.default_rng(11)
    n = 6
    c = random_circuit(rng, n, 40)
    w, x, psi = rng.normal(size=c.n_weights), rng.normal(size=(2, c.n_inputs)), haar_states(rng, 2, n)
    obs = list(z_each(n)) + [pauli("XY", (0, 5))]
    cot = rng.normal(size=(2, len(obs)))
    ref = vjp(c, obs, cot, w, x, psi, backend="numpy")
    blocks(k)
    if k == 1:
        assert plan(lower(c), 1).count(STEP_SWEEP) > 0
    tol = 1e-10 if precision == "double" else 1e-4
    for fusion in (1, 2):
        got = vjp(c, obs, cot, w, x, psi, precision=precision, fusion=fusion)
        np.testing.assert_allclose(got.values, ref.values, atol=tol)
        np.testing.assert_allclose(got.weights, ref.weights, atol=tol)
        np.testing.assert_allclose(got.inputs, ref.inputs, atol=tol)
        np.testing.assert_allclose(got.state, ref.state, atol=tol)
    np.testing.assert_allclose(expval(c, obs, w, x, psi, precision=precision), ref.values, atol=tol)



@pytest.mark.parametrize("lbits,gbits", [([0], [4]), ([2], [3]), ([0, 1], [5, 3]), ([3, 1, 0], [4, 6, 5]),
                                         ([1, 2], [4, 5])])
@pytest.mark.parametrize("dtype", [np.complex128, np.complex64, np.float64])
def test_swap_kernel(lbits, gbits, dtype):
    n = 7
    rng = np.random.default_rng(3)
    st = rng.normal(size=(2, 2**n)).astype(dtype)
    if np.dtype(dtype).kind == "c":
        st = st + 1j * rng.normal(size=st.shape).astype(dtype)
    ref = swap_reference(st, lbits, gbits, n)
    K._swap_bits(st, np.array(lbits, dtype=np.int64), np.array(gbits, dtype=np.int64))
    np.testing.assert_array_equal(st, ref)


def test_block_size_follows_the_cache(monkeypatch):
    monkeypatch.setattr(NB, "cache_size", lambda level: 2 << 20)          # 2 MiB of L2 per core
    monkeypatch.setattr(NB.numba, "get_num_threads", lambda: 2)
    assert NB.local_qubits(24, 1, 16) == 16                              # 1 MiB of complex128
    assert NB.local_qubits(24, 1, 8) == 17
    assert NB.local_qubits(15, 1, 16) == 12                              # 8 blocks for 2 threads
    assert NB.local_qubits(15, 8, 16) == 15
    monkeypatch.setattr(NB, "FORCE_LOCAL_QUBITS", 3)
    assert NB.local_qubits(24, 1, 16) == 3


def test_diagonal_observables_past_the_sign_matrix(monkeypatch):
    """Above ``DIAG_GEMM_MAX_ENTRIES`` Z-type terms use on-the-fly parities, values and λ alike."""
    monkeypatch.setattr(NB, "DIAG_GEMM_MAX_ENTRIES", 0)
    rng = np.random.default_rng(4)
    n = 7
    c = random_circuit(rng, n, 30)
    w, x, psi = rng.normal(size=c.n_weights), rng.normal(size=(2, c.n_inputs)), haar_states(rng, 2, n)
    obs = list(z_each(n)) + [pauli("ZZ", (0, 6), 0.5) + pauli("ZZZ", (1, 2, 4), -1.5)]
    cot = rng.normal(size=(2, len(obs)))
    ref = vjp(c, obs, cot, w, x, psi, backend="numpy")
    got = vjp(c, obs, cot, w, x, psi)
    np.testing.assert_allclose(got.values, ref.values, atol=1e-10)
    np.testing.assert_allclose(got.weights, ref.weights, atol=1e-10)
    np.testing.assert_allclose(got.state, ref.state, atol=1e-10)


@pytest.mark.parametrize("dtype", [np.complex128, np.complex64])
def test_memory_sweeps_are_the_plan_steps_on_the_blocked_path_and_passes_below(dtype):
    from qsim.backends import get_backend

    numba = get_backend("numba")
    rng = np.random.default_rng(7)
    big = lower(random_circuit(rng, NB.SAMPLE_MAJOR_MAX_QUBITS + 2, 200, inputs=False))
    k = NB.local_qubits(big.n_qubits, 1, np.dtype(dtype).itemsize)
    steps = numba.memory_sweeps(big, 1, dtype)
    assert steps == plan(big, k).n_steps and steps < big.state_sweeps       # fewer sweeps than passes
    small = lower(random_circuit(rng, 6, 40, inputs=False))
    assert numba.memory_sweeps(small, 4, dtype) == small.state_sweeps
    assert get_backend("numpy").memory_sweeps(big, 1, dtype) is None
