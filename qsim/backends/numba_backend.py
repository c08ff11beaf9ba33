"""The Numba CPU backend: binds a :class:`~qsim.program.Program` and runs its kernels.

Forward: ``θ = program.angles(w, x)`` → :func:`qsim.program.bind.matrices` (pass matrices; per
sample only for passes that read inputs) → the sample-major driver (small registers) or the
cache-blocked plan (:func:`qsim.program.plan.plan`, blocks of ``2**k`` amplitudes sized by
:func:`local_qubits`), in place.
Adjoint: one forward pass, ``λ = Σ_j c_{bj} O_j ψ``, then one backward sweep that undoes each
pass on ψ and λ and accumulates ``2 Re⟨λ|dF|ψ⟩`` per factor in the same sweep (two states in
memory whatever the depth): sample-major for small registers, else on the reversed plan, where a
pass is undone with one ``U†`` per state and its factors' gradients follow from the pass's
``d × d`` correlation ``Σ ψ ⊗ conj(λ)``.  Derivation: ``qsim/grad/adjoint.md``.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numba
import numpy as np

from ..errors import InputError
from ..hostinfo import cache_size
from ..observables import Observable, parity_signs, pauli_table
from ..precision import PRECISIONS
from ..program.bind import factor_grads_to_params, initial_states, matrices, pass_matrices
from ..program.lower import DEFAULT_FUSION, MAX_INSERTED_BITS, MAX_PASS_TARGETS, Program
from ..program.plan import plan
from ..validate import check_memory
from . import batch_major as BM
from . import numba_kernels as K

__all__ = ["forward", "expvals", "adjoint", "apply_matrix", "factor_grads_to_params", "initial_states",
           "local_qubits", "NumbaBackend", "BACKEND", "SAMPLE_MAJOR_MAX_QUBITS", "DIAG_GEMM_MAX_ENTRIES",
           "BLOCK_CACHE_FRACTION", "MIN_BLOCKS_PER_THREAD"]

#: Largest register run sample-major (whole program per sample, state in L2: 2**14 · 16 B =
#: 256 KiB), even a single sample: the pass-major driver's one parallel region per pass cost
#: 1-4 ms each on a loaded 2-core machine at n = 8-12 (W3: 300 ms vs 1 ms for the same forward
#: pass).  Above it, pass-major sweeps parallelise inside each state.  W2 (n=8, B=256):
#: sample-major 4-5x faster than pass-major; n=16, B=8: pass-major faster.  (Measured against
#: the one-sweep-per-pass driver the cache-blocked plan replaced; not re-tuned since.)
SAMPLE_MAJOR_MAX_QUBITS = 14
#: Fraction of a core's L2 share (:func:`qsim.hostinfo.cache_size`) one block of a cache-blocked
#: plan fills: the block's planes stay in L2 while every pass of a block run streams through
#: them, with room left for the block being copied in and out.  Sapphire Rapids dev machine
#: (2 MiB L2 per core, load 3-3.5), ``/tmp`` timing of ``bench.workloads.w1_circuit(n, 4)`` with
#: the block size forced, k = 14/15/16/17: n = 22 complex64 815/782/769/797 ms, complex128
#: 961/922/1036/1066 ms; n = 24 complex64 3.58/3.33/3.07/3.12 s, complex128 4.15/4.15/3.93/4.30 s.
#: One half gives k = 16 (complex128) and 17 (complex64), within 5 % of the best at every point.
BLOCK_CACHE_FRACTION = 0.5
#: Blocks per thread at least (the plan's blocks are the unit of parallel work): fewer local bits
#: rather than idle threads when ``B · 2**(n-k)`` would be small (n = 15-17, one state).  Chosen
#: for load balance, not measured: this machine gave one effective core during the work.
MIN_BLOCKS_PER_THREAD = 4
#: When set, :func:`local_qubits` returns it: tests force small blocks so every path of the plan
#: (block runs, swaps, lone sweeps, global controls) runs on small registers.
FORCE_LOCAL_QUBITS: int | None = None
#: Smallest batch run batch-major (batch innermost, vectorised over samples) for registers up to
#: :data:`SAMPLE_MAJOR_MAX_QUBITS`.  Below it the inner loop is too short to pay the transposes.
BATCH_MAJOR_MIN_BATCH = 16
#: Diagonal observables are evaluated as ``|ψ|² · S`` with a cached ±1 sign matrix ``S (N, T)``
#: (in Numba: BLAS's own spinning threads stalled 8 ms per call on a shared machine) while
#: ``N · T`` stays below this; above it the signs are computed as bit parities on the fly
#: (:func:`~qsim.backends.numba_kernels.parity_sums`: W3 n = 22, 22 ⟨Z_q⟩, one thread: 173 ms in
#: the general Pauli kernel).
DIAG_GEMM_MAX_ENTRIES = 1 << 20
#: Below this many amplitude updates (``B · 2**n · passes``) a call runs on one thread: entering a
#: parallel region costs 5-50 µs on an idle machine and up to ~8 ms when another process holds a
#: core, more than the work itself (n=4, B=256: 0.9 s parallel vs 2 ms serial under load).
SERIAL_WORK = 1 << 22
#: Below this many amplitude updates per parallel region (``B · 2**n`` for the batch-major driver,
#: which enters one region per pass) a call runs on one thread, whatever its total work.  Each
#: region costs a thread wake-up of ~80 µs on an idle machine (OMP_WAIT_POLICY=PASSIVE: the idle
#: thread sleeps between regions), so two threads pay off only from ~160 µs of serial work per
#: region.  Measured on "Intel(R) Xeon(R) Processor" (2 cores, /proc/cpuinfo), load 1.0, the
#: batch-major forward of ``bench.workloads.w2_circuit(n, 4)``, 2 vs 1 threads: B·2**n = 16384 (n=8,
#: B=64): 5.2 vs 0.55 ms; 65536 (W2: n=8, B=256): 5.9 vs 2.5 ms; 262144 (n=10, B=256): 12.9 vs
#: 11.0 ms; 1048576 (n=12, B=256): 41 vs 52 ms, (n=14, B=64): 47 vs 59 ms.  ``python -m bench -w W2
#: --threads 1,2 --precision double,single --backends numba --peers none --budget 3``, 2 vs 1
#: threads: 9.0 vs 3.9 ms (complex128), 7.9 vs 2.7 ms (complex64) before (load 1.0); 3.8 vs 3.8,
#: 2.0 vs 1.8 ms with this limit (load 0.8).  A constant, not a run-time probe: one wake-up
#: measured 4 µs back to back, 80 µs after a pause, more under load, so a one-shot probe would pick
#: a random point.  The other drivers enter one region per call (sample-major) or are left to
#: :data:`SERIAL_WORK` (pass-major, n > 14).
REGION_MIN_WORK = 1 << 20


class _threads_for:
    """Context manager: run small work on one thread (see :data:`SERIAL_WORK` and
    :data:`REGION_MIN_WORK`), restoring the thread count after.  ``region_work``: amplitude updates
    per parallel region, where a call enters one region per pass.  A plain class, not a
    ``contextmanager`` generator: it wraps every call, and W3's forward at n = 8 takes ~90 µs."""

    __slots__ = ("saved",)

    def __init__(self, work: int, region_work: int | None = None) -> None:
        parallel = work >= SERIAL_WORK and (region_work is None or region_work >= REGION_MIN_WORK)
        self.saved = 0 if parallel else numba.get_num_threads()

    def __enter__(self) -> None:
        if self.saved > 1:
            numba.set_num_threads(1)

    def __exit__(self, *exc) -> None:
        if self.saved > 1:
            numba.set_num_threads(self.saved)


