"""The MPI backend: a state vector distributed over ``2**g`` processes (``mpi4py``).

Launch the program under ``mpiexec -n P`` (``P`` a power of two); every rank runs the same Python
code (SPMD) and gets the same results.  Two ways to use the ranks (:func:`mode_for`):

* **state** - the state vector is split: the top ``g = log2(P)`` bits of the basis index number
  the rank, each rank holds ``2**(n-g)`` amplitudes per state.  The program runs on the
  :func:`~qsim.program.plan.distributed_plan` with ``k = n - g`` local bits: block runs are
  rank-local work (a control on a rank bit is a check on the rank number; a diagonal pass on a
  rank bit is a phase that depends on the rank number), and a swap step is one **exchange**: bits
  ``l_j`` (local) and ``g_j`` (rank) trade places, so each rank sends the parts of its slice whose
  local bits ``l`` differ from its own rank bits ``g`` to the rank that has them and receives
  the same amount (``1 - 2**-m`` of the slice for ``m`` pairs), pairwise with ``Sendrecv`` in
  chunks of :data:`EXCHANGE_CHUNK_BYTES`.  The layout is never undone by an exchange: it is kept
  (:attr:`DistributedState.layout`) and mapped through where the state is read (expectations map
  the observables' bits, gathers transpose the gathered state).
* **batch** - the batch is split: each rank runs the Numba engine on its share of the samples,
  results are gathered (no exchange at all).  It pays whenever every rank gets a sample and
  ``⌈B/P⌉`` whole states fit its memory; the state mode pays when they do not (large ``n``) or
  the batch is smaller than the rank count.

**Inside a rank** the block runs of the distributed plan (passes on the ``2**(n-g)`` local
amplitudes) are translated for this rank (global controls checked, diagonal passes on rank bits
turned into local phases: *virtual passes* with their own matrices, bound from the program's) and
run by the Numba kernels: sample-major for ``n - g <=`` :data:`~qsim.backends.numba_backend.SAMPLE_MAJOR_MAX_QUBITS`,
else a cache-blocked plan of the run with a free layout (:func:`qsim.program.plan.plan`,
``free_layout=True``) that is carried from one run to the next, so the physical position of a
local qubit is the composition of both layouts.  The whole per-rank sequence of kernel plans and
exchanges is a :class:`Schedule` (cached per program, rank count, rank and block size).

**Expectations** are sums over each rank's amplitudes with the Pauli masks mapped through the
layout, combined with ``Allreduce``; a term that flips a rank bit pairs amplitudes of two ranks
and is summed over a chunked exchange of the partner's slice.  **The adjoint** runs the same
schedule backwards on ``ψ`` and ``λ`` (both distributed alike, exchanges applied to both), the
correlations of the block runs turned into factor gradients per rank, then ``Allreduce``.
**Probabilities, states and sampling** gather the state on every rank (``Allgather``) and undo
the layout; that needs the whole state in each process, so read expectations of large registers.

Counters of the exchanges (:func:`stats`): exchanges, bytes sent per rank, seconds in MPI calls
and in packing; ``qhybrid bench --mpi N`` reports them.

Bad setups raise :class:`~qsim.errors.InputError` with one line: mpi4py or the MPI library
missing, a rank count that is not a power of two, more global qubits than the circuit can give
(fewer than :data:`MIN_LOCAL_QUBITS` local qubits left).
"""

from __future__ import annotations

import importlib.util
import os
import time
from dataclasses import dataclass, field, replace
from functools import lru_cache

import numba
import numpy as np

from ..errors import CircuitError, InputError
from ..observables import pauli_table
from ..precision import PRECISIONS
from ..program.bind import factor_grads_to_params, pass_matrices
from ..program.lower import (
    DEFAULT_FUSION, KIND_CTRL_DIAG, KIND_DIAG1, KIND_DIAG2, MAX_INSERTED_BITS, MAX_PASS_TARGETS, Program,
)
from ..program.plan import STEP_SWAP, STEP_SWEEP, Plan, distributed_plan, plan
from ..validate import check_memory
from . import numba_backend as NB
from . import numba_kernels as K
from .bitops import insert_bits, parity

from numba import njit, prange  # noqa: E402  (after numba_kernels: its thread policy comes first)

__all__ = ["BACKEND", "MPIBackend", "DistributedState", "Schedule", "ExchangeStats", "communicator",
           "set_communicator", "set_mode", "mode_for", "stats", "reset_stats", "schedule", "global_qubits",
           "EXCHANGE_CHUNK_BYTES", "MIN_LOCAL_QUBITS", "MODES", "MODE_ENV", "THREADS_ENV"]

if importlib.util.find_spec("mpi4py") is None:
    raise InputError("backend 'mpi' needs mpi4py and an MPI library: pip install -e '.[mpi]' "
                     "(the mpich wheel brings mpiexec)")

#: Bytes of one message of an exchange (and of each of its two buffers: the extra memory an
#: exchange takes beyond the state).  Large enough that the per-message cost (a few µs) is
#: negligible, small enough to stay in L2 while it is packed, sent and unpacked: ``Sendrecv``
#: between two ranks of the 2-core dev machine (mpich 5.0.2, shared memory), 128 MiB in chunks of
#: 256 KiB / 1 / 4 / 16 / 64 MiB: 1.68 / 1.63 / 1.50 / 1.21 / 0.60 GB/s per rank, copy-back included.
EXCHANGE_CHUNK_BYTES = 1 << 20
#: Fewest local qubits (``n - g``) a distributed state keeps: every pass (up to
#: :data:`~qsim.program.lower.MAX_INSERTED_BITS` bits: four targets under one control) must fit
#: on local bits once its global targets are swapped in.
MIN_LOCAL_QUBITS = MAX_INSERTED_BITS
#: How the ranks share the work: ``"auto"`` (:func:`mode_for`), ``"state"`` or ``"batch"``.
MODES = ("auto", "state", "batch")
#: Environment variable choosing the mode (``QSIM_MPI_MODE=state``); :func:`set_mode` wins.
MODE_ENV = "QSIM_MPI_MODE"
#: Environment variable fixing the Numba threads per rank (default: the cores of the node shared
#: by its ranks, unless ``NUMBA_NUM_THREADS`` is set).
THREADS_ENV = "QSIM_MPI_THREADS"
#: Message tag of the exchanges.
_TAG = 17
_opts = dict(cache=True, nogil=True)

_MPI = None
_comm = None
_mode: str | None = None


# ============================================================================== MPI setup
def _mpi():
    """The ``mpi4py.MPI`` module (imported on first use: that initialises MPI)."""
    global _MPI
    if _MPI is None:
        try:
            from mpi4py import MPI
        except Exception as exc:  # noqa: BLE001 - ImportError, or the MPI library failing to load
            raise InputError(f"backend 'mpi' could not load MPI ({type(exc).__name__}: {exc}); install mpi4py and "
                             "an MPI library: pip install -e '.[mpi]'") from None
        _MPI = MPI
    return _MPI