def _work(program: Program, B: int) -> int:
    return B * (2**program.n_qubits) * max(program.n_passes, 1)


def _region_work(program: Program, B: int) -> int | None:
    """Amplitude updates per parallel region of the batch-major driver (one region per pass), else None."""
    return B * 2**program.n_qubits if program.n_passes and _batch_major(program, B) else None


def _sample_major(n_qubits: int, B: int) -> bool:
    return n_qubits <= SAMPLE_MAJOR_MAX_QUBITS


def local_qubits(n_qubits: int, B: int, itemsize: int) -> int:
    """Block size ``k`` (blocks of ``2**k`` amplitudes) of the cache-blocked plan.

    ``k = ⌊log2(f · L2 / itemsize)⌋`` with ``f =`` :data:`BLOCK_CACHE_FRACTION` and ``L2`` the
    detected per-core L2 share, lowered until the ``B · 2**(n-k)`` blocks give every thread
    :data:`MIN_BLOCKS_PER_THREAD` of them (:data:`FORCE_LOCAL_QUBITS` overrides).
    """
    if FORCE_LOCAL_QUBITS is not None:
        return FORCE_LOCAL_QUBITS
    k = int(math.log2(BLOCK_CACHE_FRACTION * cache_size(2) / itemsize))
    spare = max(0, math.ceil(math.log2(MIN_BLOCKS_PER_THREAD * numba.get_num_threads() / B)))
    return max(1, min(k, n_qubits - spare))


def _run(program: Program, st: np.ndarray, mats: np.ndarray) -> None:
    if not program.n_passes:
        return
    if _sample_major(program.n_qubits, st.shape[0]):
        K.run_sample_major(st, mats, program.per_sample_pass, program.kind, program.width, program.bits,
                           program.ctrl_mask, program.ins_bits, program.n_ins, program.m_off)
        return
    pl = plan(program, local_qubits(program.n_qubits, st.shape[0], st.itemsize))
    K.run_plan(st, mats, program.per_sample_pass, program.kind, program.width, program.m_off, pl, np.iscomplexobj(st))


def memory_sweeps(program: Program, B: int, dtype) -> float:
    """Sweeps over the state memory of one forward call of ``B`` states: the plan's steps (block
    runs, swaps, lone passes) on the cache-blocked path, else the program's passes weighted by the
    fraction of the state each touches (:attr:`Program.state_sweeps`).  Memory traffic is about
    ``2 · itemsize · B · 2**n`` times this (the bench's effective bandwidth and roofline)."""
    if not program.n_passes or _sample_major(program.n_qubits, B):
        return program.state_sweeps
    return float(plan(program, local_qubits(program.n_qubits, B, np.dtype(dtype).itemsize)).n_steps)


def _batch_major(program: Program, B: int) -> bool:
    return program.n_qubits <= SAMPLE_MAJOR_MAX_QUBITS and B >= BATCH_MAJOR_MIN_BATCH and BM.supported(program)


def _planes(a: np.ndarray, rdt, real: bool):
    """``(R, K)`` complex → transposed planes ``re, im`` of shape ``(K, R)`` (``im`` dummy if real)."""
    a = np.ascontiguousarray(a)
    re = np.empty(a.shape[::-1], dtype=rdt)
    im = np.empty(a.shape[::-1], dtype=rdt) if not real else np.zeros((1, 1), dtype=rdt)
    if np.iscomplexobj(a):
        BM.to_planes(a, re, im, not real)
    else:
        re[...] = a.T
        if not real:
            im[...] = 0
    return re, im


def _unplanes(re: np.ndarray, im: np.ndarray, dtype) -> np.ndarray:
    if np.dtype(dtype).kind == "f":
        return np.ascontiguousarray(re.T)
    out = np.empty(re.T.shape, dtype=dtype)
    BM.from_planes(re, im, out)
    return out


def _forward_planes(program: Program, theta: np.ndarray, state, B: int, dtype):
    """Forward pass in the batch-major layout; returns the planes ``re, im`` ``(N, B)``."""
    rdt = np.dtype(dtype).type(0).real.dtype
    real = np.dtype(dtype).kind == "f"
    check_memory(program.n_qubits, B, dtype)
    if state is None:
        re = np.zeros((2**program.n_qubits, B), dtype=rdt)
        re[0] = 1.0
        im = np.zeros_like(re) if not real else np.zeros((1, 1), dtype=rdt)
    else:
        re, im = _planes(state, rdt, real)
    mr, mi = _planes(pass_matrices(program, theta, False)[0], rdt, False)
    BM.run_batch_major(re, im, mr, mi, program.per_sample_pass, program.kind, program.width, program.bits,
                       program.ctrl_mask, program.ins_bits, program.n_ins, program.m_off, not real)
    return re, im


def _forward_batch_major(program: Program, theta: np.ndarray, state, B: int, dtype) -> np.ndarray:
    """Forward pass in the batch-major layout; returns ``(B, 2**n)`` like the other drivers."""
    re, im = _forward_planes(program, theta, state, B, dtype)
    return _unplanes(re, im, dtype)