def communicator():
    """The communicator the backend runs on (``MPI.COMM_WORLD`` unless :func:`set_communicator`)."""
    global _comm
    if _comm is None:
        set_communicator(None)
    return _comm


def set_communicator(comm) -> None:
    """Run on ``comm`` (``None``: ``MPI.COMM_WORLD``), and give each rank its share of the node's
    cores as Numba threads (:data:`THREADS_ENV`, unless ``NUMBA_NUM_THREADS`` is set)."""
    global _comm
    MPI = _mpi()
    _comm = MPI.COMM_WORLD if comm is None else comm
    raw = os.environ.get(THREADS_ENV)
    if raw is None and "NUMBA_NUM_THREADS" in os.environ:
        return
    node = _comm.Split_type(MPI.COMM_TYPE_SHARED)
    per_node = node.Get_size()
    node.Free()
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    want = int(raw) if raw else max(1, cores // per_node)
    numba.set_num_threads(max(1, min(want, numba.config.NUMBA_NUM_THREADS)))


def set_mode(mode: str | None) -> None:
    """Force how the ranks share the work: ``"state"``, ``"batch"``, ``"auto"`` or ``None``
    (back to :data:`MODE_ENV` / auto)."""
    global _mode
    if mode is not None and mode not in MODES:
        raise InputError(f"MPI mode {mode!r} must be one of {MODES}")
    _mode = mode


def global_qubits(comm, n_qubits: int) -> int:
    """``g = log2(ranks)`` for a distributed state of ``n_qubits``.

    Raises:
        InputError: a rank count that is not a power of two, or fewer than
            :data:`MIN_LOCAL_QUBITS` local qubits left.
    """
    size = comm.Get_size()
    g = size.bit_length() - 1
    if size != 1 << g:
        raise InputError(f"backend 'mpi': {size} ranks is not a power of two; launch with mpiexec -n 1, 2, 4, 8, ...")
    if n_qubits - g < MIN_LOCAL_QUBITS:
        most = 1 << max(0, n_qubits - MIN_LOCAL_QUBITS)
        raise InputError(f"backend 'mpi': {size} ranks make {g} of the circuit's {n_qubits} qubits global and leave "
                         f"{n_qubits - g} local (at least {MIN_LOCAL_QUBITS} needed): use at most {most} ranks, or a "
                         f"batch of at least {size} samples (split over the ranks)")
    return g


def _node_ranks(comm) -> int:
    MPI = _mpi()
    node = comm.Split_type(MPI.COMM_TYPE_SHARED)
    size = node.Get_size()
    node.Free()
    return size


def mode_for(n_qubits: int, batch: int, dtype, comm=None) -> str:
    """``"state"`` or ``"batch"``: the forced mode (:func:`set_mode`, :data:`MODE_ENV`), else
    ``"batch"`` when every rank gets a sample and ``⌈B/P⌉`` whole states per rank fit the memory
    of the node (no communication but the gathers), else ``"state"``."""
    comm = communicator() if comm is None else comm
    mode = _mode or os.environ.get(MODE_ENV, "auto") or "auto"
    if mode not in MODES:
        raise InputError(f"${MODE_ENV} = {mode!r} must be one of {MODES}")
    if mode != "auto":
        return mode
    P = comm.Get_size()
    if batch < P:
        return "state"
    try:
        check_memory(n_qubits, -(-batch // P) * _node_ranks(comm), dtype)
    except CircuitError:
        return "state"
    return "batch"


# ============================================================================== statistics
@dataclass
class ExchangeStats:
    """What this rank exchanged since :func:`reset_stats`: exchange steps, bytes sent (as many
    received), seconds inside MPI calls (exchanges, reductions, gathers) and packing."""

    exchanges: int = 0
    bytes_sent: int = 0
    comm_s: float = 0.0
    pack_s: float = 0.0

    def as_dict(self) -> dict:
        return {"exchanges": self.exchanges, "bytes_sent": self.bytes_sent, "comm_s": self.comm_s,
                "pack_s": self.pack_s}


_STATS = ExchangeStats()


def stats() -> ExchangeStats:
    """This rank's exchange counters (a copy)."""
    return replace(_STATS)


def reset_stats() -> None:
    global _STATS
    _STATS = ExchangeStats()


class _timed:
    __slots__ = ("attr", "t0")

    def __init__(self, attr: str) -> None:
        self.attr = attr

    def __enter__(self) -> None:
        self.t0 = time.perf_counter()

    def __exit__(self, *exc) -> None:
        setattr(_STATS, self.attr, getattr(_STATS, self.attr) + time.perf_counter() - self.t0)


# ============================================================================== kernels
@njit(parallel=True, **_opts)
def _pack(row, out, ins, nins, fixed, s0, n, back):
    """``out[j] = row[insert_bits(s0 + j) | fixed]`` for ``j < n`` (``back``: the other way round).

    Runs of ``2**ins[0]`` contiguous amplitudes; ``n`` is a multiple of the run (the caller sends
    longer runs straight from the state)."""
    run = 1 << ins[0]
    for c in prange(n // run):
        base = insert_bits(s0 + c * run, ins, nins) | fixed
        o = c * run
        if back:
            for i in range(run):
                row[base + i] = out[o + i]
        else:
            for i in range(run):
                out[o + i] = row[base + i]


@njit(parallel=True, **_opts)
def _cross_sums(mine, c0, theirs, t0, flo, signs, out):
    """``out[t] += Σ_{i in chunk} conj(theirs[(i ⊕ flo) - t0]) (-1)^{|i ∧ s_t|} mine[i]`` over the
    chunk ``c0 .. c0 + len(theirs)`` of this rank's row (complex sums into ``out (T,)``)."""
    n = theirs.shape[0]
    T = signs.shape[0]
    nb = max(1, n // 2048)
    step = n // nb
    part = np.zeros((nb, T), dtype=np.complex128)
    for c in prange(nb):
        for t in range(T):
            s = signs[t]
            acc = 0j
            for i in range(c0 + c * step, c0 + (c + 1) * step):
                v = np.conj(theirs[(i ^ flo) - t0]) * mine[i]
                if parity(i & s):
                    acc -= v
                else:
                    acc += v
            part[c, t] = acc
    for c in range(nb):
        for t in range(T):
            out[t] += part[c, t]


@njit(parallel=True, **_opts)
def _cross_apply(out, c0, theirs, t0, flo, signs, weights):
    """``out[i] += Σ_t w_t (-1)^{|(i ⊕ flo) ∧ s_t|} theirs[(i ⊕ flo) - t0]`` over the chunk ``c0 ..``
    (``λ = O ψ`` for terms that flip rank bits; ``w_t`` carries the rank part of the sign)."""
    n = theirs.shape[0]
    T = signs.shape[0]
    for i in prange(c0, c0 + n):
        j = i ^ flo
        acc = out[i] * 0
        for t in range(T):
            if parity(j & signs[t]):
                acc -= weights[t] * theirs[j - t0]
            else:
                acc += weights[t] * theirs[j - t0]
        out[i] += acc


def _insert_py(k: int, ins) -> int:
    for p in ins:
        k = ((k >> p) << (p + 1)) | (k & ((1 << p) - 1))
    return k


def _chunk_elems(itemsize: int) -> int:
    return max(1, EXCHANGE_CHUNK_BYTES // itemsize)


def _exchange(comm, st: np.ndarray, lbits, rbits) -> None:
    """One exchange step on ``st (B, 2**k)``: local bits ``lbits[j]`` trade places with rank bits
    ``rbits[j]`` (bit numbers of the rank), in place.

    With ``y`` this rank's value of the rank bits, for each ``x ≠ y`` (in the order ``x = y ⊕ d``,
    ``d = 1 … 2**m - 1``, the same pairing on both sides) the part of the slice whose local bits
    equal ``x`` is sent to the rank whose rank bits are ``x`` and replaced by what that rank sends
    back: its part whose local bits equal ``y``.  In chunks of :data:`EXCHANGE_CHUNK_BYTES`; parts
    made of long contiguous runs go straight from the state, the others through pack buffers.
    """
    r = comm.Get_rank()
    m = len(lbits)
    B, N = st.shape
    k = N.bit_length() - 1
    y = sum(((r >> int(rbits[j])) & 1) << j for j in range(m))
    ins = np.zeros(MAX_INSERTED_BITS if m <= MAX_INSERTED_BITS else m, dtype=np.int64)
    ins[:m] = sorted(int(b) for b in lbits)
    sub = 1 << (k - m)
    C = min(sub, _chunk_elems(st.itemsize))
    run = 1 << int(ins[0])
    sbuf = np.empty(C, dtype=st.dtype) if run < C else None
    rbuf = np.empty(C, dtype=st.dtype)
    _STATS.exchanges += 1
    for d in range(1, 1 << m):
        x = y ^ d
        partner = r
        fixed = 0
        for j in range(m):
            bit = (x >> j) & 1
            partner = (partner & ~(1 << int(rbits[j]))) | (bit << int(rbits[j]))
            fixed |= bit << int(lbits[j])
        for b in range(B):
            row = st[b]
            for s0 in range(0, sub, C):
                if sbuf is None:
                    base = _insert_py(s0, ins[:m]) | fixed
                    view = row[base:base + C]
                    with _timed("comm_s"):
                        comm.Sendrecv(view, dest=partner, sendtag=_TAG, recvbuf=rbuf, source=partner, recvtag=_TAG,
                                      status=None)
                    with _timed("pack_s"):
                        view[:] = rbuf
                else:
                    with _timed("pack_s"):
                        _pack(row, sbuf, ins, m, fixed, s0, C, False)
                    with _timed("comm_s"):
                        comm.Sendrecv(sbuf, dest=partner, sendtag=_TAG, recvbuf=rbuf, source=partner, recvtag=_TAG,
                                      status=None)
                    with _timed("pack_s"):
                        _pack(row, rbuf, ins, m, fixed, s0, C, True)
                _STATS.bytes_sent += C * st.itemsize


def _partner_chunks(comm, row: np.ndarray, partner: int, fhi: int, C: int):
    """Yield ``(c0, theirs, t0)``: for each chunk ``c0`` of this row, the partner's chunk holding
    the amplitudes ``i ⊕ f`` (``f``'s bits from ``log2 C`` up are ``fhi``), which starts at ``t0``.
    Both ranks walk the chunks in the same order and send the chunk the other needs."""
    buf = np.empty(C, dtype=row.dtype)
    for c0 in range(0, row.shape[0], C):
        t0 = c0 ^ fhi
        with _timed("comm_s"):
            comm.Sendrecv(row[t0:t0 + C], dest=partner, sendtag=_TAG + 1, recvbuf=buf, source=partner,
                          recvtag=_TAG + 1, status=None)
        _STATS.bytes_sent += C * row.itemsize
        yield c0, buf, t0


# ============================================================================== schedules
@dataclass(frozen=True, eq=False)
class _RunProgram:
    """The passes of one block run as :func:`~qsim.program.plan.plan` reads a program."""

    n_qubits: int
    kind: np.ndarray
    width: np.ndarray
    bits: np.ndarray
    ctrl_mask: np.ndarray

    @property
    def n_passes(self) -> int:
        return len(self.kind)


@dataclass(frozen=True, eq=False)
class Schedule:
    """One rank's part of a distributed run: virtual passes and the steps that apply them.

    Virtual pass ``v``: ``kind``, ``width``, physical target ``bits``, local ``ctrl`` mask,
    ``ins``/``nins``, ``per`` (reads per-sample matrices), its ``d × d`` matrix at ``m_off[v]``
    of a buffer of ``m_size`` entries filled from the program's pass matrices by ``m_src``
    (entry of the program's buffer, or ``-1`` for the constant ``m_const``), and its factors
    ``f_start[v] … f_start[v+1]`` (factor matrices at ``f_off``, filled by ``f_src`` /
    ``f_const`` from the program's factor matrices; ``f_orig``: the program factor each one is;
    ``v_pass``: the program pass it comes from).
    ``steps``: ``("run", v0, v1, inner)`` (virtual passes ``v0 … v1`` by the sample-major kernels
    when ``inner`` is ``None``, else the cache-blocked :class:`~qsim.program.plan.Plan` ``inner``
    whose slots name virtual passes) or ``("exchange", local bits, rank bits)``.  ``layout[h]``:
    the physical bit of home bit ``h`` after the last step.
    """

    n_qubits: int
    local_qubits: int
    rank: int
    kind: np.ndarray
    width: np.ndarray
    bits: np.ndarray
    ctrl: np.ndarray
    ins: np.ndarray
    nins: np.ndarray
    per: np.ndarray
    m_off: np.ndarray
    m_size: int
    m_src: np.ndarray
    m_const: np.ndarray
    f_start: np.ndarray
    f_off: np.ndarray
    f_size: int
    f_src: np.ndarray
    f_const: np.ndarray
    f_orig: np.ndarray
    v_pass: np.ndarray
    steps: tuple
    layout: tuple[int, ...]

    @property
    def n_exchanges(self) -> int:
        return sum(1 for s in self.steps if s[0] == "exchange")

    @property
    def sweeps(self) -> int:
        """Sweeps over the local slice: kernel-plan steps (one per sample-major run) and exchanges."""
        return sum((1 if s[3] is None else s[3].n_steps) if s[0] == "run" else 1 for s in self.steps)


class _Builder:
    """Collects virtual passes and steps while a distributed plan is translated for one rank."""

    def __init__(self, program: Program, k: int, rank: int, kc: int | None) -> None:
        self.prog, self.k, self.rank, self.kc = program, k, rank, kc
        self.passes: list[tuple] = []     # (kind, bits, ctrl mask, ins, per, m entries, factor entries)
        self.steps: list[tuple] = []
        self.run_start = 0
        self.phys = list(range(k))        # plan-local position -> physical bit
        self.active: list[bool] = []      # per virtual pass: this rank runs it (its rank-bit controls are 1)
        self._active = True

    # ---------------------------------------------------------------- helpers
    def rank_bit(self, pos: int) -> int:
        return (self.rank >> (pos - self.k)) & 1

    def _copy_entries(self, p: int) -> tuple[list, list]:
        prog = self.prog
        d = int(prog.dim[p])
        m = list(range(int(prog.m_off[p]), int(prog.m_off[p]) + d * d))
        fs = [(f, list(range(int(prog.f_off[f]), int(prog.f_off[f]) + d * d)))
              for f in range(int(prog.f_start[p]), int(prog.f_start[p + 1]))]
        return m, fs

    def _diag_entries(self, p: int, e0, e1) -> tuple[list, list]:
        """A 2×2 diagonal made of entries ``e0``, ``e1`` (flat indices into the pass's ``d × d``
        matrix, or ``None`` for the constant 1) of pass ``p``'s matrix and of each factor's."""
        prog = self.prog

        def pick(off: int):
            return [-1 if e0 is None else off + e0, -2, -2, -1 if e1 is None else off + e1]

        m = pick(int(prog.m_off[p]))
        fs = [(f, pick(int(prog.f_off[f]))) for f in range(int(prog.f_start[p]), int(prog.f_start[p + 1]))]
        return m, fs

    def add(self, p: int, kind: int, tbits: list[int], cbits: list[int], entries) -> None:
        """A virtual pass of ``kind`` on physical targets ``tbits`` under physical controls ``cbits``."""
        self.passes.append((kind, tbits, sum(1 << c for c in cbits), sorted(tbits + cbits),
                            bool(self.prog.per_sample_pass[p]), entries, p))
        self.active.append(self._active)

    def add_slot(self, p: int, tb: list[int], local_ctrl: int, global_ctrl: int) -> None:
        """Translate one slot (plan positions) for this rank: skip it when a rank-bit control is 0,
        turn global targets of diagonal passes into phases, map local bits to physical bits.

        Runs planned cache-blocked keep the skipped slots while they are planned (dropped from the
        plan after, :func:`_keep_slots`): every rank must plan the same swaps, since the physical
        layout they leave is what the exchanges pair."""
        k, phys = self.k, self.phys
        need = global_ctrl >> k
        self._active = self.rank & need == need
        if not self._active and self.kc is None:
            return
        kind = int(self.prog.kind[p])
        cl = [phys[c] for c in range(k) if (local_ctrl >> c) & 1]
        if all(t < k for t in tb):
            self.add(p, kind, [phys[t] for t in tb], cl, self._copy_entries(p))
            return
        if kind == KIND_DIAG1:                       # diag(d0, d1) on a rank bit: a scalar
            e = 3 * self.rank_bit(tb[0])
            self.add(p, KIND_DIAG1, [0], [], self._diag_entries(p, e, e))
        elif kind == KIND_DIAG2:                     # entry 5j, j = 2·bit(t0) + bit(t1)
            t0, t1 = tb
            if t0 >= k and t1 >= k:
                e = 5 * (2 * self.rank_bit(t0) + self.rank_bit(t1))
                self.add(p, KIND_DIAG1, [0], [], self._diag_entries(p, e, e))
            elif t0 >= k:
                v = self.rank_bit(t0)
                self.add(p, KIND_DIAG1, [phys[t1]], [], self._diag_entries(p, 5 * 2 * v, 5 * (2 * v + 1)))
            else:
                v = self.rank_bit(t1)
                self.add(p, KIND_DIAG1, [phys[t0]], [], self._diag_entries(p, 5 * v, 5 * (2 + v)))
        elif kind == KIND_CTRL_DIAG:                 # phase on the control-set amplitudes
            e = 3 * self.rank_bit(tb[0])
            if not cl:
                self.add(p, KIND_DIAG1, [0], [], self._diag_entries(p, e, e))
            elif len(cl) == 1:
                self.add(p, KIND_DIAG1, [cl[0]], [], self._diag_entries(p, None, e))
            else:
                self.add(p, KIND_CTRL_DIAG, [cl[0]], cl[1:], self._diag_entries(p, None, e))
        else:  # pragma: no cover - the distributed plan gives global targets to diagonal passes only
            raise AssertionError(f"pass {p} of kind {kind} with global targets {tb} in a block run")

    # ------------------------------------------------------------------ steps
    def close_run(self) -> None:
        v0, v1 = self.run_start, len(self.passes)
        if v1 == v0:
            return
        self.run_start = v1
        if self.kc is None:
            self.steps.append(("run", v0, v1, None))
            return
        run = self.passes[v0:v1]
        rp = _RunProgram(
            n_qubits=self.k,
            kind=np.array([x[0] for x in run], dtype=np.int64),
            width=np.array([len(x[1]) for x in run], dtype=np.int64),
            bits=np.array([x[1] + [0] * (MAX_PASS_TARGETS - len(x[1])) for x in run], dtype=np.int64),
            ctrl_mask=np.array([x[2] for x in run], dtype=np.int64))
        inner = _keep_slots(plan(rp, self.kc, free_layout=True), np.array(self.active[v0:v1], dtype=np.bool_), v0)
        self.steps.append(("run", v0, v1, inner))
        self.phys = [inner.final_layout[b] for b in self.phys]

    def exchange(self, pairs: list[tuple[int, int]]) -> None:
        """Plan positions ``(l, g)``: the physical local bit of ``l`` trades places with rank bit ``g - k``."""
        self.close_run()
        self.steps.append(("exchange", np.array([self.phys[lb] for lb, _ in pairs], dtype=np.int64),
                           np.array([gb - self.k for _, gb in pairs], dtype=np.int64)))


def _keep_slots(pl: Plan, keep: np.ndarray, v0: int) -> Plan:
    """``pl`` (slots naming passes of one run) with the slots of passes ``~keep`` dropped (and the
    steps left empty), its passes renumbered from ``v0``; swaps and the final layout unchanged."""
    mask = keep[pl.slot_pass]
    new_index = np.cumsum(mask) - mask                # slot -> index among kept slots
    kinds, lo, hi = [], [], []
    for s in range(pl.n_steps):
        a, b = int(pl.step_lo[s]), int(pl.step_hi[s])
        if pl.step_kind[s] == STEP_SWAP:
            kinds.append(STEP_SWAP)
            lo.append(a)
            hi.append(b)
            continue
        n_kept = int(mask[a:b].sum())
        if n_kept:
            start = int(new_index[a]) if a < len(mask) else 0
            kinds.append(int(pl.step_kind[s]))
            lo.append(start)
            hi.append(start + n_kept)
    i64 = lambda a: np.array(a, dtype=np.int64).reshape(-1)  # noqa: E731
    return replace(pl, step_kind=i64(kinds), step_lo=i64(lo), step_hi=i64(hi), slot_pass=pl.slot_pass[mask] + v0,
                   bits=pl.bits[mask], ins=pl.ins[mask], n_ins=pl.n_ins[mask], ctrl_mask=pl.ctrl_mask[mask],
                   global_mask=pl.global_mask[mask])


def _build(program: Program, g: int, rank: int, kc: int | None) -> Schedule:
    n = program.n_qubits
    k = n - g
    pl = distributed_plan(program, g)
    bld = _Builder(program, k, rank, kc)
    lowmask = (1 << k) - 1
    for s in range(pl.n_steps):
        lo, hi = int(pl.step_lo[s]), int(pl.step_hi[s])
        kind = int(pl.step_kind[s])
        if kind == STEP_SWAP:
            bld.exchange(list(zip(pl.swap_local[lo:hi].tolist(), pl.swap_global[lo:hi].tolist())))
            continue
        for slot in range(lo, hi):
            p = int(pl.slot_pass[slot])
            tb = pl.bits[slot, :int(program.width[p])].tolist()
            cm, gm = int(pl.ctrl_mask[slot]), int(pl.global_mask[slot])
            if kind == STEP_SWEEP:
                cm, gm = cm & lowmask, gm | (cm & ~lowmask)
                outside = [t for t in tb if t >= k]
                if outside and int(program.kind[p]) not in (KIND_DIAG1, KIND_DIAG2, KIND_CTRL_DIAG):
                    # a pass with global targets: swap them in for the pass, and back
                    busy = {t for t in tb if t < k} | {c for c in range(k) if (cm >> c) & 1}
                    free = [b for b in range(k) if b not in busy][:len(outside)]
                    pairs = list(zip(free, outside))
                    bld.exchange(pairs)
                    moved = dict(zip(outside, free))
                    bld.add_slot(p, [moved.get(t, t) for t in tb], cm, gm)
                    bld.exchange(pairs)
                    continue
            bld.add_slot(p, tb, cm, gm)
        if kind == STEP_SWEEP:
            bld.close_run()
    bld.close_run()
    where = pl.final_layout
    layout = tuple(bld.phys[where[h]] if where[h] < k else where[h] for h in range(n))
    return _finish(program, bld, layout)


def _finish(program: Program, bld: _Builder, layout: tuple[int, ...]) -> Schedule:
    i64 = lambda a: np.array(a, dtype=np.int64).reshape(-1)  # noqa: E731
    V = len(bld.passes)
    kind, width, bits, ctrl, ins, nins, per, m_off, f_start, f_off = [], [], [], [], [], [], [], [], [0], []
    m_src, f_src, f_orig = [], [], []
    for kd, tb, cm, ib, pr, (ment, fents), _ in bld.passes:
        d2 = len(ment)
        kind.append(kd)
        width.append(len(tb))
        bits.append(tb + [0] * (MAX_PASS_TARGETS - len(tb)))
        ctrl.append(cm)
        ins.append(ib + [0] * (MAX_INSERTED_BITS - len(ib)))
        nins.append(len(ib))
        per.append(pr)
        m_off.append(len(m_src))
        m_src.extend(ment)
        for f, fe in fents:
            f_off.append(len(f_src))
            f_src.extend(fe)
            f_orig.append(f)
        f_start.append(len(f_orig))
        assert d2 == (1 << len(tb)) ** 2
    m_src, f_src = i64(m_src), i64(f_src)
    return Schedule(
        n_qubits=program.n_qubits, local_qubits=bld.k, rank=bld.rank,
        kind=i64(kind), width=i64(width), bits=np.array(bits, dtype=np.int64).reshape(V, MAX_PASS_TARGETS),
        ctrl=i64(ctrl), ins=np.array(ins, dtype=np.int64).reshape(V, MAX_INSERTED_BITS), nins=i64(nins),
        per=np.array(per, dtype=np.bool_), m_off=i64(m_off), m_size=len(m_src), m_src=m_src,
        m_const=np.where(m_src == -1, 1.0, 0.0).astype(np.complex128), f_start=i64(f_start), f_off=i64(f_off),
        f_size=len(f_src), f_src=f_src, f_const=np.where(f_src == -1, 1.0, 0.0).astype(np.complex128),
        f_orig=i64(f_orig), v_pass=i64([x[6] for x in bld.passes]), steps=tuple(bld.steps), layout=layout)


@lru_cache(maxsize=64)
def _schedule_cached(program: Program, g: int, rank: int, kc: int | None) -> Schedule:
    return _build(program, g, rank, kc)


def _inner_block(k: int, B: int, itemsize: int) -> int | None:
    """Block bits of the plans inside a rank (``None``: small slices run sample-major)."""
    if k <= NB.SAMPLE_MAJOR_MAX_QUBITS:
        return None
    return NB.local_qubits(k, B, itemsize)


def schedule(program: Program, global_qubits: int, rank: int, batch: int = 1, itemsize: int = 16,
             comm=None) -> Schedule:
    """Rank ``rank``'s :class:`Schedule` of ``program`` on ``2**global_qubits`` ranks (cached).

    With ``comm`` the block size of the plans inside the ranks is the smallest any rank picks
    (thread counts may differ): every rank must plan the same local swaps, since the exchanges
    pair physical bits."""
    k = program.n_qubits - global_qubits
    kc = _inner_block(k, batch, itemsize)
    if comm is not None and kc is not None and comm.Get_size() > 1:
        kc = comm.allreduce(kc, op=_mpi().MIN)
    return _schedule_cached(program, int(global_qubits), int(rank), kc)


def _virtual(src: np.ndarray, const: np.ndarray, buf: np.ndarray) -> np.ndarray:
    """Rows of a virtual buffer: ``buf[:, src]`` where ``src >= 0``, else the constants."""
    out = buf[:, np.maximum(src, 0)]
    bad = src < 0
    if bad.any():
        out[:, bad] = const[bad]
    return out


def _cast(a: np.ndarray, dtype) -> np.ndarray:
    return np.ascontiguousarray(a.real, dtype=dtype) if np.dtype(dtype).kind == "f" else a.astype(dtype, copy=False)


def _conj_transposed(sch: Schedule, mats: np.ndarray) -> np.ndarray:
    out = np.empty_like(mats)
    for v in range(len(sch.kind)):
        d = 1 << int(sch.width[v])
        o = int(sch.m_off[v])
        blk = mats[:, o:o + d * d].reshape(-1, d, d)
        out[:, o:o + d * d] = np.conj(blk.transpose(0, 2, 1)).reshape(-1, d * d)
    return out


# ============================================================================== distributed state
@dataclass(eq=False)
class DistributedState:
    """States of the MPI backend (its "arrays"): this rank's part and how to put them together.

    ``mode="state"``: ``local (B, 2**(n-g))`` is this rank's slice, ``layout[h]`` the physical bit
    of home bit ``h`` (bits ``>= n-g`` number the rank).  ``mode="batch"``: ``local (B_r, 2**n)``
    are this rank's samples ``lo … lo + B_r`` (``counts`` per rank), in the identity layout.
    """

    n_qubits: int
    batch: int
    mode: str
    local: np.ndarray
    layout: tuple[int, ...]
    comm: object = field(repr=False)
    counts: tuple[int, ...] = ()

    @property
    def global_qubits(self) -> int:
        return self.comm.Get_size().bit_length() - 1 if self.mode == "state" else 0

    def gather(self, values: np.ndarray | None = None) -> np.ndarray:
        """The whole ``(B, 2**n)`` array on every rank (``values``: a per-amplitude array of the
        local part's shape to gather instead of the amplitudes, e.g. ``|ψ|²``)."""
        a = self.local if values is None else values
        comm = self.comm
        if self.mode == "batch":
            return _allgather_rows(comm, a, self.counts)
        P = comm.Get_size()
        out = np.empty((P,) + a.shape, dtype=a.dtype)
        with _timed("comm_s"):
            comm.Allgather(np.ascontiguousarray(a), out)
        full = np.ascontiguousarray(out.transpose(1, 0, 2)).reshape(a.shape[0], -1)
        return _unpermute(full, self.layout, self.n_qubits)


def _unpermute(full: np.ndarray, layout: tuple[int, ...], n: int) -> np.ndarray:
    """``full (B, 2**n)`` with home bit ``h`` stored at bit ``layout[h]`` → the identity layout."""
    if all(layout[h] == h for h in range(n)):
        return full
    B = full.shape[0]
    axes = [0] + [1 + (n - 1 - layout[n - 1 - a]) for a in range(n)]
    return np.ascontiguousarray(full.reshape((B,) + (2,) * n).transpose(axes)).reshape(B, -1)


def _allgather_rows(comm, a: np.ndarray, counts: tuple[int, ...]) -> np.ndarray:
    """Rows of every rank (``counts[r]`` rows of rank ``r``) stacked in rank order, on every rank."""
    row = int(np.prod(a.shape[1:], dtype=np.int64))
    out = np.empty((sum(counts),) + a.shape[1:], dtype=a.dtype)
    with _timed("comm_s"):
        comm.Allgatherv(np.ascontiguousarray(a).reshape(-1), (out.reshape(-1), [c * row for c in counts]))
    return out


def _allreduce(comm, a: np.ndarray) -> np.ndarray:
    out = np.empty_like(a)
    with _timed("comm_s"):
        comm.Allreduce(np.ascontiguousarray(a), out)
    return out


def _split(B: int, P: int) -> tuple[int, ...]:
    return tuple(B // P + (1 if r < B % P else 0) for r in range(P))


# ============================================================================== forward
def _run_steps(comm, sch: Schedule, st: np.ndarray, mats_v: np.ndarray) -> None:
    has_im = np.iscomplexobj(st)
    for step in sch.steps:
        if step[0] == "exchange":
            _exchange(comm, st, step[1], step[2])
            continue
        _, v0, v1, inner = step
        if inner is None:
            K.run_sample_major(st, mats_v, sch.per[v0:v1], sch.kind[v0:v1], sch.width[v0:v1], sch.bits[v0:v1],
                               sch.ctrl[v0:v1], sch.ins[v0:v1], sch.nins[v0:v1], sch.m_off[v0:v1])
        else:
            K.run_plan(st, mats_v, sch.per, sch.kind, sch.width, sch.m_off, inner, has_im)


def _local_slice(comm, n: int, g: int, B: int, state, dtype) -> np.ndarray:
    k = n - g
    r = comm.Get_rank()
    check_memory(k, B * _node_ranks(comm), dtype)
    if state is None:
        st = np.zeros((B, 1 << k), dtype=dtype)
        if r == 0:
            st[:, 0] = 1.0
        return st
    part = np.asarray(state)[:, r << k:(r + 1) << k]
    if np.dtype(dtype).kind == "f":
        part = part.real if np.iscomplexobj(part) else part
    return np.array(part, dtype=dtype, order="C", copy=True)


def _forward_state(comm, program: Program, weights, inputs, state, B: int, dtype):
    n = program.n_qubits
    g = global_qubits(comm, n)
    st = _local_slice(comm, n, g, B, state, dtype)
    sch = schedule(program, g, comm.Get_rank(), B, st.itemsize, comm)
    if len(sch.kind):
        mats = pass_matrices(program, program.angles(weights, inputs), False)[0]
        _run_steps(comm, sch, st, _cast(_virtual(sch.m_src, sch.m_const, mats), dtype))
    return DistributedState(n, B, "state", st, sch.layout, comm)


def _batch_slice(comm, B: int):
    counts = _split(B, comm.Get_size())
    lo = sum(counts[:comm.Get_rank()])
    return counts, slice(lo, lo + counts[comm.Get_rank()])


def _rows(a, sl):
    return None if a is None else np.asarray(a)[sl]


def forward(program: Program, weights, inputs, state, B: int, dtype, comm=None) -> DistributedState:
    """Final states of ``B`` samples as a :class:`DistributedState` (every rank calls it)."""
    comm = communicator() if comm is None else comm
    if mode_for(program.n_qubits, B, dtype, comm) == "batch":
        counts, sl = _batch_slice(comm, B)
        mine = counts[comm.Get_rank()]
        local = (NB.forward(program, weights, _rows(inputs, sl), _rows(state, sl), mine, dtype) if mine
                 else np.zeros((0, 1 << program.n_qubits), dtype=dtype))
        return DistributedState(program.n_qubits, B, "batch", local, tuple(range(program.n_qubits)), comm, counts)
    return _forward_state(comm, program, weights, inputs, state, B, dtype)


# ============================================================================== observables
def _phys_mask(mask: int, layout: tuple[int, ...]) -> int:
    out = 0
    h = 0
    while mask:
        if mask & 1:
            out |= 1 << layout[h]
        mask >>= 1
        h += 1
    return out


def _term_tables(st: DistributedState, observables):
    """Per Pauli term, on this rank: ``(obs index, phase with the rank sign, local flip, local sign,
    rank flip, rank sign bits)`` with the masks mapped through the layout."""
    idx, coeff, flip, sign, ny = pauli_table(observables, st.n_qubits)
    k = st.n_qubits - st.global_qubits
    low = (1 << k) - 1
    r = st.comm.Get_rank()
    fl = np.array([_phys_mask(int(f), st.layout) for f in flip], dtype=np.int64)
    sg = np.array([_phys_mask(int(s), st.layout) for s in sign], dtype=np.int64)
    rsign = np.array([1 - 2 * (bin(r & (int(s) >> k)).count("1") & 1) for s in sg], dtype=np.float64)
    phase = coeff * (1j ** ny)
    return idx, phase, fl & low, sg & low, fl >> k, sg >> k, rsign


def _local_dtype_phase(phase: np.ndarray, dtype):
    return phase.real.astype(dtype) if np.dtype(dtype).kind == "f" else phase.astype(dtype)


def expvals(st: DistributedState, observables, n_qubits: int) -> np.ndarray:
    """``⟨O_j⟩`` per sample ``(B, m)`` on every rank (partial sums ``Allreduce``-d)."""
    comm = st.comm
    if st.mode == "batch":
        mine = NB.expvals(st.local, observables, n_qubits) if st.local.shape[0] else np.zeros((0, len(observables)))
        return _allgather_rows(comm, mine, st.counts)
    psi = st.local
    B = psi.shape[0]
    idx, phase, flo, slo, fr, sr, rsign = _term_tables(st, observables)
    T = len(idx)
    per_term = np.zeros((B, T))
    eff = phase * rsign
    near = np.flatnonzero(fr == 0)
    if near.size:
        if not np.any(flo[near]):
            per_term[:, near] = K.parity_sums(psi, slo[near]) * np.real(eff[near])
        else:
            per_term[:, near] = K.pauli_expvals(psi, flo[near], slo[near], _local_dtype_phase(eff[near], psi.dtype))
    r = comm.Get_rank()
    C = min(psi.shape[1], _chunk_elems(psi.itemsize))
    for f_rank, f_loc in sorted({(int(fr[t]), int(flo[t])) for t in range(T) if fr[t]}):
        terms = np.array([t for t in range(T) if fr[t] == f_rank and flo[t] == f_loc], dtype=np.int64)
        partner = r ^ f_rank
        for b in range(B):
            sums = np.zeros(len(terms), dtype=np.complex128)
            for c0, theirs, t0 in _partner_chunks(comm, psi[b], partner, f_loc & ~(C - 1), C):
                _cross_sums(psi[b], c0, theirs, t0, f_loc, slo[terms], sums)
            per_term[b, terms] = (eff[terms] * sums).real
    per_term = _allreduce(comm, per_term)
    out = np.zeros((B, len(observables)))
    np.add.at(out.T, idx, per_term.T)
    return out


def _lambda(st: DistributedState, observables, cot: np.ndarray) -> np.ndarray:
    """``λ_b = Σ_j c_{bj} O_j ψ_b`` on this rank's slice (same layout as ``ψ``)."""
    psi = st.local
    comm = st.comm
    idx, phase, flo, slo, fr, sr, rsign = _term_tables(st, observables)
    T = len(idx)
    lam = np.zeros_like(psi)
    near = np.flatnonzero(fr == 0)
    eff = phase * rsign
    if near.size:
        if not np.any(flo[near]):
            wt = np.ascontiguousarray(cot[:, idx[near]] * np.real(eff[near]))
            K.parity_scale(psi, wt, slo[near], lam)
        else:
            K.apply_observable_sum(psi, lam, flo[near], slo[near], _local_dtype_phase(eff[near], psi.dtype),
                                   idx[near], cot)
    r = comm.Get_rank()
    C = min(psi.shape[1], _chunk_elems(psi.itemsize))
    for f_rank, f_loc in sorted({(int(fr[t]), int(flo[t])) for t in range(T) if fr[t]}):
        terms = np.array([t for t in range(T) if fr[t] == f_rank and flo[t] == f_loc], dtype=np.int64)
        partner = r ^ f_rank
        psign = np.array([1 - 2 * (bin(partner & int(s)).count("1") & 1) for s in sr[terms]], dtype=np.float64)
        for b in range(psi.shape[0]):
            w = cot[b if cot.shape[0] > 1 else 0, idx[terms]] * phase[terms] * psign
            w = _local_dtype_phase(w, psi.dtype)
            for c0, theirs, t0 in _partner_chunks(comm, psi[b], partner, f_loc & ~(C - 1), C):
                _cross_apply(lam[b], c0, theirs, t0, f_loc, slo[terms], w)
    return lam


def probabilities(st: DistributedState) -> np.ndarray:
    """Born probabilities ``(B, 2**n)`` float64 on every rank (gathered, layout undone)."""
    if st.mode == "batch":
        return st.gather(K.abs2(st.local) if st.local.shape[0] else np.zeros(st.local.shape))
    return st.gather(K.abs2(st.local))


# ============================================================================== adjoint
def _pass_gradients(sch: Schedule, fm: np.ndarray, dfm: np.ndarray, corr: np.ndarray, grad_pass: np.ndarray,
                    want: np.ndarray, gtheta: np.ndarray) -> None:
    """``g_f += 2 Re tr(A_f C)`` per virtual factor (as :mod:`qsim.backends.numba_backend` does for
    a program's passes): ``A_f = F_m ··· dF_f ··· F_1``, ``C`` the pass's correlation."""
    B = corr.shape[0]
    for p in np.flatnonzero(grad_pass):
        d, f0, f1 = 1 << int(sch.width[p]), int(sch.f_start[p]), int(sch.f_start[p + 1])
        C = corr[:, sch.m_off[p]:sch.m_off[p] + d * d].reshape(B, d, d)
        if not C.any():
            continue
        rows = slice(None) if sch.per[p] else slice(0, 1)
        F = [fm[rows, sch.f_off[f]:sch.f_off[f] + d * d].reshape(-1, d, d) for f in range(f0, f1)]
        dF = [dfm[rows, sch.f_off[f]:sch.f_off[f] + d * d].reshape(-1, d, d) for f in range(f0, f1)]
        prefix = [np.broadcast_to(np.eye(d, dtype=np.complex128), F[0].shape)]
        for Fj in F[:-1]:
            prefix.append(Fj @ prefix[-1])
        suffix = np.broadcast_to(np.eye(d, dtype=np.complex128), F[0].shape)
        for j in range(f1 - f0 - 1, -1, -1):
            if want[f0 + j]:
                A = suffix @ dF[j] @ prefix[j]
                gtheta[:, f0 + j] += 2.0 * np.einsum("bki,bik->b", np.broadcast_to(A, (B, d, d)), C).real
            suffix = suffix @ F[j]


def _adjoint_state(comm, bp: Program, observables, cot, weights, inputs, state, B: int, dtype):
    n = bp.n_qubits
    st = _forward_state(comm, bp, weights, inputs, state, B, dtype)
    values = expvals(st, observables, n)
    lam = _lambda(st, observables, cot)
    psi = st.local
    sch = schedule(bp, st.global_qubits, comm.Get_rank(), B, psi.itemsize, comm)
    F = bp.n_factors
    gtheta = np.zeros((B, F))
    if len(sch.kind):
        theta = bp.angles(weights, inputs)
        mats, fm, dfm = pass_matrices(bp, theta, True)
        mats_v = _virtual(sch.m_src, sch.m_const, mats)
        fm_v = _virtual(sch.f_src, sch.f_const, fm)
        dfm_v = _virtual(sch.f_src, np.zeros_like(sch.f_const), dfm)
        mh_v = _conj_transposed(sch, mats_v)
        want = (bp.src != 0)[sch.f_orig]
        grad_pass = np.array([want[sch.f_start[v]:sch.f_start[v + 1]].any() for v in range(len(sch.kind))],
                             dtype=np.bool_)
        gv = np.zeros((B, len(sch.f_orig)))
        corr = np.zeros((B, sch.m_size), dtype=np.complex128)
        has_im = np.iscomplexobj(psi)
        c_mh, c_fm, c_dfm = _cast(mh_v, dtype), _cast(fm_v, dtype), _cast(dfm_v, dtype)
        for step in reversed(sch.steps):
            if step[0] == "exchange":
                _exchange(comm, psi, step[1], step[2])
                _exchange(comm, lam, step[1], step[2])
                continue
            _, v0, v1, inner = step
            if inner is None:
                K.backward_sample_major(psi, lam, c_fm, c_dfm, sch.per[v0:v1], sch.kind[v0:v1], sch.f_start[v0:v1 + 1],
                                        sch.f_off, sch.bits[v0:v1], sch.width[v0:v1], sch.ctrl[v0:v1], sch.ins[v0:v1],
                                        sch.nins[v0:v1], want, gv)
            else:
                K.backward_plan(psi, lam, c_mh, c_fm, c_dfm, sch.per, sch.kind, sch.f_start, sch.f_off, sch.width,
                                sch.m_off, grad_pass, want, inner, has_im, gv, corr)
        _pass_gradients(sch, fm_v, dfm_v, corr, grad_pass, want, gv)
        np.add.at(gtheta.T, sch.f_orig, gv.T)
        gtheta = _allreduce(comm, gtheta)
    gw, gx = factor_grads_to_params(bp, gtheta, B)
    gs = None
    if state is not None:
        gs = 2 * DistributedState(n, B, "state", lam, tuple(range(n)), comm).gather()
    return values, gw, gx, gs


def adjoint(program: Program, observables, cot: np.ndarray, weights, inputs, state, B: int, dtype,
            backward_program: Program | None = None, comm=None):
    """Adjoint VJP on the ranks: ``(values (B, m), grad_w (P,), grad_x (B, k) | None, grad_state | None)``,
    the same on every rank.  The state mode runs forward and backward on ``backward_program``
    (the backward sweep retraces the forward schedule, whose final layout it starts from)."""
    comm = communicator() if comm is None else comm
    bp = program if backward_program is None else backward_program
    cot = np.ascontiguousarray(cot, dtype=np.float64)
    if mode_for(program.n_qubits, B, dtype, comm) == "batch":
        counts, sl = _batch_slice(comm, B)
        mine = counts[comm.Get_rank()]
        n, m = program.n_qubits, cot.shape[1]
        if mine:
            values, gw, gx, gs = NB.adjoint(program, observables, cot[sl], weights, _rows(inputs, sl),
                                            _rows(state, sl), mine, dtype, backward_program=bp)
        else:
            values, gw = np.zeros((0, m)), np.zeros(program.n_weights)
            gx = np.zeros((0, program.n_inputs)) if program.n_inputs else None
            gs = np.zeros((0, 1 << n), dtype=dtype) if state is not None else None
        values = _allgather_rows(comm, values, counts)
        gw = _allreduce(comm, np.asarray(gw, dtype=np.float64))
        gx = None if gx is None else _allgather_rows(comm, np.asarray(gx, dtype=np.float64), counts)
        gs = None if gs is None else _allgather_rows(comm, np.ascontiguousarray(gs), counts)
        return values, gw, gx, gs
    return _adjoint_state(comm, bp, observables, cot, weights, inputs, state, B, dtype)


def memory_sweeps(program: Program, B: int, dtype, comm=None) -> float:
    """Sweeps over this rank's slice of one forward call (kernel-plan steps and exchanges), or the
    Numba engine's count in the batch mode."""
    comm = communicator() if comm is None else comm
    if not program.n_passes:
        return 0.0
    if mode_for(program.n_qubits, B, dtype, comm) == "batch":
        return NB.memory_sweeps(program, max(1, B // comm.Get_size()), dtype)
    g = global_qubits(comm, program.n_qubits)
    return float(schedule(program, g, comm.Get_rank(), B, np.dtype(dtype).itemsize, comm).sweeps)


# ============================================================================== the backend
class MPIBackend:
    """``"mpi"``: the state vector (or the batch) distributed over MPI ranks, behind the
    :class:`qsim.backends.Backend` protocol; its arrays are :class:`DistributedState`."""

    name = "mpi"
    device = "cpu"
    description = "MPI distributed state-vector backend"
    precisions = tuple(PRECISIONS)
    default_fusion = DEFAULT_FUSION

    def forward(self, circuit, program: Program, weights, inputs, state, batch: int, dtype) -> DistributedState:
        return forward(program, weights, inputs, state, batch, dtype)

    def memory_sweeps(self, program: Program, batch: int, dtype) -> float:
        return memory_sweeps(program, batch, dtype)

    def expvals(self, states: DistributedState, observables, n_qubits: int) -> np.ndarray:
        return expvals(states, observables, n_qubits)

    def adjoint(self, circuit, program: Program, backward_program: Program, observables, cotangents, weights, inputs,
                state, batch: int, dtype):
        return adjoint(program, observables, cotangents, weights, inputs, state, batch, dtype,
                       backward_program=backward_program)

    def probabilities(self, states: DistributedState) -> np.ndarray:
        return probabilities(states)

    def to_numpy(self, a) -> np.ndarray:
        return a.gather() if isinstance(a, DistributedState) else np.asarray(a)


#: The instance behind the protocol (``qsim.backends.mpi_backend.BACKEND``).
BACKEND = MPIBackend()