def _adjoint_batch_major(program: Program, bp: Program, observables, cot, weights, inputs, state, B: int, dtype):
    """Adjoint with forward and backward in the batch-major layout (one-target backward program)."""
    n = program.n_qubits
    real = np.dtype(dtype).kind == "f"
    rdt = np.dtype(dtype).type(0).real.dtype
    re, im = _forward_planes(program, program.angles(weights, inputs), state, B, dtype)
    psi = _unplanes(re, im, dtype)
    values = expvals(psi, observables, n)
    lam = _lambda(psi, observables, cot, n)
    lr, li = _planes(lam, rdt, real)
    _, fm, dfm = matrices(bp, bp.angles(weights, inputs), np.complex128, True)
    fr, fi = _planes(fm, rdt, False)
    dr, di = _planes(dfm, rdt, False)
    gT = np.zeros((bp.n_factors, B))
    BM.backward_batch_major(re, im, lr, li, fr, fi, dr, di, bp.per_sample_pass, bp.kind, bp.f_start, bp.f_off, bp.bits,
                            bp.ctrl_mask, bp.ins_bits, bp.n_ins, bp.src != 0, not real, gT)
    gw, gx = factor_grads_to_params(bp, gT.T, B)
    gs = 2 * _unplanes(lr, li, dtype) if state is not None else None
    return values, gw, gx, gs


def forward(program: Program, weights, inputs, state, B: int, dtype, shift=None) -> np.ndarray:
    """Final states ``(B, 2**n)`` in ``dtype``."""
    with _threads_for(_work(program, B), _region_work(program, B)):
        return _forward(program, weights, inputs, state, B, dtype, shift)


def _forward(program: Program, weights, inputs, state, B: int, dtype, shift=None) -> np.ndarray:
    theta = program.angles(weights, inputs, shift)
    if program.n_passes and _batch_major(program, B):
        return _forward_batch_major(program, theta, state, B, dtype)
    st = initial_states(program.n_qubits, B, state, dtype)
    if program.n_passes:
        mats, _, _ = matrices(program, theta, dtype, False)
        _run(program, st, mats)
    return st


def _tables(observables: tuple[Observable, ...], n_qubits: int, dtype):
    idx, coeff, flip, sign, ny = pauli_table(observables, n_qubits)
    phase = coeff * (1j ** ny)
    phase = phase.real.astype(dtype) if np.dtype(dtype).kind == "f" else phase.astype(dtype)
    return idx, flip, sign, phase


@lru_cache(maxsize=64)
def _sign_matrix(n_qubits: int, signs: tuple[int, ...]) -> np.ndarray:
    """``S[i, t] = (-1)^{|i ∧ s_t|}`` for the diagonal (Z-type) terms (columns of :func:`parity_signs`)."""
    return np.stack([parity_signs(n_qubits, s) for s in signs], axis=1)


def _diag_ok(flip: np.ndarray, n_qubits: int) -> bool:
    return not np.any(flip) and (2**n_qubits) * len(flip) <= DIAG_GEMM_MAX_ENTRIES


def expvals(states: np.ndarray, observables: tuple[Observable, ...], n_qubits: int) -> np.ndarray:
    """``⟨O_j⟩`` per sample, ``(B, m)``."""
    idx, flip, sign, phase = _tables(observables, n_qubits, states.dtype)
    if _diag_ok(flip, n_qubits):
        with _threads_for(states.size * len(flip)):
            per_term = K.signed_sums(states, _sign_matrix(n_qubits, tuple(sign.tolist()))) * np.real(phase)
    elif not np.any(flip):
        with _threads_for(states.size * len(flip)):
            per_term = K.parity_sums(states, sign) * np.real(phase)
    else:
        with _threads_for(states.size * len(flip)):
            per_term = K.pauli_expvals(states, flip, sign, phase)
    out = np.zeros((states.shape[0], len(observables)))
    np.add.at(out.T, idx, per_term.T)
    return out


def _lambda(psi: np.ndarray, observables, cot: np.ndarray, n_qubits: int) -> np.ndarray:
    """``λ_b = Σ_j c_{bj} O_j ψ_b``."""
    idx, flip, sign, phase = _tables(observables, n_qubits, psi.dtype)
    lam = np.empty_like(psi)
    if not np.any(flip):
        wt = np.ascontiguousarray(cot[:, idx] * np.real(phase))          # (B, T)
        with _threads_for(psi.size * len(flip)):
            if _diag_ok(flip, n_qubits):
                K.signed_scale(psi, wt, _sign_matrix(n_qubits, tuple(sign.tolist())), lam)
            else:
                K.parity_scale(psi, wt, sign, lam)
        return lam
    K.apply_observable_sum(psi, lam, flip, sign, phase, idx, cot)
    return lam


def adjoint(program: Program, observables, cot: np.ndarray, weights, inputs, state, B: int, dtype,
            backward_program: Program | None = None):
    """Adjoint VJP.  Returns ``(values (B,m), grad_w (P,), grad_x (B,k)|None, grad_state (B,N)|None)``.

    The forward pass runs ``program``; the backward sweep runs ``backward_program`` (default: the
    same) - a program of the same circuit at a lower fusion level is cheaper to undo factor by
    factor (:data:`qsim.program.BACKWARD_FUSION`).
    """
    with _threads_for(3 * _work(program, B), _region_work(program, B)):
        return _adjoint(program, observables, cot, weights, inputs, state, B, dtype, backward_program)


def _adjoint(program: Program, observables, cot, weights, inputs, state, B: int, dtype, backward_program):
    n = program.n_qubits
    bp = program if backward_program is None else backward_program
    cot = np.ascontiguousarray(cot, dtype=np.float64)
    if bp.n_passes and _batch_major(program, B) and BM.supported_backward(bp):
        return _adjoint_batch_major(program, bp, observables, cot, weights, inputs, state, B, dtype)
    psi = _forward(program, weights, inputs, state, B, dtype)
    values = expvals(psi, observables, n)
    lam = _lambda(psi, observables, cot, n)
    gtheta = np.zeros((B, bp.n_factors))
    if bp.n_passes and _sample_major(n, B):
        _, fm, dfm = matrices(bp, bp.angles(weights, inputs), dtype, True)
        K.backward_sample_major(psi, lam, fm, dfm, bp.per_sample_pass, bp.kind, bp.f_start, bp.f_off, bp.bits,
                                bp.width, bp.ctrl_mask, bp.ins_bits, bp.n_ins, bp.src != 0, gtheta)
    elif bp.n_passes:
        _backward_planned(bp, psi, lam, bp.angles(weights, inputs), gtheta)
    gw, gx = factor_grads_to_params(bp, gtheta, B)
    gs = 2 * lam if state is not None else None
    return values, gw, gx, gs


def _cast(a: np.ndarray, dtype) -> np.ndarray:
    """Complex128 matrices in the state's dtype (their real part on the real fast path)."""
    return a.real.astype(dtype) if np.dtype(dtype).kind == "f" else a.astype(dtype, copy=False)


def _backward_planned(bp: Program, psi: np.ndarray, lam: np.ndarray, theta: np.ndarray, gtheta: np.ndarray) -> None:
    """Backward sweep on the cache-blocked plan of ``bp``; adds the factor gradients into ``gtheta``.

    Block runs undo each pass with one product ``U†`` per state and return the pass's correlation
    ``C = Σ_groups ψ ⊗ conj(λ)``; :func:`_pass_gradients` turns it into every factor's gradient.
    """
    B, n = psi.shape[0], bp.n_qubits
    mats, fm, dfm = pass_matrices(bp, theta, True)
    mh = np.empty_like(mats)
    for p in range(bp.n_passes):
        d, o = int(bp.dim[p]), int(bp.m_off[p])
        block = mats[:, o:o + d * d].reshape(-1, d, d)
        mh[:, o:o + d * d] = np.conj(block.transpose(0, 2, 1)).reshape(-1, d * d)
    want = bp.src != 0
    grad_pass = np.array([want[bp.f_start[p]:bp.f_start[p + 1]].any() for p in range(bp.n_passes)], dtype=np.bool_)
    pl = plan(bp, local_qubits(n, B, psi.itemsize))
    corr = np.zeros((B, bp.m_size), dtype=np.complex128)
    K.backward_plan(psi, lam, _cast(mh, psi.dtype), _cast(fm, psi.dtype), _cast(dfm, psi.dtype), bp.per_sample_pass,
                    bp.kind, bp.f_start, bp.f_off, bp.width, bp.m_off, grad_pass, want, pl, np.iscomplexobj(psi),
                    gtheta, corr)
    _pass_gradients(bp, fm, dfm, corr, grad_pass, gtheta)


def _pass_gradients(bp: Program, fm: np.ndarray, dfm: np.ndarray, corr: np.ndarray, grad_pass: np.ndarray,
                    gtheta: np.ndarray) -> None:
    """``g_f += 2 Re tr(A_f C)`` with ``A_f = F_m ··· F_{f+1} dF_f F_{f-1} ··· F_1`` for every factor
    of every pass with a trainable factor (``C = corr[:, pass]`` as a ``d × d`` matrix; zero for
    passes the plan swept alone, whose gradients are already in ``gtheta``)."""
    B = corr.shape[0]
    for p in np.flatnonzero(grad_pass):
        d, f0, f1 = int(bp.dim[p]), int(bp.f_start[p]), int(bp.f_start[p + 1])
        rows = slice(None) if bp.per_sample_pass[p] else slice(0, 1)
        F = [fm[rows, bp.f_off[f]:bp.f_off[f] + d * d].reshape(-1, d, d) for f in range(f0, f1)]
        dF = [dfm[rows, bp.f_off[f]:bp.f_off[f] + d * d].reshape(-1, d, d) for f in range(f0, f1)]
        C = corr[:, bp.m_off[p]:bp.m_off[p] + d * d].reshape(B, d, d)
        prefix = [np.broadcast_to(np.eye(d, dtype=np.complex128), F[0].shape)]
        for Fj in F[:-1]:
            prefix.append(Fj @ prefix[-1])                       # F_j ··· F_1
        suffix = np.broadcast_to(np.eye(d, dtype=np.complex128), F[0].shape)
        for j in range(f1 - f0 - 1, -1, -1):                     # suffix = F_m ··· F_{j+1}
            if bp.src[f0 + j] != 0:
                A = suffix @ dF[j] @ prefix[j]
                gtheta[:, f0 + j] += 2.0 * np.einsum("bki,bik->b", np.broadcast_to(A, (B, d, d)), C).real
            suffix = suffix @ F[j]


def apply_matrix(states: np.ndarray, matrix: np.ndarray, wires, n_qubits: int) -> np.ndarray:
    """Apply any ``d × d`` matrix (``(d, d)`` shared or ``(B, d, d)`` per sample; unitary or not,
    e.g. a Kraus superoperator) to ``wires`` of ``states (B, 2**n)`` in place; returns ``states``.

    The first wire is the most significant bit of the matrix index (``kron`` order).  This is
    the entry point for engines built on the state kernels (density matrices as ``2n``-qubit
    vectors, trajectories).
    """
    wires = tuple(int(w) for w in wires)
    k = len(wires)
    if not 1 <= k <= MAX_PASS_TARGETS or len(set(wires)) != k or min(wires) < 0 or max(wires) >= n_qubits:
        raise InputError(f"apply_matrix: bad wires {wires} for {n_qubits} qubits (1 to {MAX_PASS_TARGETS} "
                         "distinct wires)")
    m = np.asarray(matrix).reshape((-1, 2**k, 2**k))
    if m.shape[0] not in (1, states.shape[0]):
        raise InputError(f"apply_matrix: {m.shape[0]} matrices for a batch of {states.shape[0]}")
    flat = np.ascontiguousarray(m.reshape(m.shape[0], -1), dtype=states.dtype)
    bits = [n_qubits - 1 - w for w in wires]
    targets = np.array(bits + [0] * (MAX_PASS_TARGETS - k), dtype=np.int64)
    ins = np.array(sorted(bits) + [0] * (MAX_INSERTED_BITS - k), dtype=np.int64)
    K.apply_dense(states, flat, m.shape[0] > 1, targets, k, ins, k)
    return states


class NumbaBackend:
    """``"numba"``: the CPU kernels of this module behind the :class:`qsim.backends.Backend` protocol."""

    name = "numba"
    device = "cpu"
    description = "numba CPU backend"
    precisions = tuple(PRECISIONS)
    default_fusion = DEFAULT_FUSION

    def forward(self, circuit, program: Program, weights, inputs, state, batch: int, dtype) -> np.ndarray:
        return forward(program, weights, inputs, state, batch, dtype)

    def memory_sweeps(self, program: Program, batch: int, dtype) -> float:
        return memory_sweeps(program, batch, dtype)

    def expvals(self, states: np.ndarray, observables, n_qubits: int) -> np.ndarray:
        return expvals(states, observables, n_qubits)

    def adjoint(self, circuit, program: Program, backward_program: Program, observables, cotangents, weights, inputs,
                state, batch: int, dtype):
        return adjoint(program, observables, cotangents, weights, inputs, state, batch, dtype,
                       backward_program=backward_program)

    def probabilities(self, states: np.ndarray) -> np.ndarray:
        return K.abs2(states)

    def apply_matrix(self, states: np.ndarray, matrix: np.ndarray, wires, n_qubits: int) -> np.ndarray:
        """Optional capability (not in the protocol): :func:`apply_matrix`, any matrix in place."""
        return apply_matrix(states, matrix, wires, n_qubits)

    def to_numpy(self, a: np.ndarray) -> np.ndarray:
        return a


#: The registered instance (:func:`qsim.backends.get_backend`).
BACKEND = NumbaBackend()
